/**
 * Who may run an ops command: an event of the contract's shape, from a caller whose identity
 * STS vouches for. Every refusal is audited (`rejected`) before it is answered.
 */
import { AirlockError, asAirlockError } from '../../core/errors';
import type { CommandMeta, Operator } from '../../core/operator';
import {
  OPS_COMMANDS,
  OPS_ROUTE,
  type OpsEvent,
  OpsEventSchema,
  type OpsFailure,
  PRINTABLE_ASCII,
} from './contract';
import type { OpsDeps } from './deps';

/** The event parsed and its caller proven, or the refusal already recorded. */
export type Admission = { ok: true; event: OpsEvent; meta: CommandMeta } | OpsFailure;

export async function admit(
  deps: Pick<OpsDeps, 'verifyIdentity'>,
  stored: Operator,
  event: unknown,
  started: { requestId: string; startedAt: number },
): Promise<Admission> {
  const { requestId, startedAt } = started;
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
  const { command } = parsed.data;
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
  return {
    ok: true,
    event: parsed.data,
    meta: { requestId, by, route: OPS_ROUTE, startedAt },
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
