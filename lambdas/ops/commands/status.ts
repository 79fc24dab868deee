/** `airlock status`: kill switch, read-only mode, alarms, pending approvals, the last hour. */
import type { Command } from '../command';
import type { StatusView } from '../results';

export const status: Command = async (ctx) => {
  const t = ctx.target();
  const view = 'local' in t ? await t.local.status() : await t.aws.status(ctx.io.now());
  ctx.print(statusText(view), view);
  return 0;
};

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
