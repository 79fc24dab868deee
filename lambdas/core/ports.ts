import type { AuditRecord, HubSpotCall } from './audit';
import type { ValidatedAction } from './catalog';

// The audit record's types import nothing from here (no cycle); the call report is one of them.
export type { HubSpotCall } from './audit';

/**
 * The ports the core needs (docs/ARCHITECTURE.md, "Ports and adapters"). Adapters implement them: local ones for `npm start`,
 * AWS ones for the Lambda functions. The core imports nothing from AWS or HTTP.
 */

export type SearchableObject = 'contacts' | 'companies' | 'emails';

export interface SearchFilter {
  propertyName: string;
  operator: 'EQ' | 'CONTAINS_TOKEN' | 'IN';
  value?: string;
  values?: string[];
}

/** A HubSpot CRM search request, as the core builds it (docs/ARCHITECTURE.md, "Ports and adapters"). */
export interface SearchRequest {
  filterGroups: { filters: SearchFilter[] }[];
  properties: string[];
  sorts?: { propertyName: string; direction: 'ASCENDING' | 'DESCENDING' }[];
  limit: number;
}

export interface CrmRecord {
  id: string;
  properties: Record<string, string | null | undefined>;
}

export interface NoteInput {
  body: string;
  /** ISO 8601: when the note is dated in HubSpot. */
  timestamp: string;
  target: { type: 'contact' | 'company'; id: string };
}

export interface CallContext {
  /** Epoch milliseconds after which the adapter must give up (504). */
  deadline: number;
  /** Every HubSpot call made for this request is appended here. */
  calls: HubSpotCall[];
  /**
   * Awaited right before each attempt of a call that changes HubSpot (a create), after any
   * lookup and after the token is fetched: the kill switch's last word on a write. It throws
   * (`gateway_contained`, `read_only_mode`) when the write must not be sent; the adapter then
   * sends nothing. Idempotent calls (searches, lookups) never await it.
   */
  beforeWrite?: () => Promise<void>;
}

/**
 * HubSpot, seen from the core. Implementations own retries within `ctx.deadline` and throw
 * {@link AirlockError}s (`hubspot_unauthorized`, `hubspot_missing_scopes`, `hubspot_error`,
 * `hubspot_timeout`, `rate_limited`, `secrets_unavailable`).
 */
export interface HubSpotPort {
  search(object: SearchableObject, request: SearchRequest, ctx: CallContext): Promise<CrmRecord[]>;
  /** Runs with the write credential; only the approval path calls it. Returns the note id. */
  createNote(input: NoteInput, ctx: CallContext): Promise<string>;
  /**
   * The id of a note exactly like `input` (same target, timestamp and body) if one exists: a
   * retried write looks before it writes, so it never creates a second note.
   */
  findNote?(input: NoteInput, ctx: CallContext): Promise<string | null>;
}

/** Durable audit storage. `append` resolves only once the record is durably stored. */
export interface AuditSink {
  append(record: AuditRecord): Promise<void>;
}

/** Kill switch and read-only mode (docs/ARCHITECTURE.md, "Security invariants"). */
export interface ControlState {
  /** The switch, possibly cached (local: 250 ms, AWS: 5 s); never throws (fails closed). */
  read(): Promise<{ contained: boolean; readOnly: boolean }>;
  /**
   * The switch as stored right now, bypassing every cache: read where data leaves (a read's
   * answer) and right before a write is sent, so a `contain` that has answered stops work
   * already in flight. Never throws: a switch that cannot be read counts as on (fails closed).
   * Without it, {@link read} stands in.
   */
  fresh?(): Promise<{ contained: boolean; readOnly: boolean }>;
}

/** The kill switch as the operator sees it: who changed it last, when and why. */
export interface ControlSnapshot {
  contained: boolean;
  readOnly: boolean;
  /** ISO 8601; absent while the switch was never changed. */
  changedAt?: string;
  changedBy?: string;
  reason?: string | null;
}

/**
 * A change to the kill switch: only the flags it names change, so two operators changing
 * different flags at the same time both keep their change.
 */
export interface ControlChange {
  contained?: boolean;
  readOnly?: boolean;
  /** ISO 8601. */
  changedAt: string;
  changedBy: string;
  reason?: string | null;
}

/**
 * The operator's side of the kill switch. `set` takes effect at once for the process that
 * calls it; every other reader sees it within its cache bound (local: 250 ms, AWS: 10 s).
 */
export interface ControlSwitch extends ControlState {
  snapshot(): Promise<ControlSnapshot>;
  /**
   * Applies `change` atomically (the flags it omits keep their stored value, whoever set them)
   * and returns the switch as stored right after it.
   */
  set(change: ControlChange): Promise<ControlSnapshot>;
}

export type ApprovalStatus =
  | 'pending_approval'
  | 'approved'
  | 'denied'
  | 'expired'
  | 'completed'
  | 'failed';

/** A write waiting for, or past, a person's decision. */
export interface Approval {
  approval_id: string;
  request_id: string;
  action: ValidatedAction;
  action_hash: string;
  user_id: string;
  agent_prompt: string;
  /** Who authenticated the request (the agent's credential). */
  requested_by: string;
  status: ApprovalStatus;
  created_at: string;
  expires_at: string;
  decided_at?: string;
  decided_by?: string;
  result?: { note_id: string };
  error?: { code: string; message: string };
  /** Distinct approvals needed before the write runs (the two-person rule). @default 1 */
  required_approvals?: number;
  /** Who has approved so far, in order. */
  approvals?: { by: string; at: string }[];
  /** Bumped by every change; `transition` can require it (compare-and-set). */
  version?: number;
  /**
   * AWS only: the Step Functions task token of the wait for a decision. Kept in the store
   * alone: never in Slack, never in an answer, never in a log or audit record.
   */
  task_token?: string;
  /** AWS only: the Slack message that shows this approval. */
  slack?: { channel: string; ts: string };
  /** Set just before the write is sent to HubSpot, so a retry knows to look before writing. */
  write_started_at?: string;
  /** AWS only: set once the flow's outcome is audited, so a retried Finish audits it once. */
  finished_at?: string;
}

/** The caps on writes waiting for a decision (`pending_approval`). */
export interface PendingCaps {
  /** Pending writes one user (`approval.user_id`) may have at once. */
  perUser: number;
  /** Pending writes in all. */
  total: number;
}

/**
 * Thrown by {@link ApprovalStore.create} when the new approval would exceed a cap; nothing was
 * stored and no slot was taken.
 */
export class PendingCapReached extends Error {
  constructor(
    /** Which cap: the user's own, or the one on all pending writes. */
    readonly cap: 'per_user' | 'total',
    /** How many writes that cap already counts (at least the cap). */
    readonly pending: number,
  ) {
    super(`the ${cap === 'per_user' ? "user's" : 'total'} cap on pending writes is reached`);
    this.name = 'PendingCapReached';
  }
}

/**
 * Storage for approvals. `transition` is a compare-and-set: it applies `patch` only when the
 * stored status is `from`, and returns the new approval, or null when the status had moved on.
 *
 * Every approval stored as `pending_approval` holds one slot of its user and one of the total,
 * taken in the same atomic step that stores it and given back in the same atomic step as the
 * `transition` that moves it out of `pending_approval` (to approved, denied, expired, failed, or
 * anything else), so the counts never drift and concurrent creates cannot overshoot a cap.
 */
export interface ApprovalStore {
  /**
   * Stores a new approval (refused when its id exists). A pending one takes its slots; with
   * `caps`, only while its user and the total are below them, else {@link PendingCapReached}
   * (the user's cap is reported when both are reached).
   */
  create(approval: Approval, caps?: PendingCaps): Promise<void>;
  get(approvalId: string): Promise<Approval | undefined>;
  getByRequest(requestId: string): Promise<Approval | undefined>;
  listByStatus(status: ApprovalStatus): Promise<Approval[]>;
  /**
   * Applies `patch` only when the stored status is `from` (and, when given, the stored
   * `version` is `expectedVersion`); bumps `version`. Returns the new approval, or null when
   * the condition did not hold. Leaving `pending_approval` gives its slots back, atomically.
   */
  transition(
    approvalId: string,
    from: ApprovalStatus,
    patch: Partial<Approval> & { status: ApprovalStatus },
    expectedVersion?: number,
  ): Promise<Approval | null>;
}

export interface Clock {
  now(): number;
}

export interface IdSource {
  requestId(): string;
  approvalId(): string;
}

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/**
 * Where HubSpot tokens come from. `refresh` bypasses any cache (after a HubSpot 401, the token
 * may have been rotated). Implementations throw `secrets_unavailable` when they cannot answer.
 */
export interface TokenProvider {
  get(kind: 'read' | 'write', options?: { refresh?: boolean }): Promise<string>;
}

/** Starts the wait for a decision on a new write (on AWS, the approval state machine). */
export interface ApprovalWorkflow {
  start(approval: Approval): Promise<void>;
}

/** One window of a rate limit: at most `limit` units per `seconds` (fixed windows). */
export interface LimitWindow {
  name: string;
  limit: number;
  seconds: number;
}

/**
 * Counters for the enforced limits (docs/ARCHITECTURE.md, "Data flow"). Shared on AWS (DynamoDB), in memory
 * locally. Any failure of the store is thrown, and the gateway then refuses (fails closed).
 */
export interface RateLimiter {
  /**
   * Takes `cost` units from every window of `key`, atomically per window. Returns null when
   * admitted, or the seconds until the first full window resets (nothing more is taken then).
   */
  take(
    key: string,
    windows: readonly LimitWindow[],
    nowMs: number,
    cost?: number,
  ): Promise<number | null>;
  /**
   * Gives back `cost` units that an admitted {@link take} took: called with the same `key`,
   * `windows`, `nowMs` and `cost`, it subtracts `cost` from the same window counters, atomically
   * per window and never below zero (a window holding less than `cost`, or never taken from, is
   * left as it is; nothing is created). For a request refused by a later check: it
   * then spends nothing of the budgets checked before. Failures are thrown, like `take`'s.
   */
  release(
    key: string,
    windows: readonly LimitWindow[],
    nowMs: number,
    cost?: number,
  ): Promise<void>;
  /** Adds `ids` to the distinct set of `key` in the current window; returns its size after. */
  addDistinct(
    key: string,
    ids: readonly string[],
    windowSeconds: number,
    nowMs: number,
  ): Promise<number>;
}
