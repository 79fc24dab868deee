/** What the ops function is built from (`lambdas/aws/ops.ts` wires the real ones). */
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type {
  AuditSink,
  Clock,
  ControlChange,
  ControlSnapshot,
  ControlSwitch,
  Logger,
} from '../../core/ports';
import type { FlowStore } from '../approval-flow-handlers';
import type { ForcedControl } from './contract';

/** The kill switch as the ops function needs it: the port, the stored value, the override. */
export interface OpsControl extends ControlSwitch {
  /** The switch as stored, without the deploy-time override. */
  stored(): Promise<ControlSnapshot>;
  /** `set`, answering the switch as stored, without the deploy-time override. */
  setStored(change: ControlChange): Promise<ControlSnapshot>;
  readonly forced: ForcedControl;
}

export interface OpsDeps {
  control: OpsControl;
  approvals: FlowStore;
  audit: AuditSink;
  /** Resumes the approval state machine's waiting executions. */
  sfn: Pick<SFNClient, 'send'>;
  clock: Clock;
  log: Logger;
  /** The id of each call's audit record (`ops-<random>`). */
  requestId(): string;
  /** Invokes the HubSpot-call function's probe (`probe_read_token`). */
  lambda: Pick<LambdaClient, 'send'>;
  hubspotCallFunctionName: string;
  /** @default `RESWEEP_AFTER_MS` (./contain.ts) */
  resweepAfterMs?: number;
  /**
   * Proves the caller's identity from the event's presigned GetCallerIdentity request (see
   * lambdas/adapters/aws/sts-identity.ts). When given, every call must carry one, and the audit
   * records name the ARN STS vouches for; without it (tests), `by` is taken as sent.
   */
  verifyIdentity?: (identity: string) => Promise<string>;
  /** @default a timer */
  sleep?: (ms: number) => Promise<void>;
}
