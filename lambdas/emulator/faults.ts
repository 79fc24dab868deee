/**
 * The faults a test injects into the emulator, as the real HubSpot produces them on bad days:
 * 5xx answers, 429s, hung and delayed requests, added latency. Each queued fault is consumed by
 * the next request whose path matches, first queued, first served.
 */

import type { RateLimitPolicy } from './limits';
import { type ErrorBody, errorBody } from './wire';

export type InjectedStatus = 500 | 502 | 503 | 504;

export interface Faults {
  /** Added before every response (errors included). */
  latencyMs: number;
  /** The next `count` requests (whose path contains `pathIncludes`) fail with `status`. @default 500 */
  failNext(count: number, status?: InjectedStatus, pathIncludes?: string): void;
  /** The next `count` matching requests get a 429 for `policy`. @default 'TEN_SECONDLY_ROLLING' */
  rateLimitNext(count: number, policy?: RateLimitPolicy, pathIncludes?: string): void;
  /** The next `count` matching requests are read but never answered (until close). */
  hangNext(count: number, pathIncludes?: string): void;
  /**
   * The next `count` matching requests are held `ms` before the emulator acts on them, as a
   * slow HubSpot would: a create held this way happens only after the wait. Unlike
   * `latencyMs` (added to every answer), it is scoped to a path and composes with the faults
   * above.
   */
  delayNext(count: number, ms: number, pathIncludes?: string): void;
  clear(): void;
}

/** What a queued fault does to the request that takes it. */
export type InjectedFault =
  | { kind: 'fail'; status: InjectedStatus }
  | { kind: 'rateLimit'; policy: RateLimitPolicy }
  | { kind: 'hang' };

interface QueuedFault {
  remaining: number;
  pathIncludes: string | undefined;
  action: InjectedFault;
}

const INJECTED_MESSAGES: Record<InjectedStatus, string> = {
  500: 'internal error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** The body of an injected 5xx, as HubSpot (or the proxy in front of it) answers it. */
export function injectedErrorBody(status: InjectedStatus): ErrorBody {
  return errorBody(INJECTED_MESSAGES[status], null);
}

function assertCount(count: number): void {
  if (!Number.isInteger(count) || count < 0) {
    throw new RangeError('count must be a non-negative integer');
  }
}

function matches(pathIncludes: string | undefined, path: string): boolean {
  return pathIncludes === undefined || path.includes(pathIncludes);
}

export class FaultInjector implements Faults {
  latencyMs = 0;
  private queue: QueuedFault[] = [];
  private delays: { remaining: number; ms: number; pathIncludes: string | undefined }[] = [];

  failNext(count: number, status: InjectedStatus = 500, pathIncludes?: string): void {
    this.push(count, pathIncludes, { kind: 'fail', status });
  }

  rateLimitNext(
    count: number,
    policy: RateLimitPolicy = 'TEN_SECONDLY_ROLLING',
    pathIncludes?: string,
  ): void {
    this.push(count, pathIncludes, { kind: 'rateLimit', policy });
  }

  hangNext(count: number, pathIncludes?: string): void {
    this.push(count, pathIncludes, { kind: 'hang' });
  }

  delayNext(count: number, ms: number, pathIncludes?: string): void {
    assertCount(count);
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('ms must be a non-negative number');
    if (count > 0 && ms > 0) this.delays.push({ remaining: count, ms, pathIncludes });
  }

  clear(): void {
    this.queue = [];
    this.delays = [];
    this.latencyMs = 0;
  }

  /** Consumes the first queued delay that matches the path; 0 when none does. */
  takeDelay(path: string): number {
    const delay = this.delays.find((d) => d.remaining > 0 && matches(d.pathIncludes, path));
    if (!delay) return 0;
    delay.remaining -= 1;
    this.delays = this.delays.filter((d) => d.remaining > 0);
    return delay.ms;
  }

  /** Consumes the first queued fault that matches the path, if any (first queued, first served). */
  take(path: string): InjectedFault | null {
    const fault = this.queue.find((f) => f.remaining > 0 && matches(f.pathIncludes, path));
    if (!fault) return null;
    fault.remaining -= 1;
    this.queue = this.queue.filter((f) => f.remaining > 0);
    return fault.action;
  }

  private push(count: number, pathIncludes: string | undefined, action: InjectedFault): void {
    assertCount(count);
    if (count > 0) this.queue.push({ remaining: count, pathIncludes, action });
  }
}
