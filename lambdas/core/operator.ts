import type { AuditRecord } from './audit';
import { approvalRecordFields } from './gateway';
import type {
  Approval,
  ApprovalStore,
  AuditSink,
  Clock,
  ControlSnapshot,
  ControlSwitch,
  Logger,
} from './ports';
import { redactSecrets } from './redact';

/**
 * The operator's commands (incident response), over ports: the local server and the AWS ops
 * function serve the same rules. Every command ends in an audit record (`event: 'control'`).
 */
export interface OperatorDeps {
  control: ControlSwitch;
  approvals: ApprovalStore;
  audit: AuditSink;
  clock: Clock;
  log: Logger;
  /** The secrets this deployment holds; redacted from every record. */
  secrets?: () => readonly string[];
  /**
   * Tells the approval workflow that a pending write was cancelled (AWS: the waiting state
   * machine is resumed with a denial, and its Finish task records the outcome and updates the
   * Slack message). Without it (local mode), the operator records each cancellation itself.
   */
  cancelled?: (approval: Approval) => Promise<void>;
}

export type ControlCommand = 'contain' | 'release' | 'read_only_on' | 'read_only_off';

export interface PendingSummary {
  count: number;
  oldest_created_at: string | null;
  approvals: {
    approval_id: string;
    request_id: string;
    user_id: string;
    action: string;
    created_at: string;
    expires_at: string;
  }[];
}

export interface OperatorStatus {
  control: ControlSnapshot;
  pending: PendingSummary;
}

export interface CommandMeta {
  requestId: string;
  /** Who ran the command (local: the operator key; AWS: the caller's IAM identity). */
  by: string;
  /** The route or entry point, for the audit record. */
  route: string | null;
  startedAt: number;
}

export interface ControlResult {
  command: ControlCommand;
  control: ControlSnapshot;
  /** Whether the command changed anything (a second `contain` changes nothing). */
  changed: boolean;
  /** Approvals cancelled by `contain`. */
  cancelled: string[];
}

/** The reason written on approvals cancelled by the kill switch. */
export const CONTAINED_CANCEL = 'gateway_contained';

export class Operator {
  constructor(private readonly deps: OperatorDeps) {}

  async status(): Promise<OperatorStatus> {
    const [control, pending] = await Promise.all([
      this.deps.control.snapshot(),
      this.deps.approvals.listByStatus('pending_approval'),
    ]);
    return { control, pending: summarizePending(pending) };
  }

  /**
   * Turns the kill switch or read-only mode on or off. The switch moves first (traffic stops
   * before anything else happens), then its audit record is written, then `contain` cancels
   * every pending write. A failure after the switch moved leaves it moved: failing safe.
   */
  async run(
    meta: CommandMeta,
    command: ControlCommand,
    reason: string | null,
  ): Promise<ControlResult> {
    const before = await this.deps.control.snapshot();
    const next = {
      contained: command === 'contain' ? true : command === 'release' ? false : before.contained,
      readOnly:
        command === 'read_only_on' ? true : command === 'read_only_off' ? false : before.readOnly,
    };
    const changed = next.contained !== before.contained || next.readOnly !== before.readOnly;
    let control: ControlSnapshot = before;
    if (changed) {
      control = {
        ...next,
        changedAt: new Date(this.deps.clock.now()).toISOString(),
        changedBy: meta.by,
        reason: reason ?? null,
      };
      await this.deps.control.set({
        ...control,
        changedAt: control.changedAt ?? '',
        changedBy: meta.by,
      });
    }
    await this.record(meta, {
      action: command,
      structured_action: {
        command,
        reason,
        contained: next.contained,
        read_only: next.readOnly,
        changed,
      },
    });
    const cancelled = command === 'contain' ? await this.cancelPending(meta) : [];
    return { command, control, changed, cancelled };
  }

  /** The audit record of a command that is not a switch (a token rotation, an export). */
  async recordCommand(
    meta: CommandMeta,
    action: string,
    details: Record<string, unknown>,
    outcome: 'completed' | 'rejected' | 'failed' = 'completed',
    reason: string | null = null,
  ): Promise<void> {
    await this.record(meta, { action, structured_action: details, outcome, reason });
  }

  private async cancelPending(meta: CommandMeta): Promise<string[]> {
    const cancelled: string[] = [];
    for (const a of await this.deps.approvals.listByStatus('pending_approval')) {
      const done = await this.deps.approvals.transition(a.approval_id, 'pending_approval', {
        status: 'denied',
        decided_at: new Date(this.deps.clock.now()).toISOString(),
        decided_by: meta.by,
        error: {
          code: CONTAINED_CANCEL,
          message: 'Cancelled by the kill switch; ask again once the gateway is released.',
        },
      });
      if (!done) continue;
      cancelled.push(done.approval_id);
      try {
        if (this.deps.cancelled) {
          await this.deps.cancelled(done);
        } else {
          await this.record(
            { ...meta, requestId: done.request_id },
            {
              ...approvalRecordFields(done),
              event: 'approval',
              outcome: 'denied',
              reason: CONTAINED_CANCEL,
              response_status: null,
            },
          );
        }
      } catch (err) {
        // The write is cancelled either way (its status is denied, so it can never run).
        this.deps.log.error('recording a cancelled approval failed', {
          approval_id: done.approval_id,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
    return cancelled;
  }

  private async record(meta: CommandMeta, fields: Partial<AuditRecord>): Promise<void> {
    const record: AuditRecord = {
      timestamp: new Date(this.deps.clock.now()).toISOString(),
      user_id: null,
      agent_prompt: null,
      structured_action: null,
      hubspot_endpoint: null,
      hubspot_status: null,
      hubspot_calls: [],
      request_id: meta.requestId,
      event: 'control',
      route: meta.route,
      action: null,
      outcome: 'completed',
      reason: null,
      caller: meta.by,
      response_status: 200,
      duration_ms: Math.max(0, this.deps.clock.now() - meta.startedAt),
      ...fields,
    };
    await this.deps.audit.append(redactSecrets(record, this.deps.secrets?.() ?? []));
  }
}

export function summarizePending(pending: Approval[]): PendingSummary {
  const sorted = [...pending].sort((a, b) => a.created_at.localeCompare(b.created_at));
  return {
    count: sorted.length,
    oldest_created_at: sorted[0]?.created_at ?? null,
    approvals: sorted.map((a) => ({
      approval_id: a.approval_id,
      request_id: a.request_id,
      user_id: a.user_id,
      action: a.action.action,
      created_at: a.created_at,
      expires_at: a.expires_at,
    })),
  };
}
