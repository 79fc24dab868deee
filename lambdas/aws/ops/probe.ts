/**
 * `probe_read_token`: the HubSpot-call function's probe, which the operator may not invoke
 * directly. It refetches the read token and makes one search that matches nothing; only its
 * verdict comes back, and the audit record says ok and status only.
 */
import { InvokeCommand } from '@aws-sdk/client-lambda';
import * as z from 'zod';
import type { ProbeInvocation, ProbeResult } from '../../adapters/aws/hubspot-call-protocol';
import { REQUEST_DEADLINE_MS } from '../../config/shared';
import { AirlockError, ERROR_STATUS, type ErrorCode } from '../../core/errors';
import type { CommandMeta, Operator } from '../../core/operator';
import type { OpsDeps } from './deps';

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

export function probeReadToken(
  deps: Pick<OpsDeps, 'lambda' | 'hubspotCallFunctionName' | 'clock'>,
  stored: Operator,
): (meta: CommandMeta) => Promise<ProbeResult> {
  return async (meta) => {
    const invocation: ProbeInvocation = {
      op: 'probe',
      deadline: deps.clock.now() + REQUEST_DEADLINE_MS.default,
    };
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
}
