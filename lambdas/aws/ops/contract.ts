/**
 * The ops function's contract with the operator's CLI (`lambdas/ops/aws-stack.ts`): the event
 * it takes and what it answers.
 */
import * as z from 'zod';
import type { ProbeResult } from '../../adapters/aws/hubspot-call-protocol';
import type { ControlCommand, ControlResult, OperatorStatus } from '../../core/operator';
import { unsafeTextProblem } from '../../core/text';

/** The route named in the ops function's audit records. */
export const OPS_ROUTE = 'lambda:ops';

export const OPS_COMMANDS = [
  'status',
  'contain',
  'release',
  'read_only_on',
  'read_only_off',
  'record_rotation',
  'probe_read_token',
] as const satisfies readonly (
  | 'status'
  | 'record_rotation'
  | 'probe_read_token'
  | ControlCommand
)[];

export type OpsCommand = (typeof OPS_COMMANDS)[number];

/** IAM identities (ARNs) are printable ASCII. */
export const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/** What the CLI sends. `by` is the operator's IAM identity, as STS reports it to the CLI. */
export const OpsEventSchema = z
  .strictObject({
    command: z.enum(OPS_COMMANDS),
    by: z.string().min(1).max(200).regex(PRINTABLE_ASCII, 'must be printable ASCII (an IAM ARN)'),
    reason: z
      .string()
      .max(500)
      .refine(
        (s) => unsafeTextProblem(s, 'line') === null,
        'must not contain control or hidden characters',
      )
      .optional(),
    /**
     * A presigned `sts:GetCallerIdentity` request made with the caller's credentials: the
     * function sends it to STS and records the ARN STS answers, not `by`.
     */
    identity: z.string().max(4096).optional(),
    /** With `record_rotation`: what the CLI's rotation did (never the value). */
    rotation: z
      .strictObject({
        which: z.enum(['read', 'write', 'slack-bot', 'slack-signing']),
        ok: z.boolean(),
        steps: z
          .array(
            z.strictObject({
              step: z.enum(['check', 'store', 'pickup', 'confirm', 'revoke_old']),
              ok: z.boolean(),
            }),
          )
          .max(10),
      })
      .optional(),
  })
  .superRefine((e, ctx) => {
    if ((e.command === 'record_rotation') !== (e.rotation !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['rotation'],
        message: 'is required with record_rotation, and only with it',
      });
    }
  });

export type OpsEvent = z.infer<typeof OpsEventSchema>;

/** The deploy-time override (`-c contained=true`, `-c readOnly=true`), reported with every answer. */
export interface ForcedControl {
  contained: boolean;
  readOnly: boolean;
}

export type OpsStatusResult = {
  ok: true;
  request_id: string;
  forced: ForcedControl;
} & OperatorStatus;
export type OpsRecordResult = { ok: true; request_id: string; forced: ForcedControl };
/** The answer to `probe_read_token`: whether HubSpot accepted the stored read token (no data). */
export type OpsProbeResult = {
  ok: true;
  request_id: string;
  forced: ForcedControl;
  probe: ProbeResult;
};
export type OpsCommandResult = {
  ok: true;
  request_id: string;
  forced: ForcedControl;
} & ControlResult;
export interface OpsFailure {
  ok: false;
  request_id: string;
  error: { code: string; message: string };
}
/** What the ops function answers. `control` is always the switch in effect (override included). */
export type OpsResult =
  | OpsStatusResult
  | OpsCommandResult
  | OpsRecordResult
  | OpsProbeResult
  | OpsFailure;
