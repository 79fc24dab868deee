import { ApprovalCore, type ApprovalRules, cancelledByContain, noteInputOf } from './approvals';
import { type AuditApproval, type AuditOutcome, type AuditRecord, lastCall } from './audit';
import { BoundsError, clampDepth, parseBoundedJson, renderRaw } from './bounded';
import { catalogHash, findAction, openAiTools, type ValidatedAction } from './catalog';
import { AirlockError, asAirlockError, errorAnswer, type HttpAnswer } from './errors';
import { actionHash } from './hash';
import { budgetKey } from './identity';
import { checkPrompt, type PromptMode } from './policy';
import {
  type Approval,
  type ApprovalStore,
  type ApprovalWorkflow,
  type AuditSink,
  type CallContext,
  type Clock,
  type ControlState,
  type HubSpotCall,
  type HubSpotPort,
  type IdSource,
  type LimitWindow,
  type Logger,
  PendingCapReached,
  type RateLimiter,
} from './ports';
import { isRead, runRead, searchesOf } from './reads';
import {
  CREDENTIAL_RULE,
  containsSecret,
  REDACTED,
  redactSecrets,
  valueHoldsSecret,
} from './redact';
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

type RecordFields = Partial<AuditRecord> & Pick<AuditRecord, 'outcome' | 'response_status'>;

/**
 * The gateway's core: every route's behaviour, over ports. The local server and the Lambda
 * handlers are thin edges around these functions.
 */
export class Gateway {
  constructor(private readonly deps: GatewayDeps) {}

  private iso(ms = this.deps.clock.now()): string {
    return new Date(ms).toISOString();
  }

  /** Writes one audit record; throws `audit_unavailable` when the sink fails. */
  private async audit(meta: RequestMeta, fields: RecordFields): Promise<void> {
    const calls = fields.hubspot_calls ?? [];
    const record: AuditRecord = {
      timestamp: this.iso(),
      user_id: null,
      agent_prompt: null,
      ...lastCall(calls),
      request_id: meta.requestId,
      event: 'request',
      route: meta.route,
      action: null,
      reason: null,
      caller: null,
      duration_ms: Math.max(0, this.deps.clock.now() - meta.startedAt),
      ...fields,
      // Whatever a caller sent is clamped before it is redacted, hashed or serialised.
      structured_action: clampDepth(fields.structured_action ?? null),
      hubspot_calls: calls,
      catalog_hash: catalogHash(),
    };
    try {
      await this.deps.audit.append(redactSecrets(record, this.deps.secrets?.() ?? []));
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
        ...(ruleOf(e.details).rule === CREDENTIAL_RULE ? this.splitSecretWithheld(fields) : {}),
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
      // The kill switch answers every /v1 call, however malformed (DESIGN §5.7).
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
        // The data leaves only after its audit record is durably written (DESIGN §5.3).
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
    const now = this.deps.clock.now();
    const approval: Approval = {
      approval_id: this.deps.ids.approvalId(),
      request_id: meta.requestId,
      action,
      action_hash: actionHash(action),
      user_id: envelope.user_id,
      agent_prompt: envelope.agent_prompt,
      requested_by: caller.id,
      status: 'pending_approval',
      created_at: this.iso(now),
      expires_at: this.iso(now + this.deps.config.approvalTtlMs),
      required_approvals: this.deps.config.requiredApprovals?.[action.action] ?? 1,
      approvals: [],
      version: 0,
    };
    // The store counts and creates in one atomic step (the slot is reserved as the approval is
    // stored), so simultaneous requests cannot overshoot a cap.
    const caps = {
      perUser: this.deps.config.maxPendingPerUser ?? 20,
      total: this.deps.config.maxPending ?? 200,
    };
    try {
      await this.deps.approvals.create(approval, caps);
    } catch (err) {
      if (!(err instanceof PendingCapReached)) {
        // A store that cannot take the write now (contention, an outage) is a retryable 503.
        throw new AirlockError(
          'approvals_unavailable',
          'The write could not be queued for approval now; nothing was queued. Retry later.',
          { cause: err },
        );
      }
      throw new AirlockError(
        'rate_limited',
        err.cap === 'per_user'
          ? `${err.pending} writes of this user already wait for approval; wait for decisions before asking for more.`
          : 'Too many writes wait for approval; wait for decisions before asking for more.',
        { retryAfterSeconds: 60, details: { rule: 'pending_approvals' } },
      );
    }
    // A `contain` whose sweep ran while this write was being stored would miss it: read the
    // switch afresh now, and cancel the write as the sweep would have.
    if ((await this.currentControl()).contained) {
      await this.deps.approvals.transition(
        approval.approval_id,
        'pending_approval',
        cancelledByContain(this.iso(), caller.id),
      );
      throw containedError(CONTAINED_IN_FLIGHT);
    }
    if (this.deps.workflow) {
      try {
        await this.deps.workflow.start(approval);
      } catch (cause) {
        await this.deps.approvals.transition(approval.approval_id, 'pending_approval', {
          status: 'failed',
          error: { code: 'approvals_unavailable', message: 'the approval flow could not start' },
        });
        throw new AirlockError(
          'approvals_unavailable',
          'The approval flow could not be started, so the write was not queued. Retry later.',
          { cause },
        );
      }
    }
    try {
      await this.audit(meta, {
        ...fields,
        outcome: 'pending_approval',
        response_status: 202,
        approval: approvalFields(approval),
      });
    } catch (err) {
      // No record, no approval: a write nobody can trace must never be approvable.
      await this.deps.approvals.transition(approval.approval_id, 'pending_approval', {
        status: 'failed',
        error: { code: 'audit_unavailable', message: 'the audit log was unavailable' },
      });
      throw err;
    }
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
   * A credential split across fields shows in no one string, so redaction string by string
   * would leave its parts in the record: then the record keeps none of what the agent sent.
   */
  private splitSecretWithheld(fields: Partial<AuditRecord>): Partial<AuditRecord> {
    const secrets = this.deps.secrets?.() ?? [];
    const sent = [fields.user_id, fields.agent_prompt, fields.structured_action];
    return valueHoldsSecret(redactSecrets(sent, secrets), secrets)
      ? { user_id: REDACTED, agent_prompt: REDACTED, structured_action: REDACTED }
      : {};
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
   * decided once, before its expiry, by an approver who is not the requester (DESIGN §5.2).
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
      if (decision === 'approve') {
        const control = await this.deps.control.read();
        if (control.contained || control.readOnly) {
          throw new AirlockError(
            control.contained ? 'gateway_contained' : 'read_only_mode',
            'Writes are stopped by the operator; the approval stays pending until they resume.',
          );
        }
      }
      const outcome = await new ApprovalCore(this.deps.approvals, this.deps.clock, {
        userApprovers: this.deps.config.userApprovers,
      }).decide({
        approvalId,
        deciderId: caller.id,
        decision,
        seenHash,
      });
      const decided = outcome.approval;
      const status = outcome.kind === 'denied' ? 'denied' : 'approved';
      if (outcome.kind === 'recorded') {
        fields = { ...fields, ...approvalRecordFields(decided) };
        await this.audit(meta, { ...fields, outcome: 'pending_approval', response_status: 200 });
        return {
          status: 200,
          headers: {},
          body: { request_id: meta.requestId, approval: approvalView(decided) },
        };
      }
      fields = { ...fields, ...approvalRecordFields(decided) };
      if (status === 'denied') {
        await this.audit(meta, { ...fields, outcome: 'denied', response_status: 200 });
        return {
          status: 200,
          headers: {},
          body: { request_id: meta.requestId, approval: approvalView(decided) },
        };
      }
      try {
        // Not the final record of this call (the write's outcome is): no status yet.
        await this.audit(meta, { ...fields, outcome: 'approved', response_status: null });
      } catch (err) {
        // An approval with no record must never run, nor stay approved without an outcome.
        await this.deps.approvals.transition(approvalId, 'approved', {
          status: 'failed',
          error: { code: 'audit_unavailable', message: 'the audit log was unavailable' },
        });
        throw err;
      }
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
    const input = noteInputOf(approval, this.deps.secrets?.() ?? []);
    const ctx: CallContext = {
      deadline: this.deps.clock.now() + this.deps.config.requestDeadlineMs,
      calls,
      // The switch's last word, read afresh right before the note is sent: a `contain` (or
      // read-only) that landed while this approval was being decided stops it here.
      beforeWrite: async () => {
        const stopped = writeStopped(await this.currentControl());
        if (stopped) throw stopped;
      },
    };
    let noteId: string;
    try {
      noteId = await this.deps.hubspot.createNote(input, ctx);
    } catch (err) {
      const e = asAirlockError(err);
      const stopped = stoppedMessage(e);
      // Decided once: a write stopped by the switch is failed (never pending or approved
      // again), as any write that did not complete; the operator's `contain` sweep cancels
      // only writes still pending.
      const failed = await this.deps.approvals.transition(approval.approval_id, 'approved', {
        status: 'failed',
        error: { code: e.code, message: stopped ?? e.message },
      });
      if (stopped) {
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
    const done = await this.deps.approvals.transition(approval.approval_id, 'approved', {
      status: 'completed',
      result: { note_id: noteId },
    });
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
    if (Date.parse(approval.expires_at) > this.deps.clock.now()) return approval;
    const expired = await this.deps.approvals.transition(approval.approval_id, 'pending_approval', {
      status: 'expired',
    });
    if (!expired) return (await this.deps.approvals.get(approval.approval_id)) ?? approval;
    await this.auditApprovalEvent(expired, 'expired', 'approval_expired');
    return expired;
  }

  /**
   * After a restart: a write that was approved but has no outcome may or may not have reached
   * HubSpot. It is never sent again (that could write twice); it is marked failed and audited,
   * so the operator checks HubSpot for it.
   */
  async failInterrupted(): Promise<number> {
    let count = 0;
    for (const a of await this.deps.approvals.listByStatus('approved')) {
      const failed = await this.deps.approvals.transition(a.approval_id, 'approved', {
        status: 'failed',
        error: {
          code: 'interrupted',
          message: 'The gateway stopped while this write was running; check HubSpot for the note.',
        },
      });
      if (!failed) continue;
      count += 1;
      await this.auditApprovalEvent(failed, 'failed', 'interrupted');
    }
    return count;
  }

  /** The record of an approval event that no caller triggered (an expiry, a recovery). */
  private async auditApprovalEvent(
    approval: Approval,
    outcome: AuditOutcome,
    reason: string,
  ): Promise<void> {
    await this.audit(
      { requestId: approval.request_id, route: null, startedAt: this.deps.clock.now() },
      {
        ...approvalRecordFields(approval),
        event: 'approval',
        outcome,
        reason,
        response_status: null,
      },
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

function containedError(rule?: string): AirlockError {
  return new AirlockError(
    'gateway_contained',
    'The gateway is contained by its operator (kill switch); no action runs until it is released.',
    rule ? { details: { rule } } : {},
  );
}

/**
 * The guard an approved write awaits right before it is sent ({@link CallContext.beforeWrite}):
 * the switch read afresh; either flag on stops the write.
 */
export function writeStopped(control: {
  contained: boolean;
  readOnly: boolean;
}): AirlockError | null {
  if (control.contained) {
    return new AirlockError(
      'gateway_contained',
      'The kill switch was turned on before this write was sent to HubSpot: nothing was written, and the approval is marked failed.',
      { details: { rule: CONTAINED_IN_FLIGHT } },
    );
  }
  if (control.readOnly) {
    return new AirlockError(
      'read_only_mode',
      'Read-only mode was turned on before this write was sent to HubSpot: nothing was written, and the approval is marked failed.',
      { details: { rule: READ_ONLY_IN_FLIGHT } },
    );
  }
  return null;
}

/** The stored message when `e` is a write stopped by {@link writeStopped}, else null. */
function stoppedMessage(e: AirlockError): string | null {
  const rule = ruleOf(e.details).rule;
  if (rule !== CONTAINED_IN_FLIGHT && rule !== READ_ONLY_IN_FLIGHT) return null;
  return e.code === 'gateway_contained' || e.code === 'read_only_mode'
    ? WRITE_STOPPED_MESSAGE[e.code]
    : null;
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

export function approvalFields(a: Approval): AuditApproval {
  return {
    approval_id: a.approval_id,
    request_id: a.request_id,
    action_hash: a.action_hash,
    approver: a.decided_by ?? null,
    decided_at: a.decided_at ?? null,
    expires_at: a.expires_at,
    ...(a.result?.note_id ? { note_id: a.result.note_id } : {}),
  };
}

export function approvalRecordFields(a: Approval): Partial<AuditRecord> {
  return {
    user_id: a.user_id,
    agent_prompt: a.agent_prompt,
    structured_action: a.action,
    action: a.action.action,
    approval: approvalFields(a),
  };
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
