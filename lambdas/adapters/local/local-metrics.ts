import {
  type AlarmRule,
  type AlarmThresholds,
  alarmRules,
  DEFAULT_THRESHOLDS,
} from '../../core/alarms';
import type { MetricsSink, MetricValues, Observation } from '../../core/metrics';

interface Bucket {
  values: MetricValues;
  reasons: Record<string, number>;
  readers: Record<string, number>;
}

export interface DashboardMinute extends MetricValues {
  /** ISO 8601 start of the minute. */
  minute: string;
}

export interface DashboardData {
  generated_at: string;
  /** The last 60 minutes, oldest first (empty minutes included). */
  minutes: DashboardMinute[];
  rejections_by_reason: Record<string, number>;
  top_readers: { user_id: string; records: number }[];
  approvals_pending: number;
  oldest_pending_minutes: number;
  alarms: {
    id: string;
    description: string;
    state: 'OK' | 'ALARM';
    value: number;
    threshold: number;
    period_seconds: number;
  }[];
  thresholds: AlarmThresholds;
}

/**
 * The local metrics: per-minute sums of the last hour, in memory, and the same alarm rules as
 * CloudWatch's evaluated over them, for the `/dashboard` page.
 */
export class LocalMetrics implements MetricsSink {
  private readonly buckets = new Map<number, Bucket>();

  constructor(private readonly thresholds: AlarmThresholds = DEFAULT_THRESHOLDS) {}

  record(o: Observation, atMs: number): void {
    const minute = Math.floor(atMs / 60_000);
    let b = this.buckets.get(minute);
    if (!b) {
      b = { values: {}, reasons: {}, readers: {} };
      this.buckets.set(minute, b);
      for (const key of this.buckets.keys()) if (key < minute - 60) this.buckets.delete(key);
    }
    for (const [k, n] of Object.entries(o.values) as [keyof MetricValues, number][]) {
      b.values[k] = (b.values[k] ?? 0) + n;
    }
    if (o.reason && o.values.Rejections) b.reasons[o.reason] = (b.reasons[o.reason] ?? 0) + 1;
    if (o.userId && o.values.RecordsReturned) {
      b.readers[o.userId] = (b.readers[o.userId] ?? 0) + o.values.RecordsReturned;
    }
  }

  private sum(metric: keyof MetricValues, fromMinute: number, toMinute: number): number {
    let total = 0;
    for (let m = fromMinute; m <= toMinute; m += 1)
      total += this.buckets.get(m)?.values[metric] ?? 0;
    return total;
  }

  /** The dashboard's data at `nowMs`; `pendingSince` are the creation times of pending writes. */
  snapshot(nowMs: number, pendingSince: readonly number[] = []): DashboardData {
    const now = Math.floor(nowMs / 60_000);
    const minutes: DashboardMinute[] = [];
    const reasons: Record<string, number> = {};
    const readers: Record<string, number> = {};
    for (let m = now - 59; m <= now; m += 1) {
      const b = this.buckets.get(m);
      minutes.push({ minute: new Date(m * 60_000).toISOString(), ...(b?.values ?? {}) });
      for (const [r, n] of Object.entries(b?.reasons ?? {})) reasons[r] = (reasons[r] ?? 0) + n;
      for (const [u, n] of Object.entries(b?.readers ?? {})) readers[u] = (readers[u] ?? 0) + n;
    }
    const oldest = pendingSince.length > 0 ? (nowMs - Math.min(...pendingSince)) / 60_000 : 0;
    const span = (rule: AlarmRule) => Math.max(1, Math.round(rule.periodSeconds / 60));
    /** The rule's statistic over the period ending `periodsAgo` periods before this minute. */
    const valueFor = (rule: AlarmRule, periodsAgo = 0): number => {
      if (rule.metric === 'OldestPendingMinutes') return Math.floor(oldest);
      const end = now - periodsAgo * span(rule);
      return this.sum(rule.metric as keyof MetricValues, end - span(rule) + 1, end);
    };
    const breaches = (rule: AlarmRule, value: number) =>
      rule.comparison === 'GreaterThanThreshold' ? value > rule.threshold : value >= rule.threshold;
    return {
      generated_at: new Date(nowMs).toISOString(),
      minutes,
      rejections_by_reason: reasons,
      top_readers: Object.entries(readers)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 5)
        .map(([user_id, records]) => ({ user_id, records })),
      approvals_pending: pendingSince.length,
      oldest_pending_minutes: Math.floor(oldest),
      alarms: alarmRules(this.thresholds).map((rule) => {
        const value = valueFor(rule);
        // As CloudWatch does: in ALARM only when each of the rule's evaluation periods breaches.
        const breached = Array.from({ length: rule.evaluationPeriods }, (_, i) => i).every((i) =>
          breaches(rule, valueFor(rule, i)),
        );
        return {
          id: rule.id,
          description: rule.description,
          state: breached ? 'ALARM' : 'OK',
          value,
          threshold: rule.threshold,
          period_seconds: rule.periodSeconds,
        };
      }),
      thresholds: this.thresholds,
    };
  }
}
