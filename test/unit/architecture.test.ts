import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * docs/ARCHITECTURE.md is where the rules of the code are written down, each with the one file
 * that implements it, and where source comments point (`docs/ARCHITECTURE.md, "<section>"`).
 * These checks keep it honest: every path it names exists, every section a comment cites is
 * one of its headings, and no comment cites the first design document by its section numbers,
 * for it is not in the repository.
 */

const ROOT = path.resolve(__dirname, '../..');
const DOC_PATH = 'docs/ARCHITECTURE.md';
const DOC = readFileSync(path.join(ROOT, DOC_PATH), 'utf8');

/** The sections, in order (the issue that moved the design into the repository names them). */
const SECTIONS = [
  'Data flow',
  'Ports and adapters',
  'The action catalog',
  'The HTTP contract',
  'The approval lifecycle',
  'The audit record',
  'Configuration',
  'Security invariants',
  'Evidence',
  'Layout',
];

/** Where the project's files live: a backticked name starting here is a repository path. */
const PATH_ROOTS = /^(?:lambdas|lib|bin|test|bench|docs|examples|\.ci)\//;
const TOP_LEVEL_FILES = new Set([
  'README.md',
  'package.json',
  'cdk.json',
  'tsconfig.json',
  'biome.json',
  'jest.config.js',
]);

/** Every backticked repository path of a Markdown text (directories end with `/`). */
function backtickedPaths(markdown: string): string[] {
  const found = [...markdown.matchAll(/`([^`\s]+)`/g)].map((m) => m[1] ?? '');
  return [...new Set(found.filter((p) => PATH_ROOTS.test(p) || TOP_LEVEL_FILES.has(p)))].sort();
}

/** The `## ` headings of a Markdown text, in order. */
function headings(markdown: string): string[] {
  return [...markdown.matchAll(/^## (.+?)\s*$/gm)].map((m) => m[1] ?? '');
}

/**
 * The sections cited in a source text as `docs/ARCHITECTURE.md, "X"` or
 * `docs/ARCHITECTURE.md, section "X"`, also when a comment wraps between the two.
 */
function citedSections(source: string): string[] {
  const between = String.raw`(?:\s|\*|\/\/|#)*`;
  const citation = new RegExp(
    String.raw`docs\/ARCHITECTURE\.md,${between}(?:section${between})?"([^"]+)"`,
    'g',
  );
  return [...source.matchAll(citation)].map((m) => m[1] ?? '');
}

/** A citation of the first design document, which is not in the repository. */
const DESIGN_CITATION = /DESIGN \u00a7/;

/** Every text file of the source folders and the documentation, relative to the root. */
function textFiles(): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const abs = path.join(ROOT, rel);
    if (!existsSync(abs)) return;
    for (const name of readdirSync(abs)) {
      if (name === 'node_modules' || name === 'cdk.out') continue;
      const child = `${rel}/${name}`;
      if (statSync(path.join(ROOT, child)).isDirectory()) walk(child);
      else if (/\.(?:ts|tsx|js|cjs|mjs|html|css|md)$/.test(name)) out.push(child);
    }
  };
  for (const dir of ['lambdas', 'lib', 'bin', 'bench', 'test', 'docs', 'examples']) walk(dir);
  out.push('README.md');
  return out.sort();
}

const FILES = textFiles();
const read = (rel: string) => readFileSync(path.join(ROOT, rel), 'utf8');

describe('the checks themselves (they can fail)', () => {
  it('finds backticked repository paths and nothing else', () => {
    expect(
      backtickedPaths(
        'see `lambdas/core/nope.ts`, `lib/`, `README.md`, `GET /v1/tools`, `audit/`, `x.ts`',
      ),
    ).toEqual(['README.md', 'lambdas/core/nope.ts', 'lib/']);
  });

  it('finds a cited section however the comment wraps', () => {
    const source = [
      '// (docs/ARCHITECTURE.md,',
      '// section "Security invariants").',
      ' * docs/ARCHITECTURE.md, "The audit record". docs/ARCHITECTURE.md, "No such section"',
    ].join('\n');
    expect(citedSections(source)).toEqual([
      'Security invariants',
      'The audit record',
      'No such section',
    ]);
  });

  it('recognises a citation of the design document', () => {
    expect(DESIGN_CITATION.test('see (DESIGN \u00a75.7)')).toBe(true);
    expect(DESIGN_CITATION.test('see docs/ARCHITECTURE.md, "Evidence"')).toBe(false);
  });
});

describe('docs/ARCHITECTURE.md', () => {
  it('has exactly its sections, in order', () => {
    expect(headings(DOC)).toEqual(SECTIONS);
  });

  it('names only paths that exist', () => {
    const paths = backtickedPaths(DOC);
    expect(paths.length).toBeGreaterThan(50);
    expect(paths.filter((p) => !existsSync(path.join(ROOT, p)))).toEqual([]);
  });

  it('names, in each section, the files that implement its rules', () => {
    const bodies = DOC.split(/^## .+$/m).slice(1);
    const withoutFiles = SECTIONS.filter((_, i) => backtickedPaths(bodies[i] ?? '').length === 0);
    expect(withoutFiles).toEqual([]);
  });
});

describe('comments that point to the architecture', () => {
  it('cite only sections it has', () => {
    // The document and this file speak of the citation form itself; every other file cites.
    const citing = FILES.filter((f) => f !== DOC_PATH && f !== 'test/unit/architecture.test.ts');
    expect(citing.filter((f) => citedSections(read(f)).length > 0).length).toBeGreaterThan(10);
    const wrong = citing.flatMap((f) =>
      citedSections(read(f))
        .filter((s) => !SECTIONS.includes(s))
        .map((s) => `${f}: "${s}"`),
    );
    expect(wrong).toEqual([]);
  });

  it('are the only pointers to the design: no file cites the first design by section number', () => {
    // Fails until every old citation is moved to its section here (the map of each one to its
    // section was written with this file).
    expect(FILES.filter((f) => DESIGN_CITATION.test(read(f)))).toEqual([]);
  });
});
