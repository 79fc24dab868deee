/**
 * `npm run audit:verify [-- --dir <audit dir>] [--allow-stale-head]`: proves the local audit
 * chain whole, HEAD included, or names every broken record (the first one first). Exit code 0
 * when whole, 1 when broken, 2 on a usage error. `--allow-stale-head` lets a missing HEAD, or one
 * behind the last record, through with a WARNING on stderr; a cut (HEAD ahead) is never let through.
 */
import path from 'node:path';
import { verifyAuditLog } from '../adapters/local/audit-verify';

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const at = args.indexOf('--dir');
  const allowStaleHead = args.includes('--allow-stale-head');
  const known = args.filter(
    (a, i) => a === '--allow-stale-head' || a === '--dir' || (at >= 0 && i === at + 1),
  );
  const dataDir = process.env.AIRLOCK_DATA_DIR ?? '.airlock';
  const dir = at >= 0 ? args[at + 1] : path.join(dataDir, 'audit');
  if (!dir || known.length !== args.length) {
    process.stderr.write(
      'usage: npm run audit:verify [-- --dir <audit dir>] [--allow-stale-head]\n',
    );
    return 2;
  }
  const result = await verifyAuditLog(path.resolve(dir), { allowStaleHead });
  for (const warning of result.warnings ?? []) process.stderr.write(`${warning}\n`);
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
