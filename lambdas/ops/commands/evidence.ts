/**
 * `airlock verify` (the integrity of the audit log and what the agent did in a window, or an
 * evidence pack checked offline) and `airlock export` (an evidence pack of a window).
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  buildReport,
  reportExitCode,
  reportText,
  type VerificationReport,
} from '../../core/evidence/report';
import { type Command, type CommandContext, evidenceOf, UsageError, windowOf } from '../command';
import { verifyPack, writePack } from '../evidence-pack';
import type { Evidence } from '../results';
import type { TimeWindow } from '../time-window';

export const verify: Command = async (ctx) => {
  if (ctx.values.pack) return verifyPackDir(ctx, ctx.values.pack);
  const window = windowOf(ctx);
  const t = ctx.target();
  const evidence = await evidenceOf(ctx, t, window);
  const report = windowReport(evidence, window, new Date(ctx.io.now()).toISOString());
  ctx.print(reportText(report), report);
  return reportExitCode(report);
};

export const exportPack: Command = async (ctx) => {
  const { values, io, print } = ctx;
  if (!values.out) throw new UsageError('export needs --out DIR');
  if (!values.until) throw new UsageError('export needs --until T (use --until now)');
  const window = windowOf(ctx);
  const t = ctx.target();
  const evidence = await evidenceOf(ctx, t, window);
  const createdAt = new Date(io.now()).toISOString();
  const report = windowReport(evidence, window, createdAt);
  const pack = await writePack(path.resolve(values.out), {
    source: 'local' in t ? 'local' : 'aws',
    since: window.since,
    until: window.until,
    records: evidence.records,
    context: evidence.context,
    material: evidence.material,
    report,
    createdAt,
  });
  const text = [
    `Evidence pack written to ${pack.dir}`,
    ...pack.files.map((f) => `  ${f.sha256}  ${f.name} (${f.bytes} bytes)`),
    `manifest.json SHA-256: ${pack.manifestSha256}`,
    '  (send this hash to the recipient separately; they check the pack with',
    `   npx airlock verify --pack <dir>, or by hand as README.txt in the pack says)`,
    '',
    `Integrity: ${report.integrity.ok ? 'OK' : 'BROKEN'}; anomalies: ${report.anomalies.length}.`,
  ].join('\n');
  print(text, {
    ...pack,
    integrity_ok: report.integrity.ok,
    anomalies: report.anomalies.length,
  });
  // The pack is written either way (it is the evidence); the exit code says what it shows.
  return reportExitCode(report);
};

/** What the window's records show, with the records before it as context. */
function windowReport(
  evidence: Evidence,
  window: TimeWindow,
  generatedAt: string,
): VerificationReport {
  return buildReport(
    evidence.records.map((r) => r.record),
    evidence.integrity,
    { since: window.since, until: window.until, generatedAt, context: evidence.context },
  );
}

/** `verify --pack DIR [--expect-sha256 HASH]`: a pack checked offline, against its manifest. */
async function verifyPackDir({ values, print }: CommandContext, packDir: string): Promise<number> {
  const dir = path.resolve(packDir);
  const checked = await verifyPack(dir);
  // Anyone can rewrite a whole pack consistently; only the manifest's hash, received by
  // another channel, ties it to what its sender exported.
  const manifestSha256 = await sha256File(path.join(dir, 'manifest.json'));
  const expected = values['expect-sha256']?.trim().toLowerCase();
  const hashProblem =
    expected === undefined || expected === manifestSha256
      ? null
      : `manifest.json has SHA-256 ${manifestSha256}, not the ${expected} its sender gave: this is not the pack that was exported.`;
  const ok = checked.ok && hashProblem === null;
  const problems = [...(hashProblem ? [hashProblem] : []), ...checked.problems];
  const hashNote =
    expected === undefined
      ? ' (compare it with the hash the sender gave you, or pass --expect-sha256)'
      : hashProblem
        ? ''
        : ' (matches the expected hash)';
  const text = [
    ok
      ? `PACK OK: every file matches the manifest, the records verify, and the report matches them.`
      : `PACK BROKEN:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    `manifest.json SHA-256: ${manifestSha256}${hashNote}`,
    '',
    reportText(checked.report),
  ].join('\n');
  print(text, { ...checked, ok, problems, manifest_sha256: manifestSha256 });
  if (!ok) return 1;
  return reportExitCode(checked.report);
}

async function sha256File(file: string): Promise<string> {
  return createHash('sha256')
    .update(await fs.readFile(file))
    .digest('hex');
}
