/**
 * `npm run audit:verify [-- --dir <audit dir>]`: proves the local audit chain whole, or names
 * every broken record (the first one first). Exit code 0 when whole, 1 when broken, 2 on a usage error.
 */
import path from 'node:path';
import { verifyAuditLog } from '../adapters/local/audit-verify';

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const at = args.indexOf('--dir');
  const dataDir = process.env.AIRLOCK_DATA_DIR ?? '.airlock';
  const dir = at >= 0 ? args[at + 1] : path.join(dataDir, 'audit');
  if (!dir) {
    process.stderr.write('usage: npm run audit:verify [-- --dir <audit dir>]\n');
    return 2;
  }
  const result = await verifyAuditLog(path.resolve(dir));
  if (result.ok) {
    process.stdout.write(
      `OK: the audit chain is whole: ${result.records} records in ${result.files} files (${path.resolve(dir)}).\n`,
    );
    return 0;
  }
  const p = result.problem;
  const lines = [
    `BROKEN: ${p?.reason ?? 'unknown problem'}`,
    `  at ${p?.file}:${p?.line} (seq ${p?.seq ?? 'unknown'}); ${result.problems.length} problem(s) in ${result.records} records checked:`,
    ...result.problems.map(
      (q) => `  - ${q.kind} at ${q.file}:${q.line} (seq ${q.seq ?? 'unknown'}): ${q.reason}`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `audit:verify failed: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    process.exit(2);
  },
);
