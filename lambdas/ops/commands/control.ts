/**
 * `airlock contain | release | read-only on|off`: the switches, through the gateway (which
 * audits the change); locally, with the gateway stopped, in its data directory.
 */
import path from 'node:path';
import { ControlFile } from '../../adapters/local/control-file';
import type { ControlCommand } from '../../core/operator';
import { type Command, type CommandContext, UsageError } from '../command';

export const control: Command = async (ctx) => {
  const cmd = controlCommand(ctx.command, ctx.rest);
  const t = ctx.target();
  const reason = ctx.values.reason ?? null;
  if ('aws' in t) {
    const result = await t.aws.control(cmd, reason);
    ctx.print(controlText(result, 'aws'), result);
    return 0;
  }
  const result = await t.local.control(cmd, reason);
  if (result.kind === 'offline') return controlOffline(ctx, cmd, reason, t.local);
  ctx.print(controlText(result.body, 'local'), result.body);
  return 0;
};

/**
 * The gateway is not running: the switch is set in its data directory, so it starts in this
 * state. No audit record: the log is the gateway's to write.
 */
async function controlOffline(
  { io, print }: CommandContext,
  cmd: ControlCommand,
  reason: string | null,
  local: { url: string; dataDir: string },
): Promise<number> {
  const file = new ControlFile(path.join(local.dataDir, 'control.json'));
  await file.set({
    ...(cmd === 'contain' || cmd === 'release'
      ? { contained: cmd === 'contain' }
      : { readOnly: cmd === 'read_only_on' }),
    changedAt: new Date(io.now()).toISOString(),
    changedBy: 'airlock-cli (gateway not running)',
    reason,
  });
  io.err(
    `The gateway at ${local.url} is not answering; ${cmd} is set in ${local.dataDir}/control.json and holds when it starts. No audit record was written (the gateway writes its log).\n`,
  );
  print(`${cmd}: set while the gateway is stopped.`, { command: cmd, offline: true });
  return 0;
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
