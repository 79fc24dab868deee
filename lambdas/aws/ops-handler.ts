/**
 * The ops function's core: the operator's CLI invokes it (`lambda:InvokeFunction`, granted by
 * the stack's `OperatorPolicy`) to read the kill switch and pending writes, to contain,
 * release, or turn read-only mode on or off, and to confirm a rotated read token (the probe of
 * the HubSpot-call function, which the operator may not invoke). It serves the same Operator
 * core as the local server's operator routes; every call ends in an audit record
 * (`event: 'control'`).
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import type { ProbeInvocation, ProbeResult } from '../adapters/aws/hubspot-call-protocol';
import { AirlockError, asAirlockError, ERROR_STATUS, type ErrorCode } from '../core/errors';
import {
  type CommandMeta,
  type ControlCommand,
  type ControlResult,
  Operator,
  type OperatorStatus,
} from '../core/operator';
import type {
  Approval,
  AuditSink,
  Clock,
  ControlChange,
  ControlSnapshot,
  ControlSwitch,
  Logger,
} from '../core/ports';
import { unsafeTextProblem } from '../core/text';
import type { FlowStore } from './approval-flow-handlers';

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

/** IAM identities (ARNs) are printable ASCII. */
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

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

/** The kill switch as the ops function needs it: the port, the stored value, the override. */
export interface OpsControl extends ControlSwitch {
  /** The switch as stored, without the deploy-time override. */
  stored(): Promise<ControlSnapshot>;
  /** `set`, answering the switch as stored, without the deploy-time override. */
  setStored(change: ControlChange): Promise<ControlSnapshot>;
  readonly forced: ForcedControl;
}

/**
 * How long `contain` waits before it sweeps the pending writes a second time: a validation
 * container may answer from a switch read cached up to 10 s before the change (5 s cache plus
 * the read's own time), and the index the sweep lists is eventually consistent, so a write
 * accepted in that window is pending only after the first sweep.
 */
export const RESWEEP_AFTER_MS = 11_000;

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
  /** @default {@link RESWEEP_AFTER_MS} */
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

/** What the probe may answer; anything else it sends (it sends no CRM data) is dropped. */
const probeAnswer = z.object({
  ok: z.boolean(),
  status: z.number().int().nullable().optional(),
  calls: z
    .array(
      z.object({
        endpoint: z.string().max(200),
        status: z.number().int().nullable(),
        attempts: z.number().int(),
        throttled: z.number().int().optional(),
        duration_ms: z.number(),
      }),
    )
    .max(20)
    .optional(),
  error: z.object({ code: z.string(), message: z.string().max(500) }).optional(),
});

const isErrorCode = (code: string): code is ErrorCode => Object.hasOwn(ERROR_STATUS, code);

/** Step Functions' answers for a token nobody waits on any more (the execution moved on). */
const GONE = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

/** The denial the Slack callback sends, as the state machine's `Decide` state reads it. */
const CANCELLED_DECISION = { decision: 'denied', by: [] as string[] };

export function createOpsHandler(deps: OpsDeps) {
  /**
   * A pending write cancelled by `contain`: the waiting execution gets a denial and its Finish
   * task records it (reason `gateway_contained`) and updates the Slack message. Without a task
   * token yet, there is nothing to send: Notify will find the approval no longer pending and
   * the execution still ends through Finish.
   */
  const cancelled = async (a: Approval) => {
    const taskToken = await deps.approvals.getTaskToken(a.approval_id);
    if (!taskToken) return;
    try {
      await deps.sfn.send(
        new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(CANCELLED_DECISION) }),
      );
    } catch (err) {
      const name = (err as { name?: unknown } | null)?.name;
      if (typeof name === 'string' && GONE.has(name)) {
        deps.log.info('the approval flow no longer waits for this approval', {
          approval_id: a.approval_id,
          error: name,
        });
        return;
      }
      throw err;
    }
  };
  const common = { approvals: deps.approvals, audit: deps.audit, clock: deps.clock, log: deps.log };
  const effective = new Operator({ ...common, control: deps.control, cancelled });
  // Commands compare with and write the stored switch: a `contain` while the deploy-time
  // override is on is still stored, so it holds once the override is deployed away.
  const stored = new Operator({
    ...common,
    control: {
      read: () => deps.control.read(),
      snapshot: () => deps.control.stored(),
      set: (change) => deps.control.setStored(change),
    },
    cancelled,
  });
  const forced = (): ForcedControl => ({
    contained: deps.control.forced.contained,
    readOnly: deps.control.forced.readOnly,
  });
  const sleep =
    deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));

  /**
   * The HubSpot-call function's probe: it refetches the read token and makes one search that
   * matches nothing. Only the probe's verdict comes back; the record says ok and status only.
   */
  const probeReadToken = async (meta: CommandMeta): Promise<ProbeResult> => {
    const invocation: ProbeInvocation = { op: 'probe', deadline: deps.clock.now() + 8000 };
    const out = await deps.lambda.send(
      new InvokeCommand({
        FunctionName: deps.hubspotCallFunctionName,
        Payload: Buffer.from(JSON.stringify(invocation)),
      }),
    );
    if (out.FunctionError) {
      throw new AirlockError('internal_error', 'The HubSpot-call function failed.');
    }
    let payload: unknown;
    try {
      payload = JSON.parse(Buffer.from(out.Payload ?? new Uint8Array()).toString('utf8'));
    } catch {
      payload = null;
    }
    const parsed = probeAnswer.safeParse(payload);
    if (!parsed.success) {
      throw new AirlockError(
        'internal_error',
        'The HubSpot-call function answered in an unexpected shape.',
      );
    }
    const answer = parsed.data;
    const code =
      answer.error && isErrorCode(answer.error.code) ? answer.error.code : 'internal_error';
    const probe: ProbeResult = {
      ok: answer.ok,
      status: answer.status ?? null,
      calls: answer.calls ?? [],
      ...(answer.ok || !answer.error ? {} : { error: { code, message: answer.error.message } }),
    };
    await stored.recordCommand(
      meta,
      'probe_read_token',
      { ok: probe.ok, status: probe.status },
      probe.ok ? 'completed' : 'failed',
      probe.ok ? null : (probe.error?.code ?? 'hubspot_error'),
    );
    return probe;
  };

  /**
   * `contain`, then a second sweep once every reader's cached switch has expired, unless the
   * gateway was released meanwhile (a write accepted after a release is the operator's choice).
   */
  const contain = async (meta: CommandMeta, reason: string | null): Promise<ControlResult> => {
    const result = await stored.run(meta, 'contain', reason);
    await sleep(deps.resweepAfterMs ?? RESWEEP_AFTER_MS);
    // The command is recorded already: nothing here may throw (it would add a second record).
    const released = await deps.control.stored().then(
      (now) => !now.contained && !deps.control.forced.contained,
      () => false,
    );
    if (released) return result;
    const again = await stored.sweepPending(meta);
    return {
      command: result.command,
      control: result.control,
      changed: result.changed,
      cancelled: [...result.cancelled, ...again.cancelled],
      ...(!result.incomplete && again.complete ? {} : { incomplete: true as const }),
    };
  };

  return async (event: unknown): Promise<OpsResult> => {
    const requestId = deps.requestId();
    const startedAt = deps.clock.now();
    const parsed = OpsEventSchema.safeParse(event);
    if (!parsed.success) {
      const message = parsed.error.issues
        .map((i) => `${i.path.length > 0 ? i.path.join('.') : 'event'}: ${i.message}`)
        .join('; ');
      const received = event as { command?: unknown; by?: unknown } | null;
      const by =
        typeof received?.by === 'string' && PRINTABLE_ASCII.test(received.by)
          ? received.by.slice(0, 200)
          : 'unknown';
      const action =
        typeof received?.command === 'string' && /^[a-z_]{1,32}$/.test(received.command)
          ? received.command
          : 'unknown';
      await stored.recordCommand(
        { requestId, by, route: OPS_ROUTE, startedAt },
        action,
        { received: bounded(event), problems: message },
        'rejected',
        'validation_failed',
      );
      return {
        ok: false,
        request_id: requestId,
        error: {
          code: 'validation_failed',
          message: `The ops function takes {command: ${OPS_COMMANDS.join('|')}, by: the caller's IAM ARN, reason?: text up to 500 characters}. ${message}`,
        },
      };
    }
    const { command, reason, rotation } = parsed.data;
    let by = parsed.data.by;
    if (deps.verifyIdentity) {
      try {
        if (!parsed.data.identity) {
          throw new AirlockError(
            'unauthorized',
            "The caller's identity could not be proven: no presigned GetCallerIdentity request.",
          );
        }
        by = await deps.verifyIdentity(parsed.data.identity);
      } catch (err) {
        const e = asAirlockError(err);
        const message =
          e.code === 'unauthorized'
            ? e.message
            : "The caller's identity could not be proven (STS did not answer).";
        await stored.recordCommand(
          { requestId, by: `unverified:${by}`, route: OPS_ROUTE, startedAt },
          command,
          { command, claimed_by: by },
          'rejected',
          'unauthorized',
        );
        return { ok: false, request_id: requestId, error: { code: 'unauthorized', message } };
      }
    }
    const meta: CommandMeta = { requestId, by, route: OPS_ROUTE, startedAt };
    try {
      if (command === 'record_rotation') {
        // The CLI rotates with the operator's own credentials; this is its audit record.
        if (!rotation) throw new Error('unreachable: the schema requires rotation');
        await stored.recordCommand(
          meta,
          `rotate_${rotation.which}`,
          rotation,
          rotation.ok ? 'completed' : 'rejected',
          rotation.ok ? null : 'rotation_refused',
        );
        return { ok: true, request_id: requestId, forced: forced() };
      }
      if (command === 'probe_read_token') {
        const probe = await probeReadToken(meta);
        return { ok: true, request_id: requestId, forced: forced(), probe };
      }
      if (command === 'status') {
        const status = await effective.status();
        await effective.recordCommand(meta, 'status', {});
        return { ok: true, request_id: requestId, forced: forced(), ...status };
      }
      const result =
        command === 'contain'
          ? await contain(meta, reason || null)
          : await stored.run(meta, command, reason || null);
      const f = forced();
      return {
        ok: true,
        request_id: requestId,
        forced: f,
        ...result,
        control: {
          ...result.control,
          contained: result.control.contained || f.contained,
          readOnly: result.control.readOnly || f.readOnly,
        },
      };
    } catch (err) {
      const e = asAirlockError(err);
      const name = err instanceof Error ? err.name : 'Error';
      deps.log.error('ops command failed', { request_id: requestId, command, error: name });
      await stored
        .recordCommand(meta, command, { command, reason: reason ?? null }, 'failed', e.code)
        .catch(() => undefined);
      return {
        ok: false,
        request_id: requestId,
        error: {
          code: e.code,
          message:
            command === 'status'
              ? `The status could not be read (${name}); see the ops function's log.`
              : command === 'probe_read_token'
                ? `The HubSpot-call function's probe did not complete (${name}); see the ops function's log.`
                : `The command did not complete (${name}). The switch may already have moved: run status to see where it stands, then run the command again.`,
        },
      };
    }
  };
}

/** The received event for the audit record of a refusal, cut to a bounded size. */
function bounded(event: unknown): unknown {
  let text: string | undefined;
  try {
    text = JSON.stringify(event);
  } catch {
    return '[unserializable]';
  }
  if (text === undefined) return null;
  return text.length <= 2000 ? (JSON.parse(text) as unknown) : { truncated: text.slice(0, 2000) };
}
