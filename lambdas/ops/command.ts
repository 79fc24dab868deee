/**
 * What every CLI command is given (the parsed options, the process's I/O, a printer and the
 * target it acts on) and the option parsing they share. `cli.ts` dispatches a command name to
 * its module in `commands/`; the local and AWS sides are `local-commands.ts` and
 * `aws-commands.ts`.
 */
import path from 'node:path';
import type { parseArgs } from 'node:util';
import type { AwsOps } from './aws-commands';
import { type LocalOps, localOps } from './local-commands';
import type { Evidence } from './results';
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

export const OPTIONS = {
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

export type Values = ReturnType<
  typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>
>['values'];

/** A mistake in the command line: answered with the usage text and exit code 2. */
export class UsageError extends Error {}

/** The running local gateway (`--local`) or the deployed stack. */
export type Target = { local: LocalOps } | { aws: AwsOps };

export interface CommandContext {
  /** The command's name as typed (`contain`, `read-only`, ...). */
  command: string;
  /** The words after it (`on` in `read-only on`). */
  rest: string[];
  values: Values;
  io: CliIO;
  /** Writes the human text, or the data as JSON with `--json`. */
  print(human: string, data: unknown): void;
  /** Builds the target the options name; called by a command once its own options are checked. */
  target(): Target;
}

/** One command: resolves to the process exit code (0 ok, 1 failed, 3 anomalies). */
export type Command = (ctx: CommandContext) => Promise<number>;

export function commandContext(
  command: string,
  rest: string[],
  values: Values,
  io: CliIO,
): CommandContext {
  const json = values.json === true;
  return {
    command,
    rest,
    values,
    io,
    print: (human, data) =>
      io.out(
        json ? `${JSON.stringify(data, null, 2)}\n` : human.endsWith('\n') ? human : `${human}\n`,
      ),
    target: () => target(values, io),
  };
}

function target(values: Values, io: CliIO): Target {
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

/** `--since` and `--until` as a window. */
export function windowOf({ values, io }: CommandContext): TimeWindow {
  try {
    return parseWindow(values.since, values.until, io.now());
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/**
 * The window's evidence from either side. Locally, what `--allow-stale-head` let through is
 * said on stderr, loudly; on AWS, `--lookback` widens what is read before the window.
 */
export async function evidenceOf(
  ctx: CommandContext,
  t: Target,
  window: TimeWindow,
): Promise<Evidence> {
  const { values, io } = ctx;
  if ('aws' in t) return t.aws.evidence(window, io.now(), lookbackOf(ctx));
  const evidence = await t.local.evidence(window, {
    allowStaleHead: values['allow-stale-head'] === true,
  });
  for (const warning of evidence.warnings ?? []) io.err(`${warning}\n`);
  return evidence;
}

function lookbackOf({ values, io }: CommandContext): number | undefined {
  if (values.lookback === undefined) return undefined;
  try {
    return io.now() - parseTime(values.lookback, io.now());
  } catch (err) {
    throw new UsageError(`--lookback: ${err instanceof Error ? err.message : String(err)}`);
  }
}
