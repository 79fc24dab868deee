import { reasonOf } from './approvals';
import { type AuditApproval, type AuditRecord, lastCall } from './audit';
import { clampDepth } from './bounded';
import { catalogHash } from './catalog';
import type { Approval } from './ports';
import { CREDENTIAL_RULE, REDACTED, redactSecrets, valueHoldsSecret } from './redact';

/**
 * The one builder of audit records (docs/ARCHITECTURE.md, "The audit record"). Every path
 * writes through it: the gateway's requests, the approval events of the local page and of the
 * AWS approval flow, the operator's commands and the expiries. It fills in what the caller
 * leaves out, clamps what a caller sent to the input bounds (`bounded.ts`) and redacts every
 * secret (`redact.ts`) before the record leaves it: nothing reaches a sink unredacted.
 */

/** Where a record comes from: the request (or event) it belongs to. */
export interface RecordOrigin {
  requestId: string;
  /** The route called, or null for an event no caller triggered (an expiry). */
  route: string | null;
  /** Epoch ms when the work began; `duration_ms` counts from it. */
  startedAt: number;
}

/** What a path says of its record; the builder fills in the rest. */
export type RecordFields = Partial<AuditRecord> & Pick<AuditRecord, 'outcome' | 'response_status'>;

/**
 * The record of `fields`, as written at `now`: defaults filled in, `structured_action` clamped
 * to the input bounds, every secret of `secrets` (and every credential-shaped string) redacted.
 * A record refused for carrying a credential keeps none of what was sent when the credential
 * is split across fields: redaction string by string would leave its parts in the record.
 */
export function buildAuditRecord(
  origin: RecordOrigin,
  fields: RecordFields,
  now: number,
  secrets: readonly string[] = [],
): AuditRecord {
  const calls = fields.hubspot_calls ?? [];
  const record: AuditRecord = {
    timestamp: new Date(now).toISOString(),
    user_id: null,
    agent_prompt: null,
    ...lastCall(calls),
    request_id: origin.requestId,
    event: 'request',
    route: origin.route,
    action: null,
    reason: null,
    caller: null,
    duration_ms: Math.max(0, now - origin.startedAt),
    ...fields,
    // Whatever a caller sent is clamped before it is redacted, hashed or serialised.
    structured_action: clampDepth(fields.structured_action ?? null),
    hubspot_calls: calls,
    catalog_hash: catalogHash(),
  };
  const redacted = redactSecrets(record, secrets);
  if (redacted.rule !== CREDENTIAL_RULE) return redacted;
  const sent = [redacted.user_id, redacted.agent_prompt, redacted.structured_action];
  return valueHoldsSecret(sent, secrets)
    ? { ...redacted, user_id: REDACTED, agent_prompt: REDACTED, structured_action: REDACTED }
    : redacted;
}

/** The approval, as its records name it. */
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

/** What every record about an approval says of the write it holds. */
export function approvalRecordFields(a: Approval): Partial<AuditRecord> {
  return {
    user_id: a.user_id,
    agent_prompt: a.agent_prompt,
    structured_action: a.action,
    action: a.action.action,
    approval: approvalFields(a),
  };
}

/**
 * The record of an approval event no caller waits on (an expiry, a cancellation by the kill
 * switch, a recovery after a restart, the end of the AWS flow): the approval as it now stands,
 * its status as the outcome, and why it ended so ({@link reasonOf}).
 */
export function approvalEventFields(a: Approval): RecordFields {
  return {
    ...approvalRecordFields(a),
    event: 'approval',
    outcome: a.status,
    reason: reasonOf(a),
    response_status: null,
  };
}
