import {
  ApprovalLifecycle,
  type ApprovalRules,
  CONTAINED_IN_FLIGHT,
  containedError,
  failureOf,
  isWriteStopped,
} from './approvals';
import { type AuditOutcome, type AuditRecord, lastCall } from './audit';
import {
  approvalEventFields,
  approvalFields,
  approvalRecordFields,
  buildAuditRecord,
  type RecordFields,
} from './audit-record';
import { BoundsError, parseBoundedJson, renderRaw } from './bounded';
import { catalogHash, findAction, openAiTools, type ValidatedAction } from './catalog';
import { AirlockError, asAirlockError, errorAnswer, type HttpAnswer } from './errors';
import { budgetKey } from './identity';
import { checkPrompt, type PromptMode } from './policy';
import type {
  Approval,
  ApprovalStore,
  ApprovalWorkflow,
  AuditSink,
  CallContext,
  Clock,
  ControlState,
  HubSpotCall,
  HubSpotPort,
  IdSource,
  LimitWindow,
  Logger,
  RateLimiter,
} from './ports';
import { isRead, runRead, searchesOf } from './reads';
import { CREDENTIAL_RULE, containsSecret, valueHoldsSecret } from './redact';
import { auditFieldsOf, parseEnvelope, parseJson, screenStrings, validateAction } from './validate';

export interface GatewayConfig {
  /** `block` refuses prompts with injection markers (422); `flag` records them and goes on. */
  promptMode: PromptMode;
  /** Actions this deployment allows; null allows the whole catalog. */
  allowedActions: readonly string[] | null;
  /** How long one request may spend on HubSpot, retries included. @default 8000 */
  requestDeadlineMs: number;
  /** How long a write waits for a decision before it expires. @default 3600000 (1 h) */
  approvalTtlMs: number;
  /** The status URL given to the agent for a pending write. */
  statusUrl(requestId: string): string;
  /** Pending writes one user may have at once; more answer 429. @default 20 */
  maxPendingPerUser?: number;
  /** Pending writes in all; more answer 429. @default 200 */
  maxPending?: number;
  /** Which approver identities are the same person as a user id (see {@link ApprovalRules}). */
  userApprovers?: ApprovalRules['userApprovers'];
  /** Distinct approvals each write action needs (the two-person rule). @default 1 each */
  requiredApprovals?: Readonly<Record<string, number>>;
  /** Enforced read limits; none when absent. */
  limits?: ReadLimits;
}

/** The enforced limits (issue "watch and limit"); each refusal is a 429 with Retry-After. */
export interface ReadLimits {
  /** Reads one user may make per minute. @default 30 */
  readsPerMinute: number;
  /** Reads one user may make per hour. @default 300 */
  readsPerHour: number;
  /** Distinct CRM records one user may receive per hour (the bulk-export guard). @default 200 */
  distinctRecordsPerHour: number;
  /** HubSpot searches per second, all users: below HubSpot's 5. @default 4 */
  hubspotSearchPerSecond: number;
  /** HubSpot calls per 10 s, all users: below HubSpot's 100. @default 90 */
  hubspotCallsPerTenSeconds: number;
}

export interface GatewayDeps {
  hubspot: HubSpotPort;
  audit: AuditSink;
  approvals: ApprovalStore;
  control: ControlState;
  clock: Clock;
  ids: IdSource;
  log: Logger;
  config: GatewayConfig;
  /** The secrets this deployment holds; any found in a record is redacted before it is written. */
  secrets?: () => readonly string[];
  /** Where a new write waits for its decision; none locally (the approval page polls). */
  workflow?: ApprovalWorkflow;
  /** The counters behind the enforced limits (`config.limits`). */
  limiter?: RateLimiter;
}

/** Who is calling, as established by the edge (a bearer key locally, IAM on AWS). */
export interface Caller {
  id: string;
  role: 'agent' | 'approver' | 'operator';
}

export interface RequestMeta {
  requestId: string;
  /** The route called, or null for an event no caller triggered (an expiry). */
  route: string | null;
  /** Epoch ms when the request arrived. */
  startedAt: number;
}

/**
 * The gateway's core: every route's behaviour, over ports. The local server and the Lambda
 * handlers are thin edges around these functions.
 */
export class Gateway {
  /** Every transition of a write goes through it (docs/ARCHITECTURE.md, "The approval lifecycle"). */
  private readonly lifecycle: ApprovalLifecycle;

  constructor(private readonly deps: GatewayDeps) {
    this.lifecycle = new ApprovalLifecycle({
      approvals: deps.approvals,
      clock: deps.clock,
      control: deps.control,
      rules: { userApprovers: deps.config.userApprovers },
    });
  }

  /** Writes one audit record; throws `audit_unavailable` when the sink fails. */
  private async audit(meta: RequestMeta, fields: RecordFields): Promise<void> {
    const record = buildAuditRecord(
      meta,
      fields,
      this.deps.clock.now(),
      this.deps.secrets?.() ?? [],
    );
    try {
      await this.deps.audit.append(record);
    } catch (cause) {
      this.deps.log.error('audit write failed', {
        request_id: meta.requestId,
        error: cause instanceof Error ? cause.message : String(cause),
      });
      throw new AirlockError(
        'audit_unavailable',
        'The audit log is unavailable, so the request was not completed. Retry later.',
        { cause },
      );
    }
  }

  /**
   * Answers an error and writes its audit record. When even the audit record cannot be written,
   * the answer becomes 503 and the failure is logged (without the request's data).
   */
  private async refuse(
    meta: RequestMeta,
    err: unknown,
    fields: Partial<AuditRecord>,
  ): Promise<HttpAnswer> {
    const e = asAirlockError(err);
    if (e.code === 'internal_error') {
      this.deps.log.error('unexpected error', {
        request_id: meta.requestId,
        error: e.cause instanceof Error ? e.cause.stack : String(e.cause),
      });
    }
    const answer = errorAnswer(meta.requestId, e);
    const outcome: AuditOutcome = e.status >= 500 ? 'failed' : 'rejected';
    try {
      await this.audit(meta, {
        ...fields,
        outcome,
        reason: e.code,
        ...ruleOf(e.details),
        response_status: answer.status,
        hubspot_status: e.hubspotStatus ?? lastCall(fields.hubspot_calls ?? []).hubspot_status,
      });
    } catch (auditErr) {
      return errorAnswer(meta.requestId, auditErr);
    }
    return answer;
  }

  /**
   * A request refused at the edge before its body was read (no credential, wrong content
   * type, too large, unknown route): it still gets its one audit record. `received` is the
   * edge's bounded rendering of a request no route could parse (Node's HTTP parser refused it,
   * or its target is not origin-form); it is recorded as the record's `structured_action`.
   */
  async refuseAtEdge(
    meta: RequestMeta,
    caller: Caller | null,
    err: AirlockError,
    rawBody?: string,
    received?: Record<string, unknown>,
  ): Promise<HttpAnswer> {
    const fields = {
      ...(rawBody === undefined ? auditFieldsOf(null) : auditFieldsOfRaw(rawBody)),
      ...(received === undefined ? {} : { structured_action: received }),
    };
    let reason = err;
    if (caller && meta.route?.includes(' /v1/') && (await this.deps.control.read()).contained) {
      // The kill switch answers every /v1 call, however malformed (docs/ARCHITECTURE.md, "Security invariants").
      reason = containedError();
    }
    return this.refuse(meta, reason, { ...fields, caller: caller?.id ?? null });
  }

  /** `POST /v1/actions`. */
  async handleAction(meta: RequestMeta, caller: Caller, rawBody: string): Promise<HttpAnswer> {
    let body: unknown = null;
    let fields: Partial<AuditRecord> = { caller: caller.id };
    const calls: HubSpotCall[] = [];
    try {
      if (caller.role !== 'agent') {
        throw new AirlockError(
          'unauthorized',
          "This route takes the agent's credential; the approver key cannot run actions.",
        );
      }
      const control = await this.deps.control.read();
      try {
        body = parseJson(rawBody);
      } catch (err) {
        fields = { ...fields, structured_action: renderingOf(err, rawBody) };
        if (!control.contained) throw err;
      }
      fields = { ...fields, ...auditFieldsOf(body) };
      if (control.contained) throw containedError();
      // Credentials are looked for in what the body means (every decoded string), not only
      // in how it is spelled; then every string must pass the Unicode policy.
      this.refuseSecrets(rawBody, body);
      const envelope = parseEnvelope(screenStrings(body));
      const action = validateAction(envelope.action);
      fields = {
        ...fields,
        user_id: envelope.user_id,
        agent_prompt: envelope.agent_prompt,
        structured_action: action,
        action: action.action,
      };
      if (control.readOnly && !isRead(action)) {
        throw new AirlockError(
          'read_only_mode',
          'The gateway is in read-only mode; writes are refused until the operator turns it off.',
        );
      }
      const allowed = this.deps.config.allowedActions;
      if (allowed && !allowed.includes(action.action)) {
        throw new AirlockError(
          'action_not_allowed',
          `${action.action} is not enabled on this gateway; allowed: ${allowed.join(', ') || 'none'}.`,
        );
      }
      const flags = checkPrompt(envelope.agent_prompt, this.deps.config.promptMode);
      if (flags.length > 0) fields = { ...fields, prompt_flags: flags };

      if (isRead(action)) {
        const ctx: CallContext = {
          deadline: meta.startedAt + this.deps.config.requestDeadlineMs,
          calls,
        };
        await this.admitRead(envelope.user_id, searchesOf(action));
        const { data, recordCount, recordIds } = await runRead(action, this.deps.hubspot, ctx);
        await this.guardBulkExport(envelope.user_id, recordIds);
        // The switch again, uncached, where the data leaves: a `contain` that answered while
        // this read waited on HubSpot withholds its data. The record says what was withheld
        // (the calls made, how many records), never the data.
        if ((await this.currentControl()).contained) {
          fields = { ...fields, record_count: recordCount };
          throw containedError(CONTAINED_IN_FLIGHT);
        }
        // The data leaves only after its audit record is durably written (docs/ARCHITECTURE.md, "The audit record").
        await this.audit(meta, {
          ...fields,
          outcome: 'completed',
          response_status: 200,
          hubspot_calls: calls,
          record_count: recordCount,
        });
        return {
          status: 200,
          headers: {},
          body: { request_id: meta.requestId, status: 'completed', action: action.action, data },
        };
      }
      // What the approval store, the approver and HubSpot would get, checked once more as stored.
      this.refuseSecrets('', [envelope.user_id, envelope.agent_prompt, action]);
      return await this.startApproval(meta, caller, envelope, action, fields);
    } catch (err) {
      return this.refuse(meta, err, { ...fields, hubspot_calls: calls });
    }
  }

  private async startApproval(
    meta: RequestMeta,
    caller: Caller,
    envelope: { user_id: string; agent_prompt: string },
    action: ValidatedAction,
    fields: Partial<AuditRecord>,
  ): Promise<HttpAnswer> {
    // The store counts and creates in one atomic step (the slot is reserved as the approval is
    // stored), so simultaneous requests cannot overshoot a cap.
    const workflow = this.deps.workflow;
    const approval = await this.lifecycle.request({
      approvalId: this.deps.ids.approvalId(),
      requestId: meta.requestId,
      action,
      userId: envelope.user_id,
      agentPrompt: envelope.agent_prompt,
      requestedBy: caller.id,
      ttlMs: this.deps.config.approvalTtlMs,
      requiredApprovals: this.deps.config.requiredApprovals?.[action.action] ?? 1,
      caps: {
        perUser: this.deps.config.maxPendingPerUser ?? 20,
        total: this.deps.config.maxPending ?? 200,
      },
      ...(workflow ? { start: (a: Approval) => workflow.start(a) } : {}),
      // No record, no approval: a write nobody can trace must never be approvable.
      record: (a) =>
        this.audit(meta, {
          ...fields,
          outcome: 'pending_approval',
          response_status: 202,
          approval: approvalFields(a),
        }),
    });
    return {
      status: 202,
      headers: {},
      body: {
        request_id: meta.requestId,
        status: 'pending_approval',
        action: action.action,
        approval: { id: approval.approval_id, expires_at: approval.expires_at },
        status_url: this.deps.config.statusUrl(meta.requestId),
      },
    };
  }

  /**
   * The per-user read limits and the gateway's budget under HubSpot's own limits. A store that
   * cannot count refuses the read (fails closed).
   */
  private async admitRead(userId: string, searches: number): Promise<void> {
    const limits = this.deps.config.limits;
    const limiter = this.deps.limiter;
    if (!limits || !limiter) return;
    const now = this.deps.clock.now();
    const wait = async (key: string, windows: LimitWindow[], cost = 1) => {
      try {
        return await limiter.take(key, windows, now, cost);
      } catch (cause) {
        throw new AirlockError(
          'limits_unavailable',
          'The rate limits could not be checked, so the read was refused. Retry later.',
          { cause },
        );
      }
    };
    const user = `user:${budgetKey(userId)}`;
    const userWindows: LimitWindow[] = [
      { name: 'minute', limit: limits.readsPerMinute, seconds: 60 },
      { name: 'hour', limit: limits.readsPerHour, seconds: 3600 },
    ];
    const userWait = await wait(user, userWindows);
    if (userWait !== null) {
      throw new AirlockError(
        'rate_limited',
        `This user has made too many reads (${limits.readsPerMinute} a minute, ${limits.readsPerHour} an hour); retry after the Retry-After delay.`,
        { retryAfterSeconds: userWait, details: { rule: 'reads_per_user' } },
      );
    }
    // A read the HubSpot budget refuses (or cannot check) never reaches HubSpot: it gives the
    // user's unit back, so it spends nothing of the user's budget. A failed give-back leaves the
    // unit spent (the limiter errs on the side of refusing) and the read is refused as it was.
    const giveBack = async () => {
      try {
        await limiter.release(user, userWindows, now);
      } catch (cause) {
        this.deps.log.warn('a refused read could not give back its unit of the user budget', {
          error: cause instanceof Error ? cause.message : String(cause),
        });
      }
    };
    let budgetWait: number | null;
    try {
      budgetWait = await wait(
        'hubspot',
        [
          { name: 'second', limit: limits.hubspotSearchPerSecond, seconds: 1 },
          { name: 'ten-seconds', limit: limits.hubspotCallsPerTenSeconds, seconds: 10 },
        ],
        searches,
      );
    } catch (err) {
      await giveBack();
      throw err;
    }
    if (budgetWait !== null) {
      await giveBack();
      throw new AirlockError(
        'rate_limited',
        "The gateway's share of HubSpot's rate limit is used up for now; retry after the Retry-After delay.",
        { retryAfterSeconds: budgetWait, details: { rule: 'hubspot_budget' } },
      );
    }
  }

  /** The bulk-export guard: distinct records one user receives in an hour. */
  private async guardBulkExport(userId: string, recordIds: string[]): Promise<void> {
    const limits = this.deps.config.limits;
    const limiter = this.deps.limiter;
    if (!limits || !limiter || recordIds.length === 0) return;
    let distinct: number;
    try {
      distinct = await limiter.addDistinct(
        `records:${budgetKey(userId)}`,
        recordIds,
        3600,
        this.deps.clock.now(),
      );
    } catch (cause) {
      throw new AirlockError(
        'limits_unavailable',
        'The rate limits could not be checked, so the data was withheld. Retry later.',
        { cause },
      );
    }
    if (distinct > limits.distinctRecordsPerHour) {
      throw new AirlockError(
        'rate_limited',
        `This user has received ${limits.distinctRecordsPerHour} distinct CRM records this hour (bulk-export guard); the data was withheld.`,
        {
          retryAfterSeconds: 3600 - (Math.floor(this.deps.clock.now() / 1000) % 3600),
          details: { rule: 'bulk_export' },
        },
      );
    }
  }

  /** `GET /v1/actions/{request_id}`. */
  async getStatus(meta: RequestMeta, caller: Caller, requestId: string): Promise<HttpAnswer> {
    const fields: Partial<AuditRecord> = { caller: caller.id };
    try {
      await this.ensureOpen(caller);
      let approval = await this.deps.approvals.getByRequest(requestId);
      if (!approval) {
        throw new AirlockError(
          'not_found',
          'No write with this request_id. Only writes have a status; reads answer at once.',
        );
      }
      approval = await this.expireIfDue(approval);
      const body = statusBody(approval);
      await this.audit(meta, {
        ...fields,
        action: approval.action.action,
        user_id: approval.user_id,
        outcome: 'completed',
        response_status: 200,
        approval: { approval_id: approval.approval_id },
      });
      return { status: 200, headers: {}, body: { ...body, request_id: requestId } };
    } catch (err) {
      return this.refuse(meta, err, fields);
    }
  }

  /** `GET /v1/tools`. */
  async listTools(meta: RequestMeta, caller: Caller): Promise<HttpAnswer> {
    const fields: Partial<AuditRecord> = { caller: caller.id };
    try {
      await this.ensureOpen(caller);
      const tools = openAiTools();
      await this.audit(meta, { ...fields, outcome: 'completed', response_status: 200 });
      return {
        status: 200,
        headers: {},
        body: { request_id: meta.requestId, catalog_hash: catalogHash(), tools },
      };
    } catch (err) {
      return this.refuse(meta, err, fields);
    }
  }

  /** The switch as stored now (uncached where the port allows): where data leaves or a write goes. */
  private currentControl(): Promise<{ contained: boolean; readOnly: boolean }> {
    const control = this.deps.control;
    return control.fresh ? control.fresh() : control.read();
  }

  private async ensureOpen(caller: Caller): Promise<void> {
    if (caller.role !== 'agent') {
      throw new AirlockError('unauthorized', "This route takes the agent's credential.");
    }
    if ((await this.deps.control.read()).contained) throw containedError();
  }

  /**
   * A request that carries one of the gateway's own credentials is refused: it would otherwise
   * be stored with a pending write, shown to approvers and written into HubSpot.
   */
  private refuseSecrets(rawBody: string, body: unknown = null): void {
    const secrets = this.deps.secrets?.() ?? [];
    if (containsSecret(rawBody, secrets) || valueHoldsSecret(body, secrets)) {
      throw new AirlockError(
        'prompt_rejected',
        "The request contains a credential (a HubSpot, Slack or AWS key, or one of the gateway's own); it was not run, and it is redacted from the audit log. Rotate that credential.",
        { details: { rule: CREDENTIAL_RULE } },
      );
    }
  }

  /** Operator data (the local dashboard): approver credential only, audited like any request. */
  async operatorData(
    meta: RequestMeta,
    caller: Caller,
    produce: () => Promise<Record<string, unknown>>,
  ): Promise<HttpAnswer> {
    try {
      requireApprover(caller);
      const data = await produce();
      await this.audit(meta, { caller: caller.id, outcome: 'completed', response_status: 200 });
      return { status: 200, headers: {}, body: { request_id: meta.requestId, ...data } };
    } catch (err) {
      return this.refuse(meta, err, { caller: caller.id });
    }
  }

  /** The approvals waiting for a decision, for the approval page. Approver only. */
  async listPending(meta: RequestMeta, caller: Caller): Promise<HttpAnswer> {
    try {
      requireApprover(caller);
      await this.sweepExpired();
      const pending = await this.deps.approvals.listByStatus('pending_approval');
      await this.audit(meta, { caller: caller.id, outcome: 'completed', response_status: 200 });
      return {
        status: 200,
        headers: {},
        body: { request_id: meta.requestId, approvals: pending.map(approvalView) },
      };
    } catch (err) {
      return this.refuse(meta, err, { caller: caller.id });
    }
  }

  /**
   * `POST /approvals/{id}/approve|deny`. The approval is bound to the exact action by its hash,
   * decided once, before its expiry, by an approver who is not the requester (docs/ARCHITECTURE.md, "The approval lifecycle").
   * An approved write runs at once and exactly once.
   */
  async decide(
    meta: RequestMeta,
    caller: Caller,
    approvalId: string,
    decision: 'approve' | 'deny',
    rawBody = '',
  ): Promise<HttpAnswer> {
    let fields: Partial<AuditRecord> = {
      caller: caller.id,
      event: 'approval',
      approval: { approval_id: approvalId.slice(0, 128) },
    };
    const calls: HubSpotCall[] = [];
    try {
      const found = await this.deps.approvals.get(approvalId);
      if (found) fields = { ...fields, ...approvalRecordFields(found) };
      requireApprover(caller);
      if (!found) throw new AirlockError('not_found', 'No approval with this id.');
      const seenHash = parseDecision(rawBody);
      // Locally, expiry is the gateway's to record (on AWS the state machine's timeout does it).
      await this.expireIfDue(found);
      const outcome = await this.lifecycle.decide(
        { approvalId, deciderId: caller.id, decision, seenHash },
        // The decision's record before anything acts on it; an approval whose record cannot be
        // written never runs (the lifecycle fails it). An approval's record is not the final one
        // of this call (the write's outcome is): no status yet.
        (o) => {
          fields = { ...fields, ...approvalRecordFields(o.approval) };
          return this.audit(
            meta,
            o.kind === 'approved'
              ? { ...fields, outcome: 'approved', response_status: null }
              : {
                  ...fields,
                  outcome: o.kind === 'denied' ? 'denied' : 'pending_approval',
                  response_status: 200,
                },
          );
        },
      );
      if (outcome.kind !== 'approved') {
        return {
          status: 200,
          headers: {},
          body: { request_id: meta.requestId, approval: approvalView(outcome.approval) },
        };
      }
      const decided = outcome.approval;
      return await this.executeWrite(meta, decided, fields, calls);
    } catch (err) {
      return this.refuse(meta, err, { ...fields, hubspot_calls: calls });
    }
  }

  private async executeWrite(
    meta: RequestMeta,
    approval: Approval,
    fields: Partial<AuditRecord>,
    calls: HubSpotCall[],
  ): Promise<HttpAnswer> {
    let noteId: string;
    try {
      noteId = await this.lifecycle.execute(approval.approval_id, {
        hubspot: this.deps.hubspot,
        deadline: this.deps.clock.now() + this.deps.config.requestDeadlineMs,
        calls,
        secrets: this.deps.secrets?.() ?? [],
      });
    } catch (err) {
      const e = asAirlockError(err);
      // Decided once: a write that did not complete is failed (never pending or approved
      // again); the operator's `contain` sweep cancels only writes still pending.
      const failed = await this.lifecycle.fail(approval.approval_id, failureOf(e));
      if (isWriteStopped(e)) {
        const answer = errorAnswer(meta.requestId, e);
        await this.audit(meta, {
          ...fields,
          ...approvalRecordFields(failed ?? approval),
          outcome: 'failed',
          reason: e.code,
          ...ruleOf(e.details),
          response_status: answer.status,
          hubspot_calls: calls,
        });
        return answer;
      }
      throw e;
    }
    const done = await this.lifecycle.complete(approval.approval_id, noteId);
    await this.audit(meta, {
      ...fields,
      ...approvalRecordFields(done ?? { ...approval, result: { note_id: noteId } }),
      outcome: 'completed',
      response_status: 200,
      hubspot_calls: calls,
    });
    return {
      status: 200,
      headers: {},
      body: { request_id: meta.requestId, approval: approvalView(done ?? approval) },
    };
  }

  /** Marks a pending approval past its expiry as expired, with its audit record. */
  private async expireIfDue(approval: Approval): Promise<Approval> {
    if (approval.status !== 'pending_approval') return approval;
    // With an approval workflow (AWS) its timeout records the expiry, once; here it would be
    // recorded twice. The approval core refuses a late decision either way.
    if (this.deps.workflow) return approval;
    const expired = await this.lifecycle.expireIfDue(approval);
    if (!expired) {
      if (Date.parse(approval.expires_at) > this.deps.clock.now()) return approval;
      return (await this.deps.approvals.get(approval.approval_id)) ?? approval;
    }
    await this.auditApprovalEvent(expired);
    return expired;
  }

  /**
   * After a restart: a write that was approved but has no outcome may or may not have reached
   * HubSpot. It is never sent again (that could write twice): the lifecycle settles it (failed,
   * `interrupted`, unless its note is kept) and each is audited, so the operator checks HubSpot.
   */
  async failInterrupted(): Promise<number> {
    const moved = await this.lifecycle.recoverInterrupted();
    for (const a of moved) await this.auditApprovalEvent(a);
    return moved.length;
  }

  /** The record of an approval event that no caller triggered (an expiry, a recovery). */
  private async auditApprovalEvent(approval: Approval): Promise<void> {
    await this.audit(
      { requestId: approval.request_id, route: null, startedAt: this.deps.clock.now() },
      approvalEventFields(approval),
    );
  }

  /** Expires every pending approval past its expiry; the local server runs it on a timer. */
  async sweepExpired(): Promise<number> {
    let count = 0;
    for (const approval of await this.deps.approvals.listByStatus('pending_approval')) {
      if ((await this.expireIfDue(approval)).status === 'expired') count += 1;
    }
    return count;
  }
}

function requireApprover(caller: Caller): void {
  if (caller.role !== 'approver') {
    throw new AirlockError(
      'approver_required',
      "Decisions take the approver's credential; the agent can never approve its own write.",
    );
  }
}

/** The policy rule named in an error's details, for the audit record. */
function ruleOf(details: unknown): { rule?: string } {
  const rule = (details as { rule?: unknown } | undefined)?.rule;
  return typeof rule === 'string' ? { rule } : {};
}

/** A decision's body: `{"action_hash": "<the hash the approver was shown>"}`. */
function parseDecision(rawBody: string): string {
  let hash: unknown;
  try {
    const body = parseBoundedJson(rawBody, 'not JSON');
    hash =
      body !== null && typeof body === 'object'
        ? (body as { action_hash?: unknown }).action_hash
        : undefined;
  } catch {
    hash = undefined;
  }
  if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) {
    throw new AirlockError(
      'validation_failed',
      'Send {"action_hash": "<hash>"} with the hash shown for the action you decide on.',
    );
  }
  return hash;
}

/** What an approver sees of an approval: everything needed to decide, nothing secret. */
export function approvalView(a: Approval): Record<string, unknown> {
  return {
    approval_id: a.approval_id,
    request_id: a.request_id,
    status: a.status,
    action: a.action,
    action_hash: a.action_hash,
    description: findAction(a.action.action)?.description ?? null,
    heading: findAction(a.action.action)?.approvalHeading ?? null,
    user_id: a.user_id,
    agent_prompt: a.agent_prompt,
    requested_by: a.requested_by,
    created_at: a.created_at,
    expires_at: a.expires_at,
    decided_at: a.decided_at ?? null,
    decided_by: a.decided_by ?? null,
    required_approvals: a.required_approvals ?? 1,
    approvals: a.approvals ?? [],
    result: a.result ?? null,
    error: a.error ?? null,
  };
}

function statusBody(a: Approval): Record<string, unknown> {
  const body: Record<string, unknown> = {
    status: a.status,
    action: a.action.action,
    approval: {
      id: a.approval_id,
      expires_at: a.expires_at,
      decided_at: a.decided_at ?? null,
      decided_by: a.decided_by ?? null,
    },
  };
  if (a.result) body.data = a.result;
  if (a.error) body.error = a.error;
  return body;
}

/** A refused body's audit fields: parsed within the bounds, else its first 4 KB and shape. */
function auditFieldsOfRaw(rawBody: string): ReturnType<typeof auditFieldsOf> {
  try {
    return auditFieldsOf(parseBoundedJson(rawBody, 'not JSON'));
  } catch (err) {
    return { ...auditFieldsOf(null), structured_action: renderingOf(err, rawBody) };
  }
}

/** What the record keeps of a body that could not be parsed within the bounds. */
function renderingOf(err: unknown, rawBody: string): unknown {
  return err instanceof BoundsError ? err.rendering : renderRaw(rawBody);
}
