import { ApprovalLifecycle } from './approvals';
import { approvalEventFields, buildAuditRecord, type RecordFields } from './audit-record';
import type {
  Approval,
  ApprovalStore,
  AuditSink,
  Clock,
  ControlSnapshot,
  ControlSwitch,
  Logger,
} from './ports';

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
  /** The switch as stored once the command ran (a concurrent change to the other flag shows). */
  control: ControlSnapshot;
  /** Whether the command changed anything (a second `contain` changes nothing). */
  changed: boolean;
  /** Approvals cancelled by `contain`. */
  cancelled: string[];
  /**
   * Set when `contain` could not list or cancel every pending write (the log says why): some
   * may still be pending. They cannot run while the gateway is contained; run `contain` again.
   */
  incomplete?: true;
}

/** What a sweep of the pending writes did. */
export interface SweepResult {
  cancelled: string[];
  /** False when listing or cancelling failed for some (logged); the rest are in `cancelled`. */
  complete: boolean;
}

/** The flag each switch command moves, and where it moves it. */
const MOVES: Record<ControlCommand, { flag: 'contained' | 'readOnly'; value: boolean }> = {
  contain: { flag: 'contained', value: true },
  release: { flag: 'contained', value: false },
  read_only_on: { flag: 'readOnly', value: true },
  read_only_off: { flag: 'readOnly', value: false },
};

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
   *
   * Only the command's own flag is written: a `read_only_off` racing a `contain` can never
   * write `contained` back to its old value. The answer and the record show the switch as the
   * store returned it after the change.
   */
  async run(
    meta: CommandMeta,
    command: ControlCommand,
    reason: string | null,
  ): Promise<ControlResult> {
    const { flag, value } = MOVES[command];
    const before = await this.deps.control.snapshot();
    const changed = before[flag] !== value;
    const control = changed
      ? await this.deps.control.set({
          ...(flag === 'contained' ? { contained: value } : { readOnly: value }),
          changedAt: new Date(this.deps.clock.now()).toISOString(),
          changedBy: meta.by,
          reason,
        })
      : before;
    await this.record(meta, {
      action: command,
      structured_action: {
        command,
        reason,
        contained: control.contained,
        read_only: control.readOnly,
        changed,
      },
      outcome: 'completed',
      response_status: 200,
    });
    if (command !== 'contain') return { command, control, changed, cancelled: [] };
    const sweep = await this.sweepPending(meta);
    return {
      command,
      control,
      changed,
      cancelled: sweep.cancelled,
      ...(sweep.complete ? {} : { incomplete: true as const }),
    };
  }

  /**
   * Cancels every pending write (reason `gateway_contained`) and returns their ids. It never
   * throws: a failure to list or cancel is logged and the sweep returns what it cancelled, so
   * the command that asked for it keeps its one audit record.
   */
  async cancelPending(meta: CommandMeta): Promise<string[]> {
    return (await this.sweepPending(meta)).cancelled;
  }

  /** {@link cancelPending}, also saying whether the sweep got through every pending write. */
  async sweepPending(meta: CommandMeta): Promise<SweepResult> {
    const cancelled: string[] = [];
    let pending: Approval[];
    try {
      pending = await this.deps.approvals.listByStatus('pending_approval');
    } catch (err) {
      this.deps.log.error('listing the pending writes to cancel failed', {
        request_id: meta.requestId,
        error: errorText(err),
      });
      return { cancelled, complete: false };
    }
    let complete = true;
    for (const a of pending) {
      let done: Approval | null;
      try {
        done = await this.lifecycle().cancel(a.approval_id, meta.by);
      } catch (err) {
        complete = false;
        this.deps.log.error('cancelling a pending write failed', {
          request_id: meta.requestId,
          approval_id: a.approval_id,
          error: errorText(err),
        });
        continue;
      }
      if (!done) continue;
      cancelled.push(done.approval_id);
      try {
        if (this.deps.cancelled) {
          await this.deps.cancelled(done);
        } else {
          await this.record({ ...meta, requestId: done.request_id }, approvalEventFields(done));
        }
      } catch (err) {
        // The write is cancelled either way (its status is denied, so it can never run).
        this.deps.log.error('recording a cancelled approval failed', {
          approval_id: done.approval_id,
          error: errorText(err),
        });
      }
    }
    return { cancelled, complete };
  }

  /** The audit record of a command that is not a switch (a token rotation, an export). */
  async recordCommand(
    meta: CommandMeta,
    action: string,
    details: Record<string, unknown>,
    outcome: 'completed' | 'rejected' | 'failed' = 'completed',
    reason: string | null = null,
  ): Promise<void> {
    await this.record(meta, {
      action,
      structured_action: details,
      outcome,
      reason,
      response_status: 200,
    });
  }

  /** A command's record (`event: 'control'`, by the operator), through the one builder. */
  private async record(meta: CommandMeta, fields: RecordFields): Promise<void> {
    const record = buildAuditRecord(
      meta,
      { event: 'control', caller: meta.by, ...fields },
      this.deps.clock.now(),
      this.deps.secrets?.() ?? [],
    );
    await this.deps.audit.append(record);
  }

  private lifecycle(): ApprovalLifecycle {
    return new ApprovalLifecycle({
      approvals: this.deps.approvals,
      clock: this.deps.clock,
      control: this.deps.control,
    });
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

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
