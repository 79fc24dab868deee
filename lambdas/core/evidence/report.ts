import type { AuditRecord } from '../audit';
import type { IntegrityResult } from './types';

/**
 * The verification report of a time window of the audit log: what an operator reads after an
 * incident, and what an evidence pack carries. Pure: the same records and options always give
 * the same report, byte for byte once serialised.
 */

/** Where a write ended up; `cancelled` is a write denied by the kill switch. */
export type WriteOutcome = 'completed' | 'denied' | 'expired' | 'failed' | 'pending' | 'cancelled';

/** One write request of the window, from its request to its outcome. */
export interface WriteEntry {
  approval_id: string;
  request_id: string | null;
  action: string | null;
  user_id: string | null;
  /** The record the write is about, from the action's `*_id` parameter (e.g. contact 123). */
  target: { type: string; id: string } | null;
  /** When the agent asked (the `pending_approval` request record); null when not in the log given. */
  requested_at: string | null;
  /** Who approved, in order (several under the two-person rule). */
  approvers: string[];
  /** Who denied or cancelled it, when it was denied. */
  denied_by: string | null;
  decided_at: string | null;
  /** The HubSpot note the completed write created. */
  note_id: string | null;
  outcome: WriteOutcome;
  /** The reason recorded with the outcome (a failure's error code, `approval_expired`, ...). */
  reason: string | null;
}

/** Behaviour that needs a person's look (integrity problems have their own section). */
export type AnomalyKind = 'bulk_read' | 'write_without_approval' | 'served_after_containment';

/** One anomaly: what happened, in a sentence, and the record that shows it. */
export interface Anomaly {
  kind: AnomalyKind;
  detail: string;
  request_id?: string;
  user_id?: string;
  at?: string;
  /** Served so soon after `contain` that the switch may not have reached every function yet. */
  within_propagation?: boolean;
}

/** An operator's command, as the report lists it. */
export interface ControlEntry {
  time: string;
  action: string | null;
  caller: string | null;
  reason: string | null;
  outcome: string;
  request_id: string;
}

/** Refusals of one reason (error code), with the policy rules behind them. */
export interface RejectionCount {
  reason: string;
  count: number;
  /** The policy rules behind this reason, when the records name one. */
  rules: { rule: string; count: number }[];
}

/** The report of one window: JSON-serialisable, and the same for the same input. */
export interface VerificationReport {
  window: { since: string; until: string };
  generated_at: string;
  integrity: IntegrityResult;
  /** The thresholds the anomalies were judged by, so the report can be rebuilt exactly. */
  settings: { bulk_records_per_hour: number; containment_grace_ms: number };
  totals: {
    records: number;
    by_event: Record<string, number>;
    by_outcome: Record<string, number>;
  };
  writes: WriteEntry[];
  rejections: { total: number; by_reason: RejectionCount[] };
  /** Completed reads per user: how many reads, and how many CRM records they returned. */
  reads_per_user: Record<string, { reads: number; records_returned: number }>;
  control: ControlEntry[];
  anomalies: Anomaly[];
}

/** The window, the report's time, and the thresholds anomalies are judged by. */
export interface ReportOptions {
  since: string;
  until: string;
  generatedAt: string;
  /**
   * Records before the window: a write approved before it, or a containment started before it,
   * is judged with them. Only the records that matter are used ({@link relevantContext}).
   */
  context?: AuditRecord[];
  /** Records one user may receive in one clock hour before it is a `bulk_read`. @default 200 */
  bulkRecordsPerHour?: number;
  /** How long after `contain` a served request is put down to propagation. @default 10000 */
  containmentGraceMs?: number;
}

/** The bulk-export guard's own default (distinct records per user per hour). */
export const DEFAULT_BULK_RECORDS_PER_HOUR = 200;
/** On AWS the kill switch takes up to 10 s to reach every function (its cache TTL). */
export const DEFAULT_CONTAINMENT_GRACE_MS = 10_000;

/** Builds the report of `records` (the window), judged with `integrity` and `options`. */
export function buildReport(
  records: AuditRecord[],
  integrity: IntegrityResult,
  options: ReportOptions,
): VerificationReport {
  const settings = {
    bulk_records_per_hour: options.bulkRecordsPerHour ?? DEFAULT_BULK_RECORDS_PER_HOUR,
    containment_grace_ms: options.containmentGraceMs ?? DEFAULT_CONTAINMENT_GRACE_MS,
  };
  const context = relevantContext(records, options.context ?? []);
  const lifecycles = indexLifecycles([...context, ...records]);
  const reads = readsPerUser(records);
  return {
    window: { since: options.since, until: options.until },
    generated_at: options.generatedAt,
    integrity,
    settings,
    totals: {
      records: records.length,
      by_event: countBy(records, (r) => r.event),
      by_outcome: countBy(records, (r) => r.outcome),
    },
    writes: listWrites(records, lifecycles),
    rejections: rejections(records),
    reads_per_user: reads,
    control: records.filter((r) => r.event === 'control').map(controlEntry),
    anomalies: [
      ...bulkReads(records, settings.bulk_records_per_hour),
      ...writesWithoutApproval(records, lifecycles),
      ...servedAfterContainment(context, records, settings.containment_grace_ms),
    ],
  };
}

/**
 * The records before the window that the report depends on: every record of a write that has a
 * record in the window, and the `contain` that started a containment still in force when the
 * window opens. An evidence pack carries these, so that its report can be rebuilt exactly.
 */
export function relevantContext(records: AuditRecord[], context: AuditRecord[]): AuditRecord[] {
  const ids = new Set<string>();
  for (const r of records) {
    const id = approvalIdOf(r);
    if (id) ids.add(id);
  }
  let containedBy: AuditRecord | null = null;
  for (const r of context) {
    const command = controlCommand(r);
    if (command === 'contain' && !containedBy) containedBy = r;
    if (command === 'release') containedBy = null;
  }
  return context.filter(
    (r) =>
      r === containedBy ||
      ((isWriteRequest(r) || isLifecycleEvent(r)) && ids.has(approvalIdOf(r) ?? '')),
  );
}

/**
 * 1 when the log's integrity is broken, else 3 when behaviour needs a look, else 0. A request
 * served within the kill switch's propagation time is listed but does not make it 3: on AWS
 * that is the switch working as designed.
 */
export function reportExitCode(report: VerificationReport): 0 | 1 | 3 {
  if (!report.integrity.ok) return 1;
  return report.anomalies.some((a) => !a.within_propagation) ? 3 : 0;
}

// ---- writes ----------------------------------------------------------------------------------

interface Lifecycle {
  /** The agent's request that queued the write (`pending_approval`). */
  request: AuditRecord | null;
  /** The approval events (decisions, expiry, outcome), in log order. */
  events: AuditRecord[];
}

function approvalIdOf(r: AuditRecord): string | null {
  return r.approval?.approval_id ?? null;
}

function isWriteRequest(r: AuditRecord): boolean {
  return r.event === 'request' && r.outcome === 'pending_approval' && approvalIdOf(r) !== null;
}

/** An approval event that moved the write (a refused decision attempt moved nothing). */
function isLifecycleEvent(r: AuditRecord): boolean {
  return r.event === 'approval' && r.outcome !== 'rejected' && approvalIdOf(r) !== null;
}

function indexLifecycles(records: AuditRecord[]): Map<string, Lifecycle> {
  const out = new Map<string, Lifecycle>();
  const of = (id: string): Lifecycle => {
    let l = out.get(id);
    if (!l) {
      l = { request: null, events: [] };
      out.set(id, l);
    }
    return l;
  };
  for (const r of records) {
    const id = approvalIdOf(r);
    if (id === null) continue;
    if (isWriteRequest(r)) {
      const l = of(id);
      l.request ??= r;
    } else if (isLifecycleEvent(r)) {
      of(id).events.push(r);
    }
  }
  return out;
}

const TERMINAL = new Set(['completed', 'denied', 'expired', 'failed']);

function listWrites(records: AuditRecord[], lifecycles: Map<string, Lifecycle>): WriteEntry[] {
  const seen = new Set<string>();
  const entries: { entry: WriteEntry; firstSeen: string }[] = [];
  for (const r of records) {
    const id = approvalIdOf(r);
    if (id === null || seen.has(id) || !(isWriteRequest(r) || isLifecycleEvent(r))) continue;
    seen.add(id);
    const l = lifecycles.get(id);
    if (l) entries.push({ entry: writeEntry(id, l), firstSeen: r.timestamp });
  }
  return entries
    .sort((a, b) => {
      const ta = a.entry.requested_at ?? a.firstSeen;
      const tb = b.entry.requested_at ?? b.firstSeen;
      return ta === tb ? compare(a.entry.approval_id, b.entry.approval_id) : compare(ta, tb);
    })
    .map((e) => e.entry);
}

function writeEntry(approvalId: string, l: Lifecycle): WriteEntry {
  const source = l.request ?? l.events[0];
  const terminal = [...l.events].reverse().find((e) => TERMINAL.has(e.outcome)) ?? null;
  const denials = l.events.filter((e) => e.outcome === 'denied');
  const cancelled = denials.some((e) => e.reason === 'gateway_contained');
  const approvers: string[] = [];
  for (const e of l.events) {
    // A partial approval (two-person rule) is recorded as `pending_approval` by its approver.
    if ((e.outcome === 'approved' || e.outcome === 'pending_approval') && e.caller) {
      if (!approvers.includes(e.caller)) approvers.push(e.caller);
    }
  }
  if (approvers.length === 0) {
    // On AWS the outcome's record is written by the state machine, which is not the approver.
    const named = l.events.find(
      (e) => (e.outcome === 'approved' || e.outcome === 'completed') && e.approval?.approver,
    )?.approval?.approver;
    if (named) approvers.push(named);
  }
  const decision = [...l.events]
    .reverse()
    .find((e) => e.outcome === 'approved' || e.outcome === 'denied');
  const completed = l.events.find((e) => e.outcome === 'completed');
  let outcome: WriteOutcome = 'pending';
  if (terminal) outcome = terminal.outcome as WriteOutcome;
  if (outcome === 'denied' && cancelled) outcome = 'cancelled';
  return {
    approval_id: approvalId,
    request_id: source?.approval?.request_id ?? l.request?.request_id ?? null,
    action: source?.action ?? null,
    user_id: source?.user_id ?? null,
    target: targetOf(source?.structured_action),
    requested_at: l.request?.timestamp ?? null,
    approvers,
    denied_by: denials.find((e) => e.caller)?.caller ?? null,
    decided_at: decision ? (decision.approval?.decided_at ?? decision.timestamp) : null,
    note_id: completed?.approval?.note_id ?? null,
    outcome,
    reason: terminal?.reason ?? null,
  };
}

/** The first `<type>_id` parameter of an action: the record a write is about. */
function targetOf(action: unknown): WriteEntry['target'] {
  if (action === null || typeof action !== 'object') return null;
  for (const key of Object.keys(action).sort()) {
    const value = (action as Record<string, unknown>)[key];
    const type = /^(\w+)_id$/.exec(key)?.[1];
    if (type && (typeof value === 'string' || typeof value === 'number')) {
      return { type, id: String(value) };
    }
  }
  return null;
}

// ---- counts ----------------------------------------------------------------------------------

function compare(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

function countBy(records: AuditRecord[], key: (r: AuditRecord) => string): Record<string, number> {
  const counts = new Map<string, number>();
  for (const r of records) counts.set(key(r), (counts.get(key(r)) ?? 0) + 1);
  return Object.fromEntries([...counts].sort(([a], [b]) => compare(a, b)));
}

function rejections(records: AuditRecord[]): VerificationReport['rejections'] {
  const byReason = new Map<string, { count: number; rules: Map<string, number> }>();
  let total = 0;
  for (const r of records) {
    if (r.outcome !== 'rejected') continue;
    total += 1;
    const reason = r.reason ?? '(none)';
    const entry = byReason.get(reason) ?? { count: 0, rules: new Map<string, number>() };
    entry.count += 1;
    if (r.rule) entry.rules.set(r.rule, (entry.rules.get(r.rule) ?? 0) + 1);
    byReason.set(reason, entry);
  }
  const byCount = <T extends { count: number }>(a: T & { k: string }, b: T & { k: string }) =>
    b.count - a.count || compare(a.k, b.k);
  return {
    total,
    by_reason: [...byReason]
      .map(([k, v]) => ({ k, count: v.count, rules: v.rules }))
      .sort(byCount)
      .map(({ k, count, rules }) => ({
        reason: k,
        count,
        rules: [...rules]
          .map(([rule, n]) => ({ k: rule, count: n }))
          .sort(byCount)
          .map(({ k: rule, count: n }) => ({ rule, count: n })),
      })),
  };
}

/** A read the gateway answered with data: the route, the outcome and a record count say so. */
function isCompletedRead(r: AuditRecord): boolean {
  return (
    r.event === 'request' &&
    (r.route ?? '').includes(' /v1/actions') &&
    r.outcome === 'completed' &&
    typeof r.record_count === 'number'
  );
}

function readsPerUser(records: AuditRecord[]): VerificationReport['reads_per_user'] {
  const per = new Map<string, { reads: number; records_returned: number }>();
  for (const r of records) {
    if (!isCompletedRead(r)) continue;
    const user = r.user_id ?? '(none)';
    const entry = per.get(user) ?? { reads: 0, records_returned: 0 };
    entry.reads += 1;
    entry.records_returned += r.record_count ?? 0;
    per.set(user, entry);
  }
  return Object.fromEntries([...per].sort(([a], [b]) => compare(a, b)));
}

function controlCommand(r: AuditRecord): string | null {
  return r.event === 'control' && r.outcome === 'completed' ? r.action : null;
}

function controlEntry(r: AuditRecord): ControlEntry {
  const said = (r.structured_action as { reason?: unknown } | null)?.reason;
  return {
    time: r.timestamp,
    action: r.action,
    caller: r.caller,
    // The operator's reason travels in the command; `reason` is the refusal's code, if any.
    reason: r.reason ?? (typeof said === 'string' ? said : null),
    outcome: r.outcome,
    request_id: r.request_id,
  };
}

// ---- anomalies -------------------------------------------------------------------------------

/** The key the gateway counts a user's limits under (case and compatibility forms folded). */
function userKey(userId: string): string {
  return userId.normalize('NFKC').toLowerCase();
}

function hourOf(timestamp: string): string | null {
  const ms = Date.parse(timestamp);
  return Number.isFinite(ms) ? `${new Date(ms).toISOString().slice(0, 13)}:00:00.000Z` : null;
}

function bulkReads(records: AuditRecord[], perHour: number): Anomaly[] {
  const out: Anomaly[] = [];
  const hours = new Map<string, { users: Set<string>; hour: string; returned: number }>();
  for (const r of records) {
    if (r.rule === 'bulk_export' && r.outcome === 'rejected') {
      out.push({
        kind: 'bulk_read',
        detail: `${r.user_id ?? 'an unknown user'} was refused by the bulk-export guard (too many distinct records in an hour; the data was withheld).`,
        request_id: r.request_id,
        ...(r.user_id ? { user_id: r.user_id } : {}),
        at: r.timestamp,
      });
    }
    const hour = hourOf(r.timestamp);
    if (!isCompletedRead(r) || hour === null) continue;
    const user = r.user_id ?? '(none)';
    const key = `${userKey(user)}\n${hour}`;
    const entry = hours.get(key) ?? { users: new Set<string>(), hour, returned: 0 };
    entry.users.add(user);
    entry.returned += r.record_count ?? 0;
    hours.set(key, entry);
  }
  for (const [key, h] of [...hours].sort(([a], [b]) => compare(a, b))) {
    if (h.returned <= perHour) continue;
    const users = [...h.users].sort(compare);
    out.push({
      kind: 'bulk_read',
      detail: `${users.join(', ')} received ${h.returned} CRM records in the hour from ${h.hour.slice(0, 16)}Z (more than ${perHour} in one hour).`,
      user_id: users[0] ?? key,
      at: h.hour,
    });
  }
  return out;
}

function writesWithoutApproval(
  records: AuditRecord[],
  lifecycles: Map<string, Lifecycle>,
): Anomaly[] {
  const out: Anomaly[] = [];
  for (const r of records) {
    if (r.event !== 'approval' || r.outcome !== 'completed') continue;
    const id = approvalIdOf(r);
    const l = id === null ? undefined : lifecycles.get(id);
    const missing: string[] = [];
    if (!l?.request) missing.push("the agent's request (pending_approval)");
    if (!l?.events.some((e) => e.outcome === 'approved')) missing.push('an approval (approved)');
    if (missing.length === 0) continue;
    out.push({
      kind: 'write_without_approval',
      detail: `${r.action ?? 'a write'} completed${id ? ` for approval ${id}` : ' with no approval id'}, but the log has no record of ${missing.join(' and no record of ')}.`,
      request_id: r.request_id,
      ...(r.user_id ? { user_id: r.user_id } : {}),
      at: r.timestamp,
    });
  }
  return out;
}

/** A record showing that something was served: an agent's call answered, or a write done. */
function isServed(r: AuditRecord): boolean {
  if (r.event === 'approval') return r.outcome === 'completed';
  return (
    r.event === 'request' &&
    (r.route ?? '').includes(' /v1/') &&
    (r.outcome === 'completed' || r.outcome === 'pending_approval')
  );
}

function servedAfterContainment(
  context: AuditRecord[],
  records: AuditRecord[],
  graceMs: number,
): Anomaly[] {
  const out: Anomaly[] = [];
  let contain: AuditRecord | null = null;
  for (const [i, r] of [...context, ...records].entries()) {
    const command = controlCommand(r);
    if (command === 'contain') contain ??= r;
    if (command === 'release') contain = null;
    if (!contain || i < context.length || !isServed(r)) continue;
    const after = Date.parse(r.timestamp) - Date.parse(contain.timestamp);
    // Logged after the contain but stamped before it: it was under way when the switch moved.
    if (!(after >= 0)) continue;
    const within = after <= graceMs;
    const what =
      r.event === 'approval'
        ? `a write (${r.action ?? 'unknown action'}) completed`
        : `${r.route ?? 'a request'} was served (${r.outcome})`;
    out.push({
      kind: 'served_after_containment',
      detail: `${what} ${(after / 1000).toFixed(1)} s after the gateway was contained at ${contain.timestamp} by ${contain.caller ?? 'unknown'}${within ? ' (within the switch propagation time)' : ''}.`,
      request_id: r.request_id,
      ...(r.user_id ? { user_id: r.user_id } : {}),
      at: r.timestamp,
      within_propagation: within,
    });
  }
  return out;
}

// ---- text ------------------------------------------------------------------------------------

/**
 * The report as plain text for a person under stress: the integrity verdict first, then what
 * needs a look, then the writes, refusals, reads and commands.
 */
export function reportText(report: VerificationReport): string {
  const out: string[] = [];
  const i = report.integrity;
  out.push('CRM Airlock audit verification');
  out.push(`Window:    ${report.window.since} to ${report.window.until} (until excluded)`);
  out.push(`Generated: ${report.generated_at}`);
  out.push('');
  out.push(
    i.ok
      ? `INTEGRITY: OK. ${i.checked} records checked (${i.method}), no problem found.`
      : `INTEGRITY: BROKEN. ${i.problems.length} problem(s) in ${i.checked} records checked (${i.method}). Treat this log as tampered with or damaged.`,
  );
  for (const p of i.problems) {
    out.push(`  - ${p.kind} at ${p.where}${p.request_id ? ` (${p.request_id})` : ''}: ${p.detail}`);
  }
  for (const n of i.notes) out.push(`  note: ${n}`);
  out.push('');

  const real = report.anomalies.filter((a) => !a.within_propagation);
  out.push(
    report.anomalies.length === 0
      ? 'ANOMALIES: none.'
      : `ANOMALIES: ${real.length} to look at${real.length < report.anomalies.length ? `, ${report.anomalies.length - real.length} within the kill switch's propagation time` : ''}.`,
  );
  for (const a of report.anomalies) {
    const tags = [a.at, a.request_id].filter(Boolean).join(' ');
    out.push(
      `  - ${a.kind}${a.within_propagation ? ' (within propagation)' : ''}${tags ? ` [${tags}]` : ''}: ${a.detail}`,
    );
  }
  out.push('');

  out.push(`WRITES: ${report.writes.length}`);
  for (const w of report.writes) {
    const target = w.target ? `${w.target.type} ${w.target.id}` : 'no target';
    out.push(
      `  - ${w.outcome.toUpperCase()} ${w.action ?? 'unknown action'} on ${target} for ${w.user_id ?? 'unknown user'}, requested ${w.requested_at ?? '(request not in the records given)'} (approval ${w.approval_id}, request ${w.request_id ?? 'unknown'})`,
    );
    const facts = [
      w.approvers.length > 0 ? `approved by ${w.approvers.join(', ')}` : 'no approver',
      w.denied_by ? `denied by ${w.denied_by}` : null,
      w.decided_at ? `decided ${w.decided_at}` : null,
      w.note_id ? `HubSpot note ${w.note_id}` : null,
      w.reason ? `reason ${w.reason}` : null,
    ].filter((f): f is string => f !== null);
    out.push(`      ${facts.join('; ')}`);
  }
  out.push('');

  out.push(`REJECTIONS: ${report.rejections.total}`);
  for (const r of report.rejections.by_reason) {
    const rules = r.rules.map((x) => `${x.rule} ${x.count}`).join(', ');
    out.push(`  - ${r.reason}: ${r.count}${rules ? ` (${rules})` : ''}`);
  }
  out.push('');

  const users = Object.entries(report.reads_per_user);
  out.push(`READS PER USER: ${users.length} user(s)`);
  for (const [user, r] of users) {
    out.push(`  - ${user}: ${r.reads} read(s), ${r.records_returned} record(s) returned`);
  }
  out.push('');

  out.push(`OPERATOR COMMANDS: ${report.control.length}`);
  for (const c of report.control) {
    out.push(
      `  - ${c.time} ${c.action ?? 'unknown'} by ${c.caller ?? 'unknown'} (${c.outcome})${c.reason ? `: ${c.reason}` : ''}`,
    );
  }
  out.push('');

  const fmt = (counts: Record<string, number>) =>
    Object.entries(counts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'none';
  out.push(`TOTALS: ${report.totals.records} records`);
  out.push(`  by event:   ${fmt(report.totals.by_event)}`);
  out.push(`  by outcome: ${fmt(report.totals.by_outcome)}`);
  return `${out.join('\n')}\n`;
}
