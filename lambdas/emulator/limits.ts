/**
 * HubSpot's rate limits per token, as the emulator enforces them: a rolling ten-second window for
 * most calls, a per-second window for searches, a daily quota; the `X-HubSpot-RateLimit-*`
 * headers and the 429 body naming the policy a request broke.
 */

import { randomUUID } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import type { ErrorBody } from './wire';

export type RateLimitPolicy = 'TEN_SECONDLY_ROLLING' | 'SECONDLY' | 'DAILY';

export interface RateLimits {
  perTenSeconds: number;
  searchPerSecond: number;
  daily: number;
}

const DEFAULT_LIMITS: RateLimits = { perTenSeconds: 100, searchPerSecond: 5, daily: 250_000 };
const TEN_SECONDS_MS = 10_000;
const ONE_SECOND_MS = 1_000;
const DAY_MS = 86_400_000;

/** The limits asked for, each one left out taking HubSpot's default. */
export function resolveLimits(asked: Partial<RateLimits> | undefined): RateLimits {
  return {
    perTenSeconds: asked?.perTenSeconds ?? DEFAULT_LIMITS.perTenSeconds,
    searchPerSecond: asked?.searchPerSecond ?? DEFAULT_LIMITS.searchPerSecond,
    daily: asked?.daily ?? DEFAULT_LIMITS.daily,
  };
}

const RATE_LIMIT_MESSAGES: Record<RateLimitPolicy, string> = {
  TEN_SECONDLY_ROLLING: 'You have reached your ten_secondly_rolling limit.',
  SECONDLY: 'You have reached your secondly limit.',
  DAILY: 'You have reached your daily limit.',
};

/** HubSpot's 429 body for `policy`. */
export function rateLimitBody(policy: RateLimitPolicy): ErrorBody {
  return {
    status: 'error',
    message: RATE_LIMIT_MESSAGES[policy],
    errorType: 'RATE_LIMIT',
    correlationId: randomUUID(),
    policyName: policy,
  };
}

interface TokenWindow {
  general: number[];
  search: number[];
  day: number;
  dailyCount: number;
}

export class RateLimiter {
  private windows = new Map<string, TokenWindow>();

  constructor(
    private readonly limits: RateLimits,
    private readonly now: () => number,
  ) {}

  /** Counts a request if it fits; returns the policy it breaks otherwise. */
  admit(token: string, isSearch: boolean): RateLimitPolicy | null {
    const w = this.window(token);
    const now = this.now();
    if (w.dailyCount >= this.limits.daily) return 'DAILY';
    if (isSearch) {
      if (w.search.length >= this.limits.searchPerSecond) return 'SECONDLY';
      w.search.push(now);
    } else {
      if (w.general.length >= this.limits.perTenSeconds) return 'TEN_SECONDLY_ROLLING';
      w.general.push(now);
    }
    w.dailyCount += 1;
    return null;
  }

  /** The rate-limit headers of an answer to `token` (none known: a fresh window). */
  headers(token: string | null, exhausted: RateLimitPolicy | null): OutgoingHttpHeaders {
    const w = token === null ? null : this.window(token);
    const remaining =
      exhausted === 'TEN_SECONDLY_ROLLING'
        ? 0
        : this.limits.perTenSeconds - (w?.general.length ?? 0);
    const dailyRemaining = exhausted === 'DAILY' ? 0 : this.limits.daily - (w?.dailyCount ?? 0);
    return {
      'X-HubSpot-RateLimit-Daily': String(this.limits.daily),
      'X-HubSpot-RateLimit-Daily-Remaining': String(Math.max(0, dailyRemaining)),
      'X-HubSpot-RateLimit-Interval-Milliseconds': String(TEN_SECONDS_MS),
      'X-HubSpot-RateLimit-Max': String(this.limits.perTenSeconds),
      'X-HubSpot-RateLimit-Remaining': String(Math.max(0, remaining)),
    };
  }

  clear(): void {
    this.windows.clear();
  }

  /** The token's window, pruned to the current time. */
  private window(token: string): TokenWindow {
    const now = this.now();
    const day = Math.floor(now / DAY_MS);
    let w = this.windows.get(token);
    if (!w) {
      w = { general: [], search: [], day, dailyCount: 0 };
      this.windows.set(token, w);
    }
    if (w.day !== day) {
      w.day = day;
      w.dailyCount = 0;
    }
    w.general = w.general.filter((t) => t > now - TEN_SECONDS_MS);
    w.search = w.search.filter((t) => t > now - ONE_SECOND_MS);
    return w;
  }
}
