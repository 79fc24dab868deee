import {
  type HubSpotCallResult,
  PROBE_SEARCH,
  type ProbeResult,
  probeInvocation,
  searchInvocation,
} from '../adapters/aws/hubspot-call-protocol';
import { type AirlockError, asAirlockError } from '../core/errors';
import type { CallContext, HubSpotPort, Logger, TokenProvider } from '../core/ports';

export interface HubSpotCallDeps {
  hubspot: HubSpotPort;
  /** The provider `hubspot` reads its token from: a probe refreshes it past the cache. */
  tokens?: TokenProvider;
  log: Logger;
  now: () => number;
}

/**
 * The HubSpot-call function's logic: check the invocation again (a search the catalog could
 * have built, or the operator's probe), run it within the caller's deadline and the function's
 * remaining time, and answer records or a typed error. It never throws, so the caller always
 * gets a typed answer.
 */
export function createHubSpotCallHandler(deps: HubSpotCallDeps) {
  /** Keeps half a second to answer before the function itself times out. */
  const deadlineOf = (requested: number, remainingMs: number) =>
    Math.min(requested, deps.now() + remainingMs - 500);

  const logUnexpected = (e: AirlockError) => {
    if (e.code === 'internal_error') {
      deps.log.error('HubSpot call failed unexpectedly', {
        error: e.cause instanceof Error ? e.cause.message : String(e.cause),
      });
    }
  };

  /** One search that matches nothing, with a freshly fetched token: is the token accepted? */
  const probe = async (requested: number, remainingMs: number): Promise<ProbeResult> => {
    const calls: CallContext['calls'] = [];
    const deadline = deadlineOf(requested, remainingMs);
    try {
      await deps.tokens?.get('read', { refresh: true });
      // The records are dropped unread: the probe matches none, and answers none.
      await deps.hubspot.search('contacts', PROBE_SEARCH, { deadline, calls });
      return { ok: true, status: calls.at(-1)?.status ?? null, calls };
    } catch (err) {
      const e = asAirlockError(err);
      logUnexpected(e);
      return {
        ok: false,
        status: e.hubspotStatus ?? calls.at(-1)?.status ?? null,
        calls,
        error: { code: e.code, message: e.message },
      };
    }
  };

  return async (event: unknown, remainingMs = 10_000): Promise<HubSpotCallResult | ProbeResult> => {
    const calls: CallContext['calls'] = [];
    const asProbe = probeInvocation.safeParse(event);
    if (asProbe.success) return probe(asProbe.data.deadline, remainingMs);
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
    const deadline = deadlineOf(inv.deadline, remainingMs);
    try {
      const records = await deps.hubspot.search(inv.object, inv.request, { deadline, calls });
      return { ok: true, records, calls };
    } catch (err) {
      const e = asAirlockError(err);
      logUnexpected(e);
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
