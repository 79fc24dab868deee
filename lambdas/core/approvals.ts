import { isWriteAction, type ValidatedAction } from './catalog';
import { AirlockError, type AirlockErrorOptions, type ErrorCode } from './errors';
import { actionHash } from './hash';
import { foldCase } from './identity';
import {
  type Approval,
  type ApprovalStatus,
  type ApprovalStore,
  type CallContext,
  type Clock,
  type ControlState,
  type HubSpotCall,
  type HubSpotPort,
  type NoteInput,
  PendingCapReached,
  type PendingCaps,
} from './ports';
import { CREDENTIAL_RULE, containsSecret } from './redact';

/**
 * The approval lifecycle (docs/ARCHITECTURE.md, "The approval lifecycle"): every transition of a
 * write, with its rules, in this one module. The local gateway (its approval page) and the AWS
 * approval flow (Notify, the Slack callback, Write, Finish, and the ops function's `contain`
 * through the operator core) are adapters that call it; none of them moves a status itself.
 *
 * ```
 * requested ─▶ pending_approval ─┬─ approve (N distinct approvers) ─▶ approved ─▶ executing ─┬▶ completed
 *                                ├─ deny ──────────────────────────▶ denied                  └▶ failed
 *                                ├─ cancel (the kill switch) ──────▶ denied (gateway_contained)
 *                                ├─ expire / the workflow's timeout ▶ expired
 *                                └─ abandon (no flow, no record) ───▶ failed
 * ```
 *
 * The rules: a decision is bound to its action by the hash, made before the expiry, never
 * while the kill switch or read-only mode is on (a deny always goes through), by an approver
 * who is not the requester, once per approver; with the two-person rule, by N distinct
 * approvers. An approval with no audit record never runs. An approved write runs once: it is
 * marked before it is sent (a retry looks for the note first), its note id is kept, and the
 * switch is read afresh when it starts and again right before the note is sent.
 */

/** The error code of a write cancelled by the kill switch. */
export const CONTAINED_CANCEL = 'gateway_contained';

/** The rule of a refusal by a switch that was turned on while the work was in flight. */
export const CONTAINED_IN_FLIGHT = 'contained_in_flight';
export const READ_ONLY_IN_FLIGHT = 'read_only_in_flight';

/**
 * What an approval stopped right before its write says (`error.message`, code
 * `gateway_contained` or `read_only_mode`): local and AWS alike.
 */
export const WRITE_STOPPED_MESSAGE = {
  gateway_contained:
    'the kill switch was on when the write was about to be sent; nothing was written',
  read_only_mode: 'read-only mode was on when the write was about to be sent; nothing was written',
} as const;

/**
 * Every status transition, as data: the statuses a step may start from and the one it leads
 * to. Each method below moves through {@link ApprovalLifecycle.move}, which reads this table;
 * a step from any other status moves nothing (the store's compare-and-set refuses it).
 */
export const TRANSITIONS = {
  /** One approval of several (the two-person rule): counted, the write still waits. */
  count: { from: ['pending_approval'], to: 'pending_approval' },
  approve: { from: ['pending_approval'], to: 'approved' },
  deny: { from: ['pending_approval'], to: 'denied' },
  /** The kill switch cancels a pending write: denied, with `gateway_contained`. */
  cancel: { from: ['pending_approval'], to: 'denied' },
  /** Past its expiry with no decision (locally, the gateway's sweep or the next look at it). */
  expire: { from: ['pending_approval'], to: 'expired' },
  /**
   * The workflow's wait ran out (AWS): a decision made in its last instant is expired too, as
   * long as nothing was written (the workflow took the expiry path, so no write will run).
   */
  time_out: { from: ['pending_approval', 'approved'], to: 'expired' },
  /** A write that could not be queued (its flow did not start, its record was not written). */
  abandon: { from: ['pending_approval'], to: 'failed' },
  /** Executing: marked before the note is sent, so a retry looks for it before writing. */
  start: { from: ['approved'], to: 'approved' },
  /** The note is written; its id is kept, so the write is never made twice. */
  written: { from: ['approved'], to: 'approved' },
  complete: { from: ['approved'], to: 'completed' },
  /** The approved write did not complete (or cannot be traced, or was interrupted). */
  fail: { from: ['approved'], to: 'failed' },
} as const satisfies Record<string, { from: readonly ApprovalStatus[]; to: ApprovalStatus }>;

export type Step = keyof typeof TRANSITIONS;

/** Why the lifecycle refused: what an adapter maps to its own vocabulary (the AWS flow's errors). */
export type Refusal =
  /** No approval with this id. */
  | 'not_found'
  /** Decided already (or changed while being decided). */
  | 'not_pending'
  | 'expired'
  /** An approval while the kill switch or read-only mode is on. */
  | 'switch_on'
  /** The requester deciding on their own write. */
  | 'requester'
  /** The same approver approving twice (the two-person rule wants distinct ones). */
  | 'approved_twice'
  /** The hash shown to the approver, or the one the workflow started with, is not the approval's. */
  | 'hash_mismatch'
  /** The stored action no longer matches its hash. */
  | 'action_altered'
  /** No approved write with this id to run. */
  | 'not_approved'
  /** The switch was on when the write was about to be sent; nothing was sent. */
  | 'write_stopped'
  /** The approval changed while the write was being started: try again. */
  | 'changed'
  /** A retried write cannot look for the note an earlier attempt may have written. */
  | 'no_lookup'
  /** A cap on pending writes is reached. */
  | 'cap_reached'
  /** The write could not be queued (the store, the workflow). */
  | 'unavailable'
  /** The kill switch went on while the write was being queued: cancelled. */
  | 'contained';

/** A refusal of the lifecycle: an {@link AirlockError} that also says which rule refused. */
export class LifecycleError extends AirlockError {
  constructor(
    readonly refusal: Refusal,
    code: ErrorCode,
    message: string,
    options: AirlockErrorOptions = {},
  ) {
    super(code, message, options);
  }
}

/** The kill switch's refusal of any call (`rule` when it was turned on while the work was in flight). */
export function containedError(rule?: string): AirlockError {
  return new AirlockError(
    'gateway_contained',
    'The gateway is contained by its operator (kill switch); no action runs until it is released.',
    rule ? { details: { rule } } : {},
  );
}

/**
 * The guard an approved write passes when it starts and right before it is sent
 * ({@link CallContext.beforeWrite}): the switch read afresh; either flag on stops the write.
 */
export function writeStopped(control: {
  contained: boolean;
  readOnly: boolean;
}): LifecycleError | null {
  if (control.contained) {
    return new LifecycleError(
      'write_stopped',
      'gateway_contained',
      'The kill switch was turned on before this write was sent to HubSpot: nothing was written, and the approval is marked failed.',
      { details: { rule: CONTAINED_IN_FLIGHT } },
    );
  }
  if (control.readOnly) {
    return new LifecycleError(
      'write_stopped',
      'read_only_mode',
      'Read-only mode was turned on before this write was sent to HubSpot: nothing was written, and the approval is marked failed.',
      { details: { rule: READ_ONLY_IN_FLIGHT } },
    );
  }
  return null;
}

/** What a failed write keeps on its approval (`error`). */
export interface Failure {
  code: string;
  message: string;
}

/**
 * True when `e` is a write the switch stopped right before it was sent ({@link writeStopped}):
 * told apart by its rule, which survives the HubSpot adapter's handling of the guard's error.
 */
export function isWriteStopped(e: AirlockError): e is AirlockError & {
  code: keyof typeof WRITE_STOPPED_MESSAGE;
} {
  const rule = (e.details as { rule?: unknown } | undefined)?.rule;
  return (
    (rule === CONTAINED_IN_FLIGHT || rule === READ_ONLY_IN_FLIGHT) &&
    (e.code === 'gateway_contained' || e.code === 'read_only_mode')
  );
}

/** What a write that did not complete records: for one the switch stopped, what happened. */
export function failureOf(e: AirlockError): Failure {
  return { code: e.code, message: isWriteStopped(e) ? WRITE_STOPPED_MESSAGE[e.code] : e.message };
}

/** True when the kill switch cancelled this write (denied, `gateway_contained`). */
export function isCancelled(a: Approval): boolean {
  return a.status === 'denied' && a.error?.code === CONTAINED_CANCEL;
}

/**
 * Why an approval stands as it does, for its audit record: the expiry, the error of a failed
 * write, the kill switch's cancellation; null for a decision or a completed write.
 */
export function reasonOf(a: Approval): string | null {
  if (a.status === 'expired') return 'approval_expired';
  if (a.status === 'failed') return a.error?.code ?? 'failed';
  if (isCancelled(a)) return CONTAINED_CANCEL;
  return null;
}

/**
 * The HubSpot note an approved `create_note` writes; dated by the approval's creation. The text
 * is checked for credentials once more, exactly as it is sent: no secret ever reaches HubSpot.
 */
export function noteInputOf(approval: Approval, secrets: readonly string[] = []): NoteInput {
  const action = approval.action;
  // Only a write action has a write path, and `create_note` is the one there is.
  if (!isWriteAction(action.action) || action.action !== 'create_note') {
    throw new AirlockError('internal_error', `No write path for ${action.action}.`);
  }
  if (containsSecret(action.body, secrets)) {
    throw new AirlockError(
      'prompt_rejected',
      'The note holds a credential, so it was not written. Rotate that credential.',
      { details: { rule: CREDENTIAL_RULE } },
    );
  }
  const target = action.contact_id
    ? ({ type: 'contact', id: action.contact_id } as const)
    : ({ type: 'company', id: action.company_id ?? '' } as const);
  return { body: action.body, timestamp: approval.created_at, target };
}

/**
 * The hash binding: `expected` (the hash the approver was shown, or the one the workflow was
 * started with) must be the approval's, and the stored action must still hash to it.
 */
function checkHashBinding(approval: Approval, expected: string | undefined): void {
  if (expected !== undefined && expected !== approval.action_hash) {
    throw new LifecycleError(
      'hash_mismatch',
      'approval_mismatch',
      "The action_hash sent is not the hash of this approval's action: decide on what is shown now.",
    );
  }
  if (actionHash(approval.action) !== approval.action_hash) {
    throw new LifecycleError(
      'action_altered',
      'internal_error',
      'The stored action no longer matches its approval hash; nothing was written.',
    );
  }
}

export type DecisionOutcome =
  /** Counted, and more approvals are needed. */
  | { kind: 'recorded'; approval: Approval; remaining: number }
  | { kind: 'approved'; approval: Approval }
  | { kind: 'denied'; approval: Approval };

export interface DecisionInput {
  approvalId: string;
  /** The approver's identity (a Slack user id, the local approver key's name). */
  deciderId: string;
  decision: 'approve' | 'deny';
  /** The action hash the approver was shown; undefined where the channel cannot carry it. */
  seenHash?: string;
}

/**
 * Who is who across identities. The `user_id` of a request is what the agent says, so it proves
 * nothing: comparing it with the approver would let an agent block any approver by naming them.
 * A deployment that knows which approver identities belong to which user maps them here; then
 * that person cannot approve a write asked in their name.
 */
export interface ApprovalRules {
  /** Canonical user id → the approver identities (Slack user ids, local key names) of that person. */
  userApprovers?: Readonly<Record<string, readonly string[]>>;
}

export interface LifecycleDeps {
  approvals: ApprovalStore;
  clock: Clock;
  /**
   * The kill switch and read-only mode. `read` (possibly cached) holds decisions; `fresh` (or
   * `read` without it) is read where a write starts, right before it is sent, and after a new
   * write is stored.
   */
  control: ControlState;
  rules?: ApprovalRules;
}

/** A write asked for by the agent, to be held for approval. */
export interface WriteRequest {
  approvalId: string;
  requestId: string;
  action: ValidatedAction;
  userId: string;
  agentPrompt: string;
  /** Who authenticated the request (the agent's credential). */
  requestedBy: string;
  ttlMs: number;
  /** Distinct approvals it needs (the two-person rule). */
  requiredApprovals: number;
  caps: PendingCaps;
  /** Starts the wait for a decision (AWS: the state machine); none locally. */
  start?: (approval: Approval) => Promise<void>;
  /** Writes the request's audit record; a write with no record is never approvable. */
  record: (approval: Approval) => Promise<void>;
}

/** One run of an approved write. */
export interface WriteRun {
  hubspot: HubSpotPort;
  /** Epoch ms after which HubSpot calls give up. */
  deadline: number;
  /** Every HubSpot call made is appended here. */
  calls: HubSpotCall[];
  /** The hash the workflow was started with (AWS); the approval's own when absent. */
  expectedHash?: string;
  /** The deployment's secrets: a note holding one is never sent. */
  secrets?: readonly string[];
}

/** How the workflow reports the end of a write's flow (AWS: the Finish task's input). */
export type FlowOutcome = 'completed' | 'denied' | 'expired' | 'failed';

export class ApprovalLifecycle {
  private readonly rules: ApprovalRules;

  constructor(private readonly deps: LifecycleDeps) {
    this.rules = deps.rules ?? {};
  }

  private iso(): string {
    return new Date(this.deps.clock.now()).toISOString();
  }

  /** The switch as stored now (uncached where the port allows). */
  private current(): Promise<{ contained: boolean; readOnly: boolean }> {
    const control = this.deps.control;
    return control.fresh ? control.fresh() : control.read();
  }

  /**
   * Moves `approval` by `step`: from the first status of the step's `from` that the store still
   * holds, to its `to`, with `patch`. Null when the approval is in none of them (it moved on).
   */
  private async move(
    step: Step,
    approvalId: string,
    patch: Omit<Partial<Approval>, 'status'> = {},
    expectedVersion?: number,
  ): Promise<Approval | null> {
    const { from, to } = TRANSITIONS[step];
    for (const status of from) {
      const moved = await this.deps.approvals.transition(
        approvalId,
        status,
        { ...patch, status: to },
        expectedVersion,
      );
      if (moved) return moved;
    }
    return null;
  }

  // ---- requested ----------------------------------------------------------------------------

  /**
   * Stores a new pending write (the caps are counted in the same atomic step), starts its
   * workflow and writes its record. Throws `rate_limited` (a cap), `approvals_unavailable` (the
   * store or the workflow), `gateway_contained` (the switch went on while it was stored: it is
   * cancelled as the sweep would have), or what `record` threw (the write is then abandoned: a
   * write nobody can trace is never approvable).
   */
  async request(input: WriteRequest): Promise<Approval> {
    const now = this.deps.clock.now();
    const approval: Approval = {
      approval_id: input.approvalId,
      request_id: input.requestId,
      action: input.action,
      action_hash: actionHash(input.action),
      user_id: input.userId,
      agent_prompt: input.agentPrompt,
      requested_by: input.requestedBy,
      status: 'pending_approval',
      created_at: new Date(now).toISOString(),
      expires_at: new Date(now + input.ttlMs).toISOString(),
      required_approvals: input.requiredApprovals,
      approvals: [],
      version: 0,
    };
    try {
      await this.deps.approvals.create(approval, input.caps);
    } catch (err) {
      if (!(err instanceof PendingCapReached)) {
        // A store that cannot take the write now (contention, an outage) is a retryable 503.
        throw new LifecycleError(
          'unavailable',
          'approvals_unavailable',
          'The write could not be queued for approval now; nothing was queued. Retry later.',
          { cause: err },
        );
      }
      throw new LifecycleError(
        'cap_reached',
        'rate_limited',
        err.cap === 'per_user'
          ? `${err.pending} writes of this user already wait for approval; wait for decisions before asking for more.`
          : 'Too many writes wait for approval; wait for decisions before asking for more.',
        { retryAfterSeconds: 60, details: { rule: 'pending_approvals' } },
      );
    }
    // A `contain` whose sweep ran while this write was being stored would miss it: read the
    // switch afresh now, and cancel the write as the sweep would have.
    if ((await this.current()).contained) {
      await this.cancel(approval.approval_id, input.requestedBy);
      throw containedError(CONTAINED_IN_FLIGHT);
    }
    if (input.start) {
      try {
        await input.start(approval);
      } catch (cause) {
        await this.abandon(approval.approval_id, {
          code: 'approvals_unavailable',
          message: 'the approval flow could not start',
        });
        throw new LifecycleError(
          'unavailable',
          'approvals_unavailable',
          'The approval flow could not be started, so the write was not queued. Retry later.',
          { cause },
        );
      }
    }
    try {
      await input.record(approval);
    } catch (err) {
      await this.abandon(approval.approval_id, AUDIT_FAILURE);
      throw err;
    }
    return approval;
  }

  /** pending → failed: a write whose flow failed before any decision. */
  abandon(approvalId: string, error: Failure): Promise<Approval | null> {
    return this.move('abandon', approvalId, { error });
  }

  // ---- decided ------------------------------------------------------------------------------

  /** True when `deciderId` is the requester: the agent's credential, or the mapped person. */
  private isRequester(approval: Approval, deciderId: string): boolean {
    if (deciderId === approval.requested_by) return true;
    const own = this.rules.userApprovers?.[foldCase(approval.user_id)] ?? [];
    const decider = foldCase(deciderId);
    return own.some((id) => foldCase(id) === decider);
  }

  /**
   * Applies one decision. Throws `gateway_contained` or `read_only_mode` (an approval while the
   * switch is on; the write stays pending), `not_found`, `approval_expired`, `already_decided`,
   * `approver_required` (the requester deciding) or `approval_mismatch`. With `record`, the
   * decision's audit record is written before this returns; an approval whose record cannot be
   * written is failed (it never runs) and the error thrown.
   */
  async decide(
    input: DecisionInput,
    record?: (outcome: DecisionOutcome) => Promise<void>,
  ): Promise<DecisionOutcome> {
    if (input.decision === 'approve') {
      const control = await this.deps.control.read();
      if (control.contained || control.readOnly) {
        throw new LifecycleError(
          'switch_on',
          control.contained ? 'gateway_contained' : 'read_only_mode',
          'Writes are stopped by the operator; the approval stays pending until they resume.',
        );
      }
    }
    const outcome = await this.applyDecision(input);
    if (record) {
      try {
        await record(outcome);
      } catch (err) {
        if (outcome.kind === 'approved')
          await this.fail(outcome.approval.approval_id, AUDIT_FAILURE);
        throw err;
      }
    }
    return outcome;
  }

  private async applyDecision(input: DecisionInput): Promise<DecisionOutcome> {
    // A concurrent decision moves the version on; read again and re-check, a few times.
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const approval = await this.deps.approvals.get(input.approvalId);
      if (!approval)
        throw new LifecycleError('not_found', 'not_found', 'No approval with this id.');
      this.check(approval, input);
      const outcome = await this.apply(approval, input);
      if (outcome) return outcome;
    }
    throw new LifecycleError(
      'not_pending',
      'already_decided',
      'This approval changed while it was being decided.',
    );
  }

  /** The decision rules, on the approval as stored now. */
  check(approval: Approval, input: DecisionInput): void {
    if (
      approval.status === 'expired' ||
      (approval.status === 'pending_approval' && this.isDue(approval))
    ) {
      throw new LifecycleError(
        'expired',
        'approval_expired',
        `This approval expired at ${approval.expires_at}; the agent must ask again.`,
      );
    }
    if (approval.status !== 'pending_approval') {
      throw new LifecycleError(
        'not_pending',
        'already_decided',
        `This approval is already ${approval.status}.`,
        { details: { status: approval.status } },
      );
    }
    if (this.isRequester(approval, input.deciderId)) {
      throw new LifecycleError(
        'requester',
        'approver_required',
        'The person who asked for this write cannot decide on it; another approver must.',
      );
    }
    checkHashBinding(approval, input.seenHash);
    if (
      input.decision === 'approve' &&
      (approval.approvals ?? []).some((a) => a.by === input.deciderId)
    ) {
      throw new LifecycleError(
        'approved_twice',
        'already_decided',
        'You have already approved this write; it waits for another approver.',
        { details: { status: approval.status } },
      );
    }
  }

  private isDue(approval: Approval): boolean {
    return Date.parse(approval.expires_at) <= this.deps.clock.now();
  }

  /** One compare-and-set; null when the approval changed meanwhile. */
  private async apply(approval: Approval, input: DecisionInput): Promise<DecisionOutcome | null> {
    const at = this.iso();
    const version = approval.version ?? 0;
    if (input.decision === 'deny') {
      const denied = await this.move(
        'deny',
        approval.approval_id,
        { decided_at: at, decided_by: input.deciderId },
        version,
      );
      return denied && { kind: 'denied', approval: denied };
    }
    const approvals = [...(approval.approvals ?? []), { by: input.deciderId, at }];
    const required = Math.max(1, approval.required_approvals ?? 1);
    if (approvals.length < required) {
      const counted = await this.move('count', approval.approval_id, { approvals }, version);
      return (
        counted && { kind: 'recorded', approval: counted, remaining: required - approvals.length }
      );
    }
    const approved = await this.move(
      'approve',
      approval.approval_id,
      { approvals, decided_at: at, decided_by: approvals.map((a) => a.by).join(', ') },
      version,
    );
    return approved && { kind: 'approved', approval: approved };
  }

  /**
   * The approval a workflow is about to show for a decision (AWS: Notify): still pending, and
   * bound to the hash the workflow was started with. Throws `not_found`, `already_decided`,
   * `approval_mismatch` or `internal_error` (the stored action was altered).
   */
  async awaitingDecision(approvalId: string, expectedHash: string): Promise<Approval> {
    const a = await this.deps.approvals.get(approvalId);
    if (!a) throw new LifecycleError('not_found', 'not_found', 'No approval with this id.');
    if (a.status !== 'pending_approval') {
      throw new LifecycleError('not_pending', 'already_decided', `This approval is ${a.status}.`, {
        details: { status: a.status },
      });
    }
    checkHashBinding(a, expectedHash);
    return a;
  }

  // ---- cancelled, expired -------------------------------------------------------------------

  /** pending → denied by the kill switch (`gateway_contained`); null when no longer pending. */
  cancel(approvalId: string, by: string): Promise<Approval | null> {
    return this.move('cancel', approvalId, {
      decided_at: this.iso(),
      decided_by: by,
      error: {
        code: CONTAINED_CANCEL,
        message: 'Cancelled by the kill switch; ask again once the gateway is released.',
      },
    });
  }

  /** pending → expired when its expiry has passed; null when not due or no longer pending. */
  async expireIfDue(approval: Approval): Promise<Approval | null> {
    if (approval.status !== 'pending_approval' || !this.isDue(approval)) return null;
    return this.move('expire', approval.approval_id);
  }

  /**
   * The workflow's wait timed out: pending → expired, or a decision made in its last instant
   * (approved, nothing written) → expired. Null when the approval is elsewhere.
   */
  async timeOut(approval: Approval): Promise<Approval | null> {
    const { to } = TRANSITIONS.time_out;
    const expired = await this.deps.approvals.transition(approval.approval_id, 'pending_approval', {
      status: to,
    });
    if (expired || approval.result) return expired;
    return this.deps.approvals.transition(approval.approval_id, 'approved', { status: to });
  }

  // ---- executing, completed, failed ---------------------------------------------------------

  /**
   * Runs an approved write, exactly once: a write whose note is already kept answers that note
   * (nothing is sent); otherwise the write is marked as started (a retry then looks for the
   * note before writing), sent, and its note id kept (the approval stays approved until
   * {@link complete}). The switch is read afresh when it starts and right before the note is
   * sent. Throws a {@link LifecycleError} (`not_approved`, `hash_mismatch`, `action_altered`,
   * `write_stopped`, `changed`, `no_lookup`), the note check's `prompt_rejected`, HubSpot's
   * errors, or the store's.
   */
  async execute(approvalId: string, run: WriteRun): Promise<string> {
    const a = await this.deps.approvals.get(approvalId);
    if (a?.result?.note_id) return a.result.note_id;
    if (a?.status !== 'approved') {
      throw new LifecycleError(
        'not_approved',
        'not_found',
        'No approved write with this id; nothing was written.',
      );
    }
    checkHashBinding(a, run.expectedHash);
    const refuseIfStopped = async () => {
      const stopped = writeStopped(await this.current());
      if (stopped) throw stopped;
    };
    await refuseIfStopped();
    const input = noteInputOf(a, run.secrets);
    // The switch again right before the POST: a `contain` that landed during the lookup (or
    // while the token was fetched) stops the write before anything is sent.
    const ctx: CallContext = {
      deadline: run.deadline,
      calls: run.calls,
      beforeWrite: refuseIfStopped,
    };
    let noteId: string | null = null;
    if (a.write_started_at) {
      // An earlier attempt may have written the note before it failed: look first.
      if (!run.hubspot.findNote) {
        throw new LifecycleError(
          'no_lookup',
          'internal_error',
          'Cannot check for an earlier write, so nothing was written.',
        );
      }
      noteId = await run.hubspot.findNote(input, ctx);
    } else {
      const marked = await this.move(
        'start',
        a.approval_id,
        { write_started_at: this.iso() },
        a.version ?? 0,
      );
      if (!marked) {
        throw new LifecycleError(
          'changed',
          'approvals_unavailable',
          'The approval changed while its write was starting; try again.',
        );
      }
    }
    noteId ??= await run.hubspot.createNote(input, ctx);
    await this.move('written', a.approval_id, { result: { note_id: noteId } });
    return noteId;
  }

  /** approved → completed, with the note it wrote; null when no longer approved. */
  complete(approvalId: string, noteId: string): Promise<Approval | null> {
    return this.move('complete', approvalId, { result: { note_id: noteId } });
  }

  /** approved → failed: the write did not complete; null when no longer approved. */
  fail(approvalId: string, error: Failure): Promise<Approval | null> {
    return this.move('fail', approvalId, { error });
  }

  /**
   * After a restart: a write approved with no outcome may or may not have reached HubSpot. One
   * whose note is kept is completed; any other is never sent again (that could write twice): it
   * is failed (`interrupted`), so the operator checks HubSpot for it. Returns what it moved.
   */
  async recoverInterrupted(): Promise<Approval[]> {
    const moved: Approval[] = [];
    for (const a of await this.deps.approvals.listByStatus('approved')) {
      const done = a.result?.note_id
        ? await this.complete(a.approval_id, a.result.note_id)
        : await this.fail(a.approval_id, {
            code: 'interrupted',
            message:
              'The gateway stopped while this write was running; check HubSpot for the note.',
          });
      if (done) moved.push(done);
    }
    return moved;
  }

  /**
   * The end of a write's flow as the workflow reports it (AWS: the Finish task), settled into
   * the approval's final status. A write the kill switch cancelled ends denied whichever way
   * the workflow came here; `completed` needs the note's id (else the write failed); `expired`
   * is {@link timeOut}; `failed` fails an approved write, or abandons a pending one. Returns the
   * outcome settled on and the approval as it now stands.
   */
  async conclude(
    approval: Approval,
    reported: FlowOutcome,
    opts: { noteId?: string; failure: Failure },
  ): Promise<{ outcome: FlowOutcome; final: Approval }> {
    let outcome = reported;
    let done: Approval | null;
    if (isCancelled(approval)) {
      outcome = 'denied';
      done = approval;
    } else if (reported === 'completed' && opts.noteId) {
      done = await this.complete(approval.approval_id, opts.noteId);
    } else if (reported === 'denied') {
      done = approval.status === 'denied' ? approval : null;
    } else if (reported === 'expired') {
      done = await this.timeOut(approval);
    } else {
      outcome = 'failed';
      done =
        (await this.fail(approval.approval_id, opts.failure)) ??
        (await this.abandon(approval.approval_id, opts.failure));
    }
    const final = done ?? (await this.deps.approvals.get(approval.approval_id)) ?? approval;
    return { outcome, final };
  }

  /**
   * Notes something on the approval without moving its status (the Slack message that shows
   * it; when the end of its flow was audited). Null when its status moved on meanwhile.
   */
  annotate(
    approval: Pick<Approval, 'approval_id' | 'status'>,
    note: Pick<Approval, 'slack'> | Pick<Approval, 'finished_at'>,
  ): Promise<Approval | null> {
    return this.deps.approvals.transition(approval.approval_id, approval.status, {
      ...note,
      status: approval.status,
    });
  }
}

/** What an approval whose audit record could not be written keeps: it never runs. */
const AUDIT_FAILURE: Failure = {
  code: 'audit_unavailable',
  message: 'the audit log was unavailable',
};
