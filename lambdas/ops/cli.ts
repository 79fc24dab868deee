/**
 * `npx airlock <command>`: incident response for an operator under stress. The same commands
 * work against local mode (`--local`: the running `npm start` and its data directory) and the
 * deployed stack (the default: the AWS SDK's credential chain and the stack's outputs).
 * Secrets are read from standard input only and never printed. Each command is a module of
 * `commands/`; what they share is `command.ts`.
 */
import { parseArgs } from 'node:util';
import {
  type CliIO,
  type Command,
  commandContext,
  OPTIONS,
  UsageError,
  type Values,
} from './command';
import { control } from './commands/control';
import { exportPack, verify } from './commands/evidence';
import { emulatorToken, rotate } from './commands/secrets';
import { status } from './commands/status';

export type { CliIO } from './command';

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

/** Every command, by the name typed on the command line. */
const COMMANDS: Readonly<Record<string, Command>> = {
  status,
  contain: control,
  release: control,
  'read-only': control,
  rotate,
  verify,
  export: exportPack,
  'emulator-token': emulatorToken,
};

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
    const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (!run) throw new UsageError(`unknown command "${command}"`);
    return await run(commandContext(command, rest, values, io));
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`${err.message}\n\n${USAGE}`);
      return 2;
    }
    io.err(`airlock ${command}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
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
