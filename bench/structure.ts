/**
 * `npm run bench:structure [-- --root DIR]`: the shape of the non-test source, for a
 * before/after comparison of a restructuring. Prints lines per folder, the ten largest source
 * files and functions, the import graph's cycles, `lib/`'s imports of runtime code, and a copy-paste report
 * (jscpd, fetched by `npx` at run time: it is not a dependency). Figures, not a test.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import {
  importCycles,
  importGraph,
  LIB_MAY_LOAD,
  reachable,
  SOURCE_DIRS,
  sourceFiles,
} from '../test/helpers/import-graph';

const JSCPD = 'jscpd@4.0.5';

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const root = path.resolve(argValue('--root') ?? path.resolve(__dirname, '..'));
const files = sourceFiles(root);
const lines = new Map(
  files.map((f) => [f, readFileSync(path.join(root, f), 'utf8').split('\n').length]),
);

const folderOf = (f: string) => {
  const parts = f.split('/');
  return parts[0] === 'lambdas' && parts.length > 2
    ? `${parts[0]}/${parts[1]}`
    : (parts[0] as string);
};
const perFolder = new Map<string, { files: number; lines: number }>();
for (const [f, n] of lines) {
  const entry = perFolder.get(folderOf(f)) ?? { files: 0, lines: 0 };
  entry.files += 1;
  entry.lines += n;
  perFolder.set(folderOf(f), entry);
}

console.log(`source: ${root} (${SOURCE_DIRS.join(', ')}; TypeScript, tests excluded)`);
console.log('\nlines per folder');
for (const [folder, e] of [...perFolder].sort((a, b) => a[0].localeCompare(b[0]))) {
  console.log(
    `  ${folder.padEnd(22)} ${String(e.files).padStart(4)} files ${String(e.lines).padStart(7)} lines`,
  );
}
const total = [...lines.values()].reduce((a, b) => a + b, 0);
console.log(
  `  ${'total'.padEnd(22)} ${String(files.length).padStart(4)} files ${String(total).padStart(7)} lines`,
);

console.log('\nten largest files');
for (const [f, n] of [...lines].sort((a, b) => b[1] - a[1]).slice(0, 10)) {
  console.log(`  ${String(n).padStart(6)}  ${f}`);
}

const graph = importGraph(root, files);
const cycles = importCycles(graph);
console.log(`\nimport cycles: ${cycles.length}`);
for (const c of cycles) console.log(`  ${c.join(' <-> ')}`);

const runtimeReach = [...graph.keys()]
  .filter((f) => f.startsWith('lib/') || f.startsWith('bin/'))
  .flatMap((f) =>
    [...reachable(graph, f)]
      .filter((t) => !LIB_MAY_LOAD.some((p) => t.startsWith(p)))
      .map((t) => `${f} -> ${t}`),
  );
console.log(
  `\nruntime code that lib/ and bin/ load (outside ${LIB_MAY_LOAD.join(', ')}): ${runtimeReach.length}`,
);
for (const l of runtimeReach) console.log(`  ${l}`);

/** A function's name as a reader finds it: its own, its variable's, or its property's. */
function functionName(node: ts.Node, text: ts.SourceFile): string {
  const named = node as ts.Node & { name?: ts.Node };
  if (named.name) return named.name.getText(text);
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const parent = node.parent;
  if (parent && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent))) {
    return parent.name.getText(text);
  }
  if (parent && ts.isCallExpression(parent))
    return `(argument of ${parent.expression.getText(text).slice(0, 30)})`;
  return '(anonymous)';
}

/** Every function, method and arrow function of `files`, with its line count (nested ones too). */
function functionSizes(
  inFiles: readonly string[],
): { name: string; where: string; lines: number }[] {
  const out: { name: string; where: string; lines: number }[] = [];
  for (const f of inFiles) {
    const text = ts.createSourceFile(
      f,
      readFileSync(path.join(root, f), 'utf8'),
      ts.ScriptTarget.Latest,
      true,
    );
    const visit = (node: ts.Node) => {
      if (ts.isFunctionLike(node) && 'body' in node && node.body) {
        const first = text.getLineAndCharacterOfPosition(node.getStart(text)).line;
        const last = text.getLineAndCharacterOfPosition(node.getEnd()).line;
        out.push({
          name: functionName(node, text),
          where: `${f}:${first + 1}`,
          lines: last - first + 1,
        });
      }
      ts.forEachChild(node, visit);
    };
    visit(text);
  }
  return out;
}

console.log('\nten largest functions (lambdas/, lib/)');
const functions = functionSizes(
  files.filter((f) => f.startsWith('lambdas/') || f.startsWith('lib/')),
);
for (const fn of functions.sort((a, b) => b.lines - a.lines).slice(0, 10)) {
  console.log(`  ${String(fn.lines).padStart(6)}  ${fn.name}  ${fn.where}`);
}

console.log(
  `\ncopy-paste report (npx ${JSCPD}, non-test TypeScript, at least 6 lines / 50 tokens)`,
);
const cpd = spawnSync(
  'npx',
  [
    '--yes',
    JSCPD,
    '--silent',
    '--reporters',
    'console',
    '--format',
    'typescript',
    '--min-lines',
    '6',
    '--min-tokens',
    '50',
    ...SOURCE_DIRS,
  ],
  { cwd: root, encoding: 'utf8', timeout: 300_000 },
);
const report = `${cpd.stdout ?? ''}${cpd.stderr ?? ''}`.trim();
console.log(
  report === '' ? `  jscpd did not run (${cpd.error?.message ?? `exit ${cpd.status}`})` : report,
);
