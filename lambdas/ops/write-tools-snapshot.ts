/**
 * Rewrites tools.snapshot.json from the catalog: run it (`node --import tsx
 * lambdas/ops/write-tools-snapshot.ts`) after changing a tool on purpose, then review and commit
 * the diff. The snapshot test fails until then, so a changed tool definition is always a
 * reviewed change and its new `catalog_hash` is known to the clients that pin it.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { catalogHash, openAiTools } from '../core/catalog';

/** Where the committed snapshot lives, next to the catalog. */
export const TOOLS_SNAPSHOT_PATH = join(__dirname, '..', 'core', 'tools.snapshot.json');

/** The snapshot's content: the hash and the tools exactly as `GET /v1/tools` answers them. */
export function toolsSnapshot() {
  return { catalog_hash: catalogHash(), tools: openAiTools() };
}

if (require.main === module) {
  writeFileSync(TOOLS_SNAPSHOT_PATH, `${JSON.stringify(toolsSnapshot(), null, 2)}\n`);
  // Formatted as `npm run lint` wants it, so a regenerated snapshot never fails the lint.
  execFileSync(
    process.execPath,
    [require.resolve('@biomejs/biome/bin/biome'), 'format', '--write', TOOLS_SNAPSHOT_PATH],
    { stdio: 'ignore' },
  );
  process.stdout.write(`wrote ${TOOLS_SNAPSHOT_PATH} (catalog_hash ${catalogHash()})\n`);
}
