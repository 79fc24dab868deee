import { AirlockError } from './errors';
import { actionHash } from './hash';
import { foldCase } from './identity';
import type { Approval, ApprovalStore, Clock, NoteInput } from './ports';
import { CREDENTIAL_RULE, containsSecret } from './redact';

/** The error code of a write cancelled by the kill switch. */
export const CONTAINED_CANCEL = 'gateway_contained';

/** The change that cancels a pending write for the kill switch: denied, with its reason. */
export function cancelledByContain(
  at: string,
  by: string,
): Partial<Approval> & { status: 'denied' } {
  return {
    status: 'denied',
    decided_at: at,
    decided_by: by,
    error: {
      code: CONTAINED_CANCEL,
      message: 'Cancelled by the kill switch; ask again once the gateway is released.',
    },
  };
}

/**
 * The HubSpot note an approved `create_note` writes; dated by the approval's creation. The text
 * is checked for credentials once more, exactly as it is sent: no secret ever reaches HubSpot.
 */
export function noteInputOf(approval: Approval, secrets: readonly string[] = []): NoteInput {
  const action = approval.action;
  if (action.action !== 'create_note') {
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
 * The approval rules (DESIGN §5.2), one implementation for every way a person decides: the
 * local approval page and Slack on AWS. An approval is bound to its action by the hash, decided
 * before its expiry, by an approver who is not the requester, once; with the two-person rule,
 * by N distinct approvers. The core changes the stored state; running the write is the caller's
 * (at once locally, by the state machine on AWS).
 */
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

export class ApprovalCore {
  constructor(
    private readonly approvals: ApprovalStore,
    private readonly clock: Clock,
    private readonly rules: ApprovalRules = {},
  ) {}

  /** True when `deciderId` is the requester: the agent's credential, or the mapped person. */
  private isRequester(approval: Approval, deciderId: string): boolean {
    if (deciderId === approval.requested_by) return true;
    const own = this.rules.userApprovers?.[foldCase(approval.user_id)] ?? [];
    const decider = foldCase(deciderId);
    return own.some((id) => foldCase(id) === decider);
  }

  /**
   * Applies one decision. Throws `not_found`, `approval_expired`, `already_decided`,
   * `approver_required` (the requester deciding) or `approval_mismatch`.
   */
  async decide(input: DecisionInput): Promise<DecisionOutcome> {
    // A concurrent decision moves the version on; read again and re-check, a few times.
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const approval = await this.approvals.get(input.approvalId);
      if (!approval) throw new AirlockError('not_found', 'No approval with this id.');
      this.check(approval, input);
      const outcome = await this.apply(approval, input);
      if (outcome) return outcome;
    }
    throw new AirlockError('already_decided', 'This approval changed while it was being decided.');
  }

  /** The rules, on the approval as stored now. */
  check(approval: Approval, input: DecisionInput): void {
    if (
      approval.status === 'expired' ||
      (approval.status === 'pending_approval' && this.expired(approval))
    ) {
      throw new AirlockError(
        'approval_expired',
        `This approval expired at ${approval.expires_at}; the agent must ask again.`,
      );
    }
    if (approval.status !== 'pending_approval') {
      throw new AirlockError('already_decided', `This approval is already ${approval.status}.`, {
        details: { status: approval.status },
      });
    }
    if (this.isRequester(approval, input.deciderId)) {
      throw new AirlockError(
        'approver_required',
        'The person who asked for this write cannot decide on it; another approver must.',
      );
    }
    if (input.seenHash !== undefined && input.seenHash !== approval.action_hash) {
      throw new AirlockError(
        'approval_mismatch',
        "The action_hash sent is not the hash of this approval's action: decide on what is shown now.",
      );
    }
    if (actionHash(approval.action) !== approval.action_hash) {
      throw new AirlockError(
        'internal_error',
        'The stored action no longer matches its approval hash; nothing was written.',
      );
    }
    if (
      input.decision === 'approve' &&
      (approval.approvals ?? []).some((a) => a.by === input.deciderId)
    ) {
      throw new AirlockError(
        'already_decided',
        'You have already approved this write; it waits for another approver.',
        { details: { status: approval.status } },
      );
    }
  }

  private expired(approval: Approval): boolean {
    return Date.parse(approval.expires_at) <= this.clock.now();
  }

  /** One compare-and-set; null when the approval changed meanwhile. */
  private async apply(approval: Approval, input: DecisionInput): Promise<DecisionOutcome | null> {
    const at = new Date(this.clock.now()).toISOString();
    const version = approval.version ?? 0;
    if (input.decision === 'deny') {
      const denied = await this.approvals.transition(
        approval.approval_id,
        'pending_approval',
        { status: 'denied', decided_at: at, decided_by: input.deciderId },
        version,
      );
      return denied && { kind: 'denied', approval: denied };
    }
    const approvals = [...(approval.approvals ?? []), { by: input.deciderId, at }];
    const required = Math.max(1, approval.required_approvals ?? 1);
    if (approvals.length < required) {
      const counted = await this.approvals.transition(
        approval.approval_id,
        'pending_approval',
        { status: 'pending_approval', approvals },
        version,
      );
      return (
        counted && { kind: 'recorded', approval: counted, remaining: required - approvals.length }
      );
    }
    const approved = await this.approvals.transition(
      approval.approval_id,
      'pending_approval',
      {
        status: 'approved',
        approvals,
        decided_at: at,
        decided_by: approvals.map((a) => a.by).join(', '),
      },
      version,
    );
    return approved && { kind: 'approved', approval: approved };
  }
}
