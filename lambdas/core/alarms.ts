/**
 * The alarm rules, declared once: CloudWatch alarms on AWS and the local dashboard's OK/ALARM
 * states both come from here. Each metric is one the gateway emits (see `metrics.ts`).
 */
export interface AlarmRule {
  id: string;
  /** The metric (namespace CrmAirlock), and the dimensions it is read with. */
  metric: string;
  dimensions?: Record<string, string>;
  statistic: 'Sum' | 'Maximum';
  periodSeconds: number;
  evaluationPeriods: number;
  threshold: number;
  comparison: 'GreaterThanThreshold' | 'GreaterThanOrEqualToThreshold';
  /** What it means and which runbook step to take. */
  description: string;
}

export interface AlarmThresholds {
  /** Contact reads per minute, all users. @default 100 */
  contactReadsPerMinute: number;
  /** Denied or expired writes per hour. @default 5 */
  deniedOrExpiredPerHour: number;
  /** Minutes a write may wait for a decision before the pending alarm. @default 30 */
  pendingMinutes: number;
}

export const DEFAULT_THRESHOLDS: AlarmThresholds = {
  contactReadsPerMinute: 100,
  deniedOrExpiredPerHour: 5,
  pendingMinutes: 30,
};

export function alarmRules(t: AlarmThresholds = DEFAULT_THRESHOLDS): AlarmRule[] {
  return [
    {
      id: 'Gateway5xx',
      metric: 'ServerErrors',
      statistic: 'Sum',
      periodSeconds: 300,
      evaluationPeriods: 1,
      threshold: 0,
      comparison: 'GreaterThanThreshold',
      description:
        'The gateway answered 5xx (HubSpot, audit log or secrets unavailable). Runbook: npx airlock status; check the failing dependency in the logs.',
    },
    {
      id: 'ContactReadRate',
      metric: 'ContactReads',
      statistic: 'Sum',
      periodSeconds: 60,
      evaluationPeriods: 1,
      threshold: t.contactReadsPerMinute,
      comparison: 'GreaterThanThreshold',
      description: `More than ${t.contactReadsPerMinute} contact records read in a minute: possible exfiltration. Runbook: npx airlock contain, then npx airlock verify (reads per user).`,
    },
    {
      id: 'HubSpotUnauthorized',
      metric: 'HubSpotUnauthorized',
      statistic: 'Sum',
      periodSeconds: 300,
      evaluationPeriods: 1,
      threshold: 0,
      comparison: 'GreaterThanThreshold',
      description:
        'HubSpot refused the gateway token (revoked or rotated). Runbook: npx airlock rotate --which read (it checks the token and confirms with one read).',
    },
    {
      id: 'HubSpotRateLimited',
      metric: 'HubSpotRateLimited',
      statistic: 'Sum',
      periodSeconds: 300,
      evaluationPeriods: 2,
      threshold: 5,
      comparison: 'GreaterThanThreshold',
      description:
        'HubSpot kept answering 429 for 10 minutes: another integration or the agent uses the account budget. Runbook: npx airlock status; lower the limits or find the other caller.',
    },
    {
      id: 'AuditWriteFailures',
      metric: 'AuditWriteFailures',
      statistic: 'Sum',
      periodSeconds: 300,
      evaluationPeriods: 1,
      threshold: 0,
      comparison: 'GreaterThanThreshold',
      description:
        'An audit record could not be written; the request was refused (503). Runbook: check the audit bucket (or disk), then npx airlock verify.',
    },
    {
      id: 'DeniedOrExpiredWrites',
      metric: 'WritesDeniedOrExpired',
      statistic: 'Sum',
      periodSeconds: 3600,
      evaluationPeriods: 1,
      threshold: t.deniedOrExpiredPerHour,
      comparison: 'GreaterThanThreshold',
      description: `More than ${t.deniedOrExpiredPerHour} writes denied or expired in an hour: the agent asks for writes people do not want. Runbook: npx airlock verify (the writes and the prompts behind them).`,
    },
    {
      id: 'ApprovalsPendingTooLong',
      metric: 'OldestPendingMinutes',
      statistic: 'Maximum',
      // Twice the 5-minute schedule that measures it, so a late run never flips the state.
      periodSeconds: 600,
      evaluationPeriods: 1,
      threshold: t.pendingMinutes,
      comparison: 'GreaterThanThreshold',
      description: `A write has waited more than ${t.pendingMinutes} minutes for a decision. Runbook: ask the approvers, or deny it.`,
    },
    {
      id: 'RateLimitRefusals',
      metric: 'RateLimited',
      statistic: 'Sum',
      periodSeconds: 300,
      evaluationPeriods: 1,
      threshold: 0,
      comparison: 'GreaterThanThreshold',
      description:
        "A user hit a read limit or the bulk-export guard. Runbook: npx airlock verify (that user's reads); npx airlock contain if it looks like exfiltration.",
    },
  ];
}

/** The alarm rules as a Markdown table, for the README (a test keeps the two in step). */
export function alarmsMarkdown(t: AlarmThresholds = DEFAULT_THRESHOLDS): string {
  const when = (r: AlarmRule) =>
    `${r.statistic === 'Sum' ? 'sum' : 'maximum'} of ${r.metric} ${r.comparison === 'GreaterThanThreshold' ? '>' : '>='} ${r.threshold} over ${r.periodSeconds / 60} min${r.evaluationPeriods > 1 ? ` (${r.evaluationPeriods} periods in a row)` : ''}`;
  return [
    '| alarm | fires when | what it means and what to do |',
    '|---|---|---|',
    ...alarmRules(t).map((r) => `| \`${r.id}\` | ${when(r)} | ${r.description} |`),
  ].join('\n');
}
