/**
 * `npx airlock <command>`: incident response for an operator under stress. The same commands
 * work against local mode (`--local`: the running `npm start` and its data directory) and the
 * deployed stack (the default: the AWS SDK's credential chain and the stack's outputs).
 * Secrets are read from standard input only and never printed.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ControlFile } from '../adapters/local/control-file';
import { buildReport, reportExitCode, reportText } from '../core/evidence/report';
import type { ControlCommand } from '../core/operator';
import type { AwsOps } from './aws-commands';
import { verifyPack, writePack } from './evidence-pack';
import { type Evidence, type LocalOps, localOps } from './local-commands';
import { type RotationResult, rotationText } from './rotate';
import { readSecretLine } from './secret-input';
import { parseTime, parseWindow, type TimeWindow } from './time-window';

export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  /** Whether standard output is a terminal (a secret is never written to one). */
  stdoutIsTTY: boolean;
  env: NodeJS.ProcessEnv;
  now(): number;
  /** Builds the AWS side (tests pass one over mocked clients). */
  aws?: (options: { stack: string; region?: string }) => AwsOps;
}

export const USAGE = `usage: airlock [--local | --stack NAME] <command> [options]

  status                               kill switch, read-only mode, alarms, pending approvals, last hour
  contain  [--reason TEXT]             kill switch on: every /v1 call answers 401; pending writes cancelled
  release  [--reason TEXT]             kill switch off
  read-only on|off [--reason TEXT]     writes answer 403 read_only_mode; reads go on
  rotate   --which read|write|slack-bot|slack-signing
                                       new value from standard input: checked, stored, confirmed
  verify   --since T [--until T]       integrity of the audit log and what the agent did
  verify   --pack DIR [--expect-sha256 HASH]
                                       check an evidence pack offline, against the manifest
                                       hash its sender gave you by another channel
  export   --since T --until T --out DIR
                                       evidence pack: records, manifest, verification report
  emulator-token --which read|write    local demo only: a new emulator token (to pipe into rotate)

  T is ISO 8601 (2026-11-29T03:00Z), "now", or a duration ago (90m, 2h, 7d).
  Local verify and export fail when the log's HEAD is missing or behind its last record; add
  --allow-stale-head to check the chain anyway, with a WARNING (a cut-off end is never waived).
  verify and export on AWS read --lookback D (default 24h) before the window for the approvals
  of its writes; locally the whole log is read.
  Local mode:  --local [--url http://127.0.0.1:8787] [--data-dir .airlock]
  AWS:         [--stack CrmAirlock-dev] [--region eu-west-1] [--hubspot-url https://api.hubapi.com]
  Add --json for machine-readable output.
`;

const OPTIONS = {
  local: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  url: { type: 'string' },
  'data-dir': { type: 'string' },
  stack: { type: 'string' },
  region: { type: 'string' },
  'hubspot-url': { type: 'string' },
  reason: { type: 'string' },
  which: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  out: { type: 'string' },
  pack: { type: 'string' },
  'expect-sha256': { type: 'string' },
  lookback: { type: 'string' },
  'allow-stale-head': { type: 'boolean' },
} as const;

type Values = ReturnType<
  typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>
>['values'];

class UsageError extends Error {}

/** Runs one command; resolves to the process exit code (0 ok, 1 failed, 2 usage, 3 anomalies). */
export async function runCli(argv: string[], io: CliIO): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true }));
  } catch (err) {
    io.err(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    io.out(USAGE);
    return values.help ? 0 : 2;
  }
  try {
    return await dispatch(command, rest, values, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`${err.message}\n\n${USAGE}`);
      return 2;
    }
    io.err(`airlock ${command}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

function target(values: Values, io: CliIO): { local: LocalOps } | { aws: AwsOps } {
  if (values.local) {
    const dataDir = path.resolve(values['data-dir'] ?? io.env.AIRLOCK_DATA_DIR ?? '.airlock');
    const url = values.url ?? `http://127.0.0.1:${io.env.PORT ?? '8787'}`;
    return { local: localOps({ url, dataDir, env: io.env }) };
  }
  if (values['allow-stale-head']) {
    throw new UsageError('--allow-stale-head applies to the local audit log only (--local).');
  }
  const stack = values.stack ?? io.env.AIRLOCK_STACK ?? 'CrmAirlock-dev';
  // Loaded only for AWS: the SDK clients cost the local commands half a second at start.
  const make = io.aws ?? (require('./aws-commands') as typeof import('./aws-commands')).awsOps;
  return { aws: make({ stack, region: values.region }) };
}

async function dispatch(
  command: string,
  rest: string[],
  values: Values,
  io: CliIO,
): Promise<number> {
  const json = values.json === true;
  const print = (human: string, data: unknown) =>
    io.out(
      json ? `${JSON.stringify(data, null, 2)}\n` : human.endsWith('\n') ? human : `${human}\n`,
    );

  switch (command) {
    case 'status': {
      const t = target(values, io);
      const status = 'local' in t ? await t.local.status() : await t.aws.status(io.now());
      print(statusText(status), status);
      return 0;
    }
    case 'contain':
    case 'release':
    case 'read-only': {
      const cmd = controlCommand(command, rest);
      const t = target(values, io);
      const reason = values.reason ?? null;
      if ('local' in t) {
        const result = await t.local.control(cmd, reason);
        if (result.kind === 'offline') {
          // The gateway is not running: the switch is set in its data directory, so it starts
          // in this state. No audit record: the log is the gateway's to write.
          const control = new ControlFile(path.join(t.local.dataDir, 'control.json'));
          await control.set({
            ...(cmd === 'contain' || cmd === 'release'
              ? { contained: cmd === 'contain' }
              : { readOnly: cmd === 'read_only_on' }),
            changedAt: new Date(io.now()).toISOString(),
            changedBy: 'airlock-cli (gateway not running)',
            reason,
          });
          io.err(
            `The gateway at ${t.local.url} is not answering; ${cmd} is set in ${t.local.dataDir}/control.json and holds when it starts. No audit record was written (the gateway writes its log).\n`,
          );
          print(`${cmd}: set while the gateway is stopped.`, { command: cmd, offline: true });
          return 0;
        }
        print(controlText(result.body, 'local'), result.body);
        return 0;
      }
      const result = await t.aws.control(cmd, reason);
      print(controlText(result, 'aws'), result);
      return 0;
    }
    case 'rotate': {
      const which = values.which;
      const kinds = ['read', 'write', 'slack-bot', 'slack-signing'] as const;
      if (!kinds.includes(which as (typeof kinds)[number])) {
        throw new UsageError('rotate needs --which read|write|slack-bot|slack-signing');
      }
      const t = target(values, io);
      if ('local' in t && (which === 'slack-bot' || which === 'slack-signing')) {
        throw new UsageError('Local mode has no Slack: rotate read or write.');
      }
      const token = (
        await readSecretLine(
          io.stdin,
          (text) => io.err(text),
          `New ${which} value (input hidden): `,
        )
      ).trim();
      let result: RotationResult;
      if ('local' in t) {
        result = await t.local.rotate(which as 'read' | 'write', token);
      } else {
        result = await t.aws.rotate(
          which as (typeof kinds)[number],
          token,
          values['hubspot-url'] ?? 'https://api.hubapi.com',
        );
      }
      print(rotationText(result), result);
      return result.ok ? 0 : 1;
    }
    case 'verify': {
      if (values.pack) {
        const dir = path.resolve(values.pack);
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
      const window = windowOf(values, io);
      const t = target(values, io);
      const evidence =
        'local' in t
          ? await localEvidence(t.local, window, values, io)
          : await t.aws.evidence(window, io.now(), lookbackOf(values, io));
      const report = buildReport(
        evidence.records.map((r) => r.record),
        evidence.integrity,
        {
          since: window.since,
          until: window.until,
          generatedAt: new Date(io.now()).toISOString(),
          context: evidence.context,
        },
      );
      print(reportText(report), report);
      return reportExitCode(report);
    }
    case 'export': {
      if (!values.out) throw new UsageError('export needs --out DIR');
      if (!values.until) throw new UsageError('export needs --until T (use --until now)');
      const window = windowOf(values, io);
      const t = target(values, io);
      const evidence =
        'local' in t
          ? await localEvidence(t.local, window, values, io)
          : await t.aws.evidence(window, io.now(), lookbackOf(values, io));
      const createdAt = new Date(io.now()).toISOString();
      const report = buildReport(
        evidence.records.map((r) => r.record),
        evidence.integrity,
        {
          since: window.since,
          until: window.until,
          generatedAt: createdAt,
          context: evidence.context,
        },
      );
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
    }
    case 'emulator-token': {
      const which = values.which;
      if (which !== 'read' && which !== 'write') {
        throw new UsageError('emulator-token needs --which read|write');
      }
      const t = target(values, io);
      if (!('local' in t))
        throw new UsageError('emulator-token works in local mode only (--local).');
      if (io.stdoutIsTTY) {
        throw new Error(
          'refusing to print a token to the terminal; pipe it: npx airlock --local emulator-token --which read | npx airlock --local rotate --which read',
        );
      }
      io.out(`${await t.local.emulatorToken(which)}\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/** The local log's evidence; what `--allow-stale-head` let through is said on stderr, loudly. */
async function localEvidence(
  local: LocalOps,
  window: TimeWindow,
  values: Values,
  io: CliIO,
): Promise<Evidence> {
  const evidence = await local.evidence(window, {
    allowStaleHead: values['allow-stale-head'] === true,
  });
  for (const warning of evidence.warnings ?? []) io.err(`${warning}\n`);
  return evidence;
}

function lookbackOf(values: Values, io: CliIO): number | undefined {
  if (values.lookback === undefined) return undefined;
  try {
    return io.now() - parseTime(values.lookback, io.now());
  } catch (err) {
    throw new UsageError(`--lookback: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function sha256File(file: string): Promise<string> {
  return createHash('sha256')
    .update(await fs.readFile(file))
    .digest('hex');
}

function windowOf(values: Values, io: CliIO) {
  try {
    return parseWindow(values.since, values.until, io.now());
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

function controlCommand(command: string, rest: string[]): ControlCommand {
  if (command === 'contain') return 'contain';
  if (command === 'release') return 'release';
  if (rest[0] === 'on') return 'read_only_on';
  if (rest[0] === 'off') return 'read_only_off';
  throw new UsageError('read-only needs on or off');
}

interface ControlView {
  command: ControlCommand;
  changed: boolean;
  cancelled: string[];
  /** Set when pending writes could not all be listed or cancelled. */
  incomplete?: true;
  control: { contained: boolean; readOnly: boolean; changedAt?: string; changedBy?: string };
}

function controlText(r: ControlView, where: 'local' | 'aws'): string {
  const reach =
    where === 'local'
      ? 'at once'
      : 'within 10 seconds (each function re-reads the switch at least every 5 s)';
  const lines: string[] = [];
  if (r.command === 'contain') {
    lines.push(
      r.changed
        ? `CONTAINED. Every /v1 call answers 401 gateway_contained ${reach}.`
        : 'Already contained; nothing changed.',
    );
    lines.push(
      r.cancelled.length > 0
        ? `Cancelled ${r.cancelled.length} pending write(s): ${r.cancelled.join(', ')}`
        : 'No pending writes to cancel.',
    );
    if (r.incomplete) {
      lines.push(
        'WARNING: some pending writes could not be listed or cancelled (see the log); the switch is on either way. Run contain again to cancel them.',
      );
    }
  } else if (r.command === 'release') {
    lines.push(
      r.control.contained
        ? // On AWS a deploy-time override (-c contained=true) holds whatever the switch says.
          'The switch is released, but the gateway stays CONTAINED: the deploy-time override (-c contained=true) holds until the stack is deployed without it.'
        : r.changed
          ? `RELEASED. /v1 calls are served again ${reach}.`
          : 'Was not contained; nothing changed.',
    );
  } else {
    const on = r.command === 'read_only_on';
    lines.push(
      r.changed
        ? on
          ? `READ-ONLY. Writes answer 403 read_only_mode ${reach}; reads go on.`
          : `Read-only mode OFF. Writes wait for approval again ${reach}.`
        : `Read-only mode was already ${on ? 'on' : 'off'}; nothing changed.`,
    );
  }
  lines.push(
    `State: kill switch ${r.control.contained ? 'ON' : 'off'}, read-only ${r.control.readOnly ? 'ON' : 'off'}${
      r.control.changedAt
        ? ` (changed ${r.control.changedAt} by ${r.control.changedBy ?? 'unknown'})`
        : ''
    }. Audited.`,
  );
  return lines.join('\n');
}

/** What `status` shows, local or AWS. */
export interface StatusView {
  where: string;
  control: {
    contained: boolean;
    readOnly: boolean;
    changedAt?: string;
    changedBy?: string;
    reason?: string | null;
  };
  pending: { count: number; oldest_created_at: string | null };
  alarms: { id: string; state: string; detail?: string }[];
  last_hour: {
    requests: number;
    rejections: number;
    records_returned: number;
    rejections_by_reason: Record<string, number>;
    top_readers?: { user_id: string; records: number }[];
  };
}

function statusText(s: StatusView): string {
  const on = (b: boolean) => (b ? 'ON' : 'off');
  const firing = s.alarms.filter((a) => a.state === 'ALARM');
  const reasons = Object.entries(s.last_hour.rejections_by_reason)
    .sort((a, b) => b[1] - a[1])
    .map(([r, n]) => `${r} ${n}`)
    .join(', ');
  return [
    `CRM Airlock status (${s.where})`,
    `  Kill switch        ${on(s.control.contained)}`,
    `  Read-only mode     ${on(s.control.readOnly)}`,
    s.control.changedAt
      ? `  Last change        ${s.control.changedAt} by ${s.control.changedBy ?? 'unknown'}${s.control.reason ? ` (${s.control.reason})` : ''}`
      : '  Last change        never changed',
    `  Pending approvals  ${s.pending.count}${s.pending.oldest_created_at ? ` (oldest since ${s.pending.oldest_created_at})` : ''}`,
    `  Alarms             ${firing.length === 0 ? `all ${s.alarms.length} OK` : `${firing.length} in ALARM: ${firing.map((a) => a.id).join(', ')}`}`,
    ...s.alarms
      .filter((a) => a.state !== 'OK')
      .map(
        (a) =>
          `                     ${a.state.padEnd(17)} ${a.id}${a.detail ? `: ${a.detail}` : ''}`,
      ),
    `  Last hour          ${s.last_hour.requests} requests, ${s.last_hour.rejections} rejected${reasons ? ` (${reasons})` : ''}, ${s.last_hour.records_returned} CRM records returned`,
    ...(s.last_hour.top_readers && s.last_hour.top_readers.length > 0
      ? [
          `  Top readers        ${s.last_hour.top_readers.map((r) => `${r.user_id} (${r.records})`).join(', ')}`,
        ]
      : []),
  ].join('\n');
}

/** The process entry (`bin/airlock.cjs`): real stdin/stdout, exit code on the process. */
export function main(): void {
  runCli(process.argv.slice(2), {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    // Touched only when a command reads a secret, so other commands never hold stdin open.
    get stdin() {
      return process.stdin;
    },
    stdoutIsTTY: process.stdout.isTTY === true,
    env: process.env,
    now: Date.now,
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

if (require.main === module) main();
