/**
 * The approval flow on AWS, one handler per state-machine task plus the Slack callback. Each
 * factory takes its ports; the entry files build them once per container. The rules live in
 * the shared approval core (the same as the local approval page's).
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import {
  ApprovalLifecycle,
  type ApprovalRules,
  type FlowOutcome,
  isCancelled,
  LifecycleError,
  noteInputOf,
  WRITE_STOPPED_MESSAGE,
} from '../core/approvals';
import type { AuditRecord } from '../core/audit';
import {
  approvalEventFields,
  approvalRecordFields,
  buildAuditRecord,
  type RecordFields,
} from '../core/audit-record';
import { AirlockError, asAirlockError } from '../core/errors';
import type {
  Approval,
  ApprovalStore,
  AuditSink,
  Clock,
  HubSpotCall,
  HubSpotPort,
  IdSource,
  Logger,
  NoteInput,
} from '../core/ports';
import { checkApprover, parseInteraction } from '../slack/interaction';
import {
  type ApprovalView,
  approvalMessage,
  outcomeMessage,
  type SlackMessage,
} from '../slack/message';
import { headerValue, type SlackVerifyInput, verifySlackSignature } from '../slack/verify';

/** The approval store as the flow needs it: the port plus the task token, kept in the table. */
export interface FlowStore extends ApprovalStore {
  setTaskToken(approvalId: string, taskToken: string): Promise<boolean>;
  getTaskToken(approvalId: string): Promise<string | undefined>;
}

export interface SlackApi {
  post(channel: string, message: SlackMessage): Promise<{ channel: string; ts: string }>;
  update(channel: string, ts: string, message: SlackMessage): Promise<void>;
}

/** An error the state machine tells apart by name (its Retry and Catch match on it). */
export class FlowError extends Error {
  constructor(
    name:
      | 'Airlock.Retryable'
      | 'Airlock.HashMismatch'
      | 'Airlock.NotPending'
      | 'Airlock.WriteRefused'
      | 'Airlock.Contained',
    message: string,
  ) {
    super(message);
    this.name = name;
  }
}

export function slackView(a: Approval, targetName: string | null): ApprovalView {
  return {
    approval_id: a.approval_id,
    user_id: a.user_id,
    requested_by: a.requested_by,
    agent_prompt: a.agent_prompt,
    action: a.action,
    action_hash: a.action_hash,
    target_name: targetName,
    expires_at: a.expires_at,
    required_approvals: a.required_approvals ?? 1,
    approvals: a.approvals ?? [],
  };
}

/** Writes one audit record of the approval flow (`event: 'approval'`), through the one builder. */
async function auditEvent(
  sink: AuditSink,
  clock: Clock,
  requestId: string,
  startedAt: number,
  fields: RecordFields,
): Promise<void> {
  await sink.append(
    buildAuditRecord(
      { requestId, route: null, startedAt },
      { event: 'approval', ...fields },
      clock.now(),
    ),
  );
}

/**
 * Notify and Finish move no write past the switch (they show and settle): their lifecycle reads
 * the switch as on, so were one of them ever to start a write, it would be refused.
 */
const SWITCH_UNREAD = async () => ({ contained: true, readOnly: true });

/** The lifecycle over the flow's store and the switch as the task reads it. */
function lifecycleOf(
  approvals: ApprovalStore,
  clock: Clock,
  control: () => Promise<{ contained: boolean; readOnly: boolean }>,
  rules?: ApprovalRules,
): ApprovalLifecycle {
  return new ApprovalLifecycle({
    approvals,
    clock,
    control: { read: control },
    ...(rules ? { rules } : {}),
  });
}

// ---- Notify: store the task token, post the approval message --------------------------------

export interface NotifyDeps {
  approvals: FlowStore;
  slack: SlackApi;
  channel: string;
  /** The target record's current name, for the approver (null when not found). */
  lookupName(target: NoteInput['target']): Promise<string | null>;
  log: Logger;
}

export function createNotifyHandler(deps: NotifyDeps) {
  // Showing an approval reads no time and moves no status.
  const lifecycle = lifecycleOf(deps.approvals, { now: () => Date.now() }, SWITCH_UNREAD);
  return async (event: { approval_id: string; action_hash: string; task_token: string }) => {
    let a: Approval;
    try {
      a = await lifecycle.awaitingDecision(event.approval_id, event.action_hash);
    } catch (err) {
      throw flowErrorOf(err, 'The approval is not pending.');
    }
    // The token stays in the table: never in Slack, an answer, a log or an audit record.
    if (!(await deps.approvals.setTaskToken(a.approval_id, event.task_token))) {
      throw new FlowError('Airlock.NotPending', 'The approval is not pending.');
    }
    let name: string | null = null;
    try {
      name = await deps.lookupName(noteInputOf(a).target);
    } catch (err) {
      deps.log.warn('target name lookup failed', {
        approval_id: a.approval_id,
        error: asAirlockError(err).code,
      });
    }
    const posted = await deps.slack.post(deps.channel, approvalMessage(slackView(a, name)));
    // Kept whatever happened meanwhile (a fast click may already have decided), so the Finish
    // task can always update this message and retire its buttons.
    const now = await deps.approvals.get(a.approval_id);
    const kept = now && (await lifecycle.annotate(now, { slack: posted }));
    // The flow may have ended meanwhile (the kill switch cancelled the approval while the
    // message was being posted) with no message to update: show its outcome now.
    if (kept?.finished_at) {
      try {
        await deps.slack.update(
          posted.channel,
          posted.ts,
          finalMessage(kept, kept.error?.code ?? 'failed'),
        );
      } catch (err) {
        deps.log.warn('updating the Slack message failed', {
          approval_id: a.approval_id,
          error: asAirlockError(err).code,
        });
      }
    }
    return { notified: true };
  };
}

// ---- Write: the note, exactly once --------------------------------------------------------

export interface WriteDeps {
  approvals: FlowStore;
  /**
   * The kill switch and read-only mode as stored now (uncached): no write runs while either is
   * on. Read when the task starts and again right before the note is sent, after the lookup of
   * a retried write.
   */
  control(): Promise<{ contained: boolean; readOnly: boolean }>;
  hubspot: HubSpotPort;
  clock: Clock;
  deadlineMs: number;
}

const RETRYABLE = new Set([
  'hubspot_error',
  'hubspot_timeout',
  'rate_limited',
  'secrets_unavailable',
]);

export function createWriteHandler(deps: WriteDeps) {
  const lifecycle = lifecycleOf(deps.approvals, deps.clock, deps.control);
  return async (event: {
    approval_id: string;
    action_hash: string;
  }): Promise<{ note_id: string; calls: HubSpotCall[] }> => {
    const calls: HubSpotCall[] = [];
    try {
      const noteId = await lifecycle.execute(event.approval_id, {
        hubspot: deps.hubspot,
        deadline: deps.clock.now() + deps.deadlineMs,
        calls,
        expectedHash: event.action_hash,
      });
      return { note_id: noteId, calls };
    } catch (err) {
      throw flowErrorOf(err, 'The write could not be recorded.');
    }
  };
}

/**
 * The state machine's name for a refusal of the lifecycle or a failed call (its Retry and Catch
 * match on it). HubSpot's refusals (401, 403, 4xx) will not change on a retry; anything else (a
 * 5xx, a timeout, the table) may, and a retry of a write is safe: it looks for the note first.
 */
function flowErrorOf(err: unknown, fallback: string): FlowError {
  if (err instanceof FlowError) return err;
  if (err instanceof LifecycleError) {
    switch (err.refusal) {
      case 'not_found':
      case 'not_pending':
      case 'not_approved':
        return new FlowError('Airlock.NotPending', err.message);
      case 'hash_mismatch':
      case 'action_altered':
        return new FlowError('Airlock.HashMismatch', err.message);
      case 'write_stopped':
        // Finish records a write the kill switch stopped as failed with `gateway_contained`.
        return err.code === 'gateway_contained'
          ? new FlowError(CONTAINED_ERROR, err.message)
          : new FlowError('Airlock.WriteRefused', err.message);
      case 'changed':
        return new FlowError('Airlock.Retryable', err.message);
      default:
        return new FlowError('Airlock.WriteRefused', err.message);
    }
  }
  if (!(err instanceof AirlockError)) return new FlowError('Airlock.Retryable', fallback);
  return new FlowError(
    RETRYABLE.has(err.code) ? 'Airlock.Retryable' : 'Airlock.WriteRefused',
    `${err.code}: ${err.message}`,
  );
}

// ---- Finish: record the outcome, update the Slack message ---------------------------------

/** The approval message once the flow ended: the buttons give way to the outcome. */
function finalMessage(final: Approval, failureDetail: string): SlackMessage {
  return outcomeMessage(slackView(final, null), {
    status:
      final.status === 'completed'
        ? 'completed'
        : final.status === 'denied'
          ? 'denied'
          : final.status === 'expired'
            ? 'expired'
            : 'failed',
    ...(final.result?.note_id ? { noteId: final.result.note_id } : {}),
    ...(final.status === 'failed' ? { detail: failureDetail } : {}),
    ...(isCancelled(final) ? { cancelled: true } : {}),
    decidedBy: (final.approvals ?? []).map((x) => x.by),
  });
}

/** The error the write function throws when the kill switch stopped the write. */
export const CONTAINED_ERROR = 'Airlock.Contained';

/**
 * What a failed flow records on its approval: its error's name, or for a write the kill switch
 * stopped, `gateway_contained` and what happened (as the local gateway records it).
 */
function flowFailure(errorName: string): { code: string; message: string } {
  if (errorName === CONTAINED_ERROR) {
    return { code: 'gateway_contained', message: WRITE_STOPPED_MESSAGE.gateway_contained };
  }
  return {
    code: errorName,
    message: 'The approved write did not complete; nothing more will be tried.',
  };
}

export interface FinishDeps {
  approvals: FlowStore;
  audit: AuditSink;
  slack: SlackApi;
  clock: Clock;
  log: Logger;
}

type FinishEvent = {
  approval_id: string;
  outcome: FlowOutcome;
  note_id?: string;
  write?: { note_id?: string; calls?: HubSpotCall[] };
  error?: { Error?: string };
};

export function createFinishHandler(deps: FinishDeps) {
  const lifecycle = lifecycleOf(deps.approvals, deps.clock, SWITCH_UNREAD);
  return async (event: FinishEvent) => {
    const startedAt = deps.clock.now();
    const a = await deps.approvals.get(event.approval_id);
    if (!a) throw new FlowError('Airlock.NotPending', 'No such approval.');
    // The error's name only: its cause may carry messages not meant for Slack or the log.
    const errorName = (event.error?.Error ?? 'failed').replace(/[^\w.]/g, '').slice(0, 64);
    const failure = flowFailure(errorName);
    const noteId = event.note_id ?? event.write?.note_id;
    const { outcome, final } = await lifecycle.conclude(a, event.outcome, {
      ...(noteId ? { noteId } : {}),
      failure,
    });
    // Audited once: when this run moved the status, or when an earlier run moved it but failed
    // before its record was written (a retried Finish). `finished_at` marks the record written.
    let shown = final;
    if (!final.finished_at && final.status === outcome) {
      await auditEvent(deps.audit, deps.clock, a.request_id, startedAt, {
        ...approvalEventFields(final),
        hubspot_calls: event.write?.calls ?? [],
      });
      // The update returns the item as now stored: a Slack message Notify stored meanwhile
      // (posted after the kill switch cancelled the approval) is in it, and updated below.
      shown =
        (await lifecycle.annotate(final, {
          finished_at: new Date(deps.clock.now()).toISOString(),
        })) ?? final;
    }
    if (shown.slack) {
      try {
        await deps.slack.update(
          shown.slack.channel,
          shown.slack.ts,
          finalMessage(shown, failure.code),
        );
      } catch (err) {
        deps.log.warn('updating the Slack message failed', {
          approval_id: a.approval_id,
          error: asAirlockError(err).code,
        });
      }
    }
    return { status: final.status };
  };
}

// ---- Slack callback: verify, decide, resume the state machine ------------------------------

export interface SlackDeps {
  approvals: FlowStore;
  /** The kill switch and read-only mode: approvals wait while either is on. */
  control(): Promise<{ contained: boolean; readOnly: boolean }>;
  audit: AuditSink;
  /**
   * The signing secret, cached; `refresh` reads it again from the store (a request whose
   * signature does not verify may be signed with a secret rotated since).
   */
  signingSecret(options?: { refresh?: boolean }): Promise<string>;
  policy: { teamId: string; approverIds: readonly string[] };
  /** Who is the same person as a user id (`AIRLOCK_USER_APPROVERS`). @default {} */
  rules?: ApprovalRules;
  sendDecision(
    taskToken: string,
    output: { decision: 'approved' | 'denied'; by: string[] },
  ): Promise<void>;
  /** Tells the clicking user what happened (Slack's response_url), best effort. */
  respond(responseUrl: string, text: string): Promise<void>;
  clock: Clock;
  ids: IdSource;
  log: Logger;
}

/** Decided, and no sign yet that the state machine moved on (no write started, no outcome). */
function decidedButUnsent(a: Approval): boolean {
  return (
    (a.status === 'approved' && !a.write_started_at && !a.result) ||
    (a.status === 'denied' && !a.finished_at)
  );
}

const ACK: APIGatewayProxyResult = {
  statusCode: 200,
  headers: { 'content-type': 'text/plain' },
  body: '',
};

/** How often a signature that does not verify may make the handler read the secret again. */
export const SIGNING_SECRET_REFRESH_MS = 10_000;

export function createSlackInteractionsHandler(deps: SlackDeps) {
  const lifecycle = lifecycleOf(deps.approvals, deps.clock, deps.control, deps.rules);
  let lastRefresh = Number.NEGATIVE_INFINITY;
  /**
   * Verifies with the cached secret; on a bad signature, reads the secret again (at most once
   * per 10 s, so forged requests cannot hammer Secrets Manager) and checks once more, so a
   * rotated signing secret works at once instead of after the cache expires.
   */
  const verify = async (input: Omit<SlackVerifyInput, 'signingSecret' | 'nowMs'>) => {
    const check = (signingSecret: string) =>
      verifySlackSignature({ ...input, signingSecret, nowMs: deps.clock.now() });
    const first = check(await deps.signingSecret());
    if (first.ok || first.reason !== 'bad_signature') return first;
    if (deps.clock.now() - lastRefresh < SIGNING_SECRET_REFRESH_MS) return first;
    lastRefresh = deps.clock.now();
    try {
      return check(await deps.signingSecret({ refresh: true }));
    } catch (err) {
      deps.log.warn('reading the Slack signing secret again failed', {
        error: asAirlockError(err).code,
      });
      return first;
    }
  };
  /** Sends a made decision to the waiting state machine (again, if an earlier send failed). */
  const resume = async (a: Approval) => {
    const token = await deps.approvals.getTaskToken(a.approval_id);
    if (!token) {
      throw new AirlockError(
        'internal_error',
        'The approval flow is not waiting for this approval.',
      );
    }
    const approved = a.status === 'approved';
    await deps.sendDecision(token, {
      decision: approved ? 'approved' : 'denied',
      by: approved ? (a.approvals ?? []).map((x) => x.by) : a.decided_by ? [a.decided_by] : [],
    });
  };
  return async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
    const startedAt = deps.clock.now();
    const requestId = deps.ids.requestId();
    const route = 'POST /slack/interactions';
    const raw = event.isBase64Encoded
      ? Buffer.from(event.body ?? '', 'base64').toString('utf8')
      : (event.body ?? '');
    const record = (fields: RecordFields) =>
      auditEvent(deps.audit, deps.clock, requestId, startedAt, { route, ...fields });

    const verified = await verify({
      rawBody: raw,
      timestamp: headerValue(event.headers, 'x-slack-request-timestamp'),
      signature: headerValue(event.headers, 'x-slack-signature'),
    });
    if (!verified.ok) {
      await record({
        outcome: 'rejected',
        reason: `slack_${verified.reason}`,
        response_status: 401,
      });
      return {
        statusCode: 401,
        headers: { 'content-type': 'text/plain' },
        body: 'invalid signature',
      };
    }
    const interaction = parseInteraction(raw);
    if (!interaction) {
      await record({ outcome: 'rejected', reason: 'validation_failed', response_status: 400 });
      return {
        statusCode: 400,
        headers: { 'content-type': 'text/plain' },
        body: 'not an approval action',
      };
    }
    const caller = `slack:${interaction.teamId}:${interaction.userId}`;
    const tell = async (text: string) => {
      if (interaction.responseUrl)
        await deps.respond(interaction.responseUrl, text).catch(() => undefined);
    };
    const allowed = checkApprover(interaction, deps.policy);
    const found = await deps.approvals.get(interaction.approvalId);
    const base: Partial<AuditRecord> = {
      caller,
      ...(found
        ? approvalRecordFields(found)
        : { approval: { approval_id: interaction.approvalId } }),
    };
    if (!allowed.ok) {
      await record({
        ...base,
        outcome: 'rejected',
        reason: allowed.reason === 'wrong_team' ? 'unauthorized' : 'approver_required',
        response_status: 200,
      });
      await tell('You are not on the list of approvers for CRM Airlock; nothing was decided.');
      return ACK;
    }
    try {
      // The decision's record first: a decision the state machine acts on is always audited
      // (an approval whose record cannot be written is failed by the lifecycle, never run). It
      // is this request's one final record; a failure to hand it on is logged, not recorded
      // again, and the next click on the message sends the decision again (decidedButUnsent).
      const outcome = await lifecycle.decide(
        {
          approvalId: interaction.approvalId,
          deciderId: interaction.userId,
          decision: interaction.decision,
        },
        (o) =>
          record({
            ...base,
            ...approvalRecordFields(o.approval),
            outcome: o.kind === 'recorded' ? 'pending_approval' : o.kind,
            response_status: 200,
          }),
      );
      if (outcome.kind === 'recorded') {
        await tell(`Approval recorded; ${outcome.remaining} more approver(s) needed.`);
        return ACK;
      }
      try {
        await resume(outcome.approval);
      } catch (sendErr) {
        deps.log.error('slack decision recorded but not handed to the approval flow', {
          request_id: requestId,
          approval_id: outcome.approval.approval_id,
          error: asAirlockError(sendErr).message,
        });
        await tell(
          'Your decision is recorded, but the approval flow did not take it yet; click the button again.',
        );
      }
      return ACK;
    } catch (err) {
      const e = asAirlockError(err);
      if (e.code === 'already_decided') {
        // A decision whose resumption failed earlier is sent again: the state machine must
        // not wait out the expiry on a decision already made.
        const current = await deps.approvals.get(interaction.approvalId);
        if (current && decidedButUnsent(current)) await resume(current).catch(() => undefined);
      }
      if (e.code === 'internal_error')
        deps.log.error('slack decision failed', { request_id: requestId, error: e.message });
      await record({
        ...base,
        outcome: e.status >= 500 ? 'failed' : 'rejected',
        reason: e.code,
        response_status: 200,
      });
      await tell(e.status >= 500 ? 'The decision could not be recorded; try again.' : e.message);
      return ACK;
    }
  };
}
