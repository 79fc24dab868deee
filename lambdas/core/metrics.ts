import type { AuditRecord } from './audit';
import { CATALOG, findAction } from './catalog';
import type { AuditSink } from './ports';

/**
 * The gateway's metrics, derived from its audit records: every request ends in exactly one
 * final record, so counting records counts requests, and the metrics never disagree with the
 * log. Emitted without any call on the request path (CloudWatch Embedded Metric Format on AWS,
 * an in-memory store locally).
 */
export interface MetricValues {
  Requests?: number;
  ServerErrors?: number;
  Rejections?: number;
  ContactReads?: number;
  RecordsReturned?: number;
  HubSpotLatency?: number;
  HubSpotCalls?: number;
  HubSpotUnauthorized?: number;
  HubSpotRateLimited?: number;
  HubSpotServerErrors?: number;
  AuditWriteFailures?: number;
  RateLimited?: number;
  ApprovalsRequested?: number;
  ApprovalsApproved?: number;
  ApprovalsDenied?: number;
  ApprovalsExpired?: number;
  WritesDeniedOrExpired?: number;
  WritesCompleted?: number;
  ApprovalsPending?: number;
  OldestPendingMinutes?: number;
}

export const METRIC_UNITS: Record<keyof MetricValues, 'Count' | 'Milliseconds' | 'None'> = {
  Requests: 'Count',
  ServerErrors: 'Count',
  Rejections: 'Count',
  ContactReads: 'Count',
  RecordsReturned: 'Count',
  HubSpotLatency: 'Milliseconds',
  HubSpotCalls: 'Count',
  HubSpotUnauthorized: 'Count',
  HubSpotRateLimited: 'Count',
  HubSpotServerErrors: 'Count',
  AuditWriteFailures: 'Count',
  RateLimited: 'Count',
  ApprovalsRequested: 'Count',
  ApprovalsApproved: 'Count',
  ApprovalsDenied: 'Count',
  ApprovalsExpired: 'Count',
  WritesDeniedOrExpired: 'Count',
  WritesCompleted: 'Count',
  ApprovalsPending: 'Count',
  OldestPendingMinutes: 'None',
};

/** What one audit record counts for. */
export interface Observation {
  values: MetricValues;
  /** Dimensions of the per-action counts; null for records that name no action. */
  action: string | null;
  outcome: string;
  /** The rule or error code of a refusal, for the rejections-by-reason metric. */
  reason: string | null;
  /** Who asked (not a dimension: for top-N queries over the logs). */
  userId: string | null;
}

/** The actions whose answer lists contacts: their records count as contact reads. */
const CONTACT_ACTIONS = new Set(
  CATALOG.filter((a) => a.listedAs === 'contacts').map((a) => a.name),
);

export function observe(r: AuditRecord): Observation {
  const v: MetricValues = {};
  const add = (k: keyof MetricValues, n = 1) => {
    v[k] = (v[k] ?? 0) + n;
  };
  // The agent's API only: the operator's own pages (approvals, dashboard) are not traffic.
  if (r.event === 'request' && (r.route ?? '').includes(' /v1/')) {
    add('Requests');
    if (r.response_status !== null && r.response_status >= 500) add('ServerErrors');
    if (r.outcome === 'rejected') add('Rejections');
    // The per-user limits and the bulk guard (the exfiltration signals); not the shared HubSpot
    // budget or the pending-approvals cap, which busy but honest traffic reaches too.
    if (r.reason === 'rate_limited' && (r.rule === 'reads_per_user' || r.rule === 'bulk_export')) {
      add('RateLimited');
    }
    if (r.outcome === 'completed' && r.record_count !== undefined) {
      add('RecordsReturned', r.record_count);
      if (r.action && CONTACT_ACTIONS.has(r.action)) add('ContactReads', r.record_count);
    }
    if (r.outcome === 'pending_approval') add('ApprovalsRequested');
  } else {
    if (r.outcome === 'approved') add('ApprovalsApproved');
    // A denial is counted at the decision (a person's click or the local page), not again
    // when the AWS state machine closes the write (that record nobody waits on: status null).
    const denial = r.outcome === 'denied' && r.response_status !== null;
    if (denial) add('ApprovalsDenied');
    if (r.outcome === 'expired') add('ApprovalsExpired');
    if (denial || r.outcome === 'expired') add('WritesDeniedOrExpired');
    if (r.outcome === 'completed' && r.hubspot_endpoint?.includes('/notes')) add('WritesCompleted');
  }
  for (const call of r.hubspot_calls) {
    add('HubSpotCalls');
    add('HubSpotLatency', call.duration_ms);
    if (call.status === 401) add('HubSpotUnauthorized');
    // Every 429, including those waited out and retried: sustained throttling is the signal.
    const throttled = call.throttled ?? (call.status === 429 ? 1 : 0);
    if (throttled > 0) add('HubSpotRateLimited', throttled);
    if (call.status !== null && call.status >= 500) add('HubSpotServerErrors');
  }
  return {
    values: v,
    // Only the catalog's names become a dimension: an agent's made-up action name must not
    // mint a new CloudWatch metric (each costs money) with every request.
    action: r.action === null ? null : findAction(r.action) ? r.action : 'unknown',
    outcome: r.outcome,
    reason: r.outcome === 'rejected' || r.outcome === 'failed' ? r.reason : null,
    userId: r.user_id,
  };
}

/** Where observations go: EMF lines on AWS, the local store for `npm start`. */
export interface MetricsSink {
  record(o: Observation, atMs: number): void;
}

/**
 * Wraps the audit sink: each record written is observed; a record that cannot be written
 * counts as an audit write failure (and the error goes on to the caller, which refuses).
 */
export function observedAudit(sink: AuditSink, metrics: MetricsSink, now: () => number): AuditSink {
  return {
    async append(record) {
      try {
        await sink.append(record);
      } catch (err) {
        metrics.record(
          {
            values: { AuditWriteFailures: 1 },
            action: record.action,
            outcome: 'failed',
            reason: 'audit_unavailable',
            userId: record.user_id,
          },
          now(),
        );
        throw err;
      }
      metrics.record(observe(record), now());
    },
  };
}

export const NAMESPACE = 'CrmAirlock';

/**
 * One CloudWatch Embedded Metric Format document per observation, written as a log line:
 * CloudWatch turns it into metrics, with no API call from the function. Dimension sets: the
 * stage; the stage with action and outcome; the stage with the refusal reason.
 */
export function emfLine(o: Observation, atMs: number, stage: string): string {
  const names = Object.keys(o.values) as (keyof MetricValues)[];
  const metrics = names.map((Name) => ({ Name, Unit: METRIC_UNITS[Name] }));
  const directives: { Namespace: string; Dimensions: string[][]; Metrics: typeof metrics }[] = [
    { Namespace: NAMESPACE, Dimensions: [['Stage']], Metrics: metrics },
  ];
  const doc: Record<string, unknown> = { Stage: stage, ...o.values, UserId: o.userId ?? undefined };
  if (o.action) {
    directives.push({
      Namespace: NAMESPACE,
      Dimensions: [['Stage', 'Action', 'Outcome']],
      Metrics: metrics.filter((m) =>
        ['Requests', 'RecordsReturned', 'HubSpotLatency'].includes(m.Name),
      ),
    });
    doc.Action = o.action;
    doc.Outcome = o.outcome;
  }
  if (o.reason && o.values.Rejections) {
    directives.push({
      Namespace: NAMESPACE,
      Dimensions: [['Stage', 'Reason']],
      Metrics: [{ Name: 'Rejections', Unit: 'Count' }],
    });
    doc.Reason = o.reason;
  }
  return JSON.stringify({
    _aws: { Timestamp: atMs, CloudWatchMetrics: directives.filter((d) => d.Metrics.length > 0) },
    ...doc,
  });
}

/** The EMF sink: one line per observation on stdout (the function's log). */
export function emfMetrics(
  stage: string,
  write: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
): MetricsSink {
  return {
    record: (o, atMs) => {
      // A record that counts for nothing (an operator's page) writes no metric document.
      if (Object.keys(o.values).length > 0) write(emfLine(o, atMs, stage));
    },
  };
}
