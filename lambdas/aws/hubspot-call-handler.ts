import { type HubSpotCallResult, searchInvocation } from '../adapters/aws/hubspot-call-protocol';
import { asAirlockError } from '../core/errors';
import type { CallContext, HubSpotPort, Logger } from '../core/ports';

export interface HubSpotCallDeps {
  hubspot: HubSpotPort;
  log: Logger;
  now: () => number;
}

/**
 * The HubSpot-call function's logic: check the invocation again (a search the catalog could
 * have built), run it within the caller's deadline and the function's remaining time, and
 * answer records or a typed error. It never throws, so the caller always gets a typed answer.
 */
export function createHubSpotCallHandler(deps: HubSpotCallDeps) {
  return async (event: unknown, remainingMs = 10_000): Promise<HubSpotCallResult> => {
    const calls: CallContext['calls'] = [];
    const parsed = searchInvocation.safeParse(event);
    if (!parsed.success) {
      deps.log.warn('refused an invocation outside the allowlist', {
        issues: parsed.error.issues.map((i) => i.message).slice(0, 5),
      });
      return {
        ok: false,
        error: {
          code: 'validation_failed',
          message: 'The HubSpot call is not one the catalog makes.',
        },
        calls,
      };
    }
    const inv = parsed.data;
    // Keep half a second to answer before the function itself times out.
    const deadline = Math.min(inv.deadline, deps.now() + remainingMs - 500);
    try {
      const records = await deps.hubspot.search(inv.object, inv.request, { deadline, calls });
      return { ok: true, records, calls };
    } catch (err) {
      const e = asAirlockError(err);
      if (e.code === 'internal_error') {
        deps.log.error('HubSpot call failed unexpectedly', {
          error: e.cause instanceof Error ? e.cause.message : String(e.cause),
        });
      }
      return {
        ok: false,
        error: {
          code: e.code,
          message: e.message,
          retryAfterSeconds: e.retryAfterSeconds,
          hubspotStatus: e.hubspotStatus,
          details: e.details,
        },
        calls,
      };
    }
  };
}
