import path from 'node:path';
import {
  importCycles,
  importGraph,
  LIB_MAY_LOAD,
  reachable,
  sourceFiles,
} from '../helpers/import-graph';

const ROOT = path.resolve(__dirname, '../..');
const files = sourceFiles(ROOT);
const graph = importGraph(ROOT, files);

describe('the import graph', () => {
  it('reads the project: every source folder is present and imports resolve', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(graph.get('lambdas/local/main.ts')?.length).toBeGreaterThan(0);
  });

  it('finds a cycle when there is one (the check can fail)', () => {
    const g = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['d.ts']],
      ['e.ts', ['a.ts']],
    ]);
    expect(importCycles(g)).toEqual([['a.ts', 'b.ts', 'c.ts'], ['d.ts']]);
  });

  it('has no import cycles, type-only imports included', () => {
    expect(importCycles(graph)).toEqual([]);
  });

  it('the CDK app (lib/, bin/) loads no runtime adapter or handler code', () => {
    const outside = files
      .filter((f) => f.startsWith('lib/') || f.startsWith('bin/'))
      .flatMap((f) =>
        [...reachable(graph, f)]
          .filter((t) => !LIB_MAY_LOAD.some((allowed) => t.startsWith(allowed)))
          .map((t) => `${f} -> ${t}`),
      );
    expect(outside).toEqual([]);
  });
});
