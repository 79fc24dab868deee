import type { Clock } from '../../lambdas/core/ports';

/**
 * Time in tests. A test of windows, expiry or start/stop never sleeps against a fixed window: it
 * hands the code a clock it moves by hand (the Clock port, or the emulator's `now`), or it waits
 * for the event it needs with {@link until}.
 */

/** 2026-11-29T10:00:00.000Z: a whole hour, so also a whole minute, ten seconds and second. */
export const TEST_EPOCH = Date.parse('2026-11-29T10:00:00.000Z');

/** A clock that stands still until the test moves it. */
export interface ManualClock extends Clock {
  /** Moves the clock forward by `ms`; returns the new time. */
  advance(ms: number): number;
  /**
   * Moves the clock forward to the start of the next fixed window of `seconds` (the limiters'
   * windows start at multiples of their length since the epoch); returns the new time.
   */
  startWindow(seconds: number): number;
}

export function manualClock(start = TEST_EPOCH): ManualClock {
  let t = start;
  const advance = (ms: number): number => {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('a test clock only moves forward');
    t += ms;
    return t;
  };
  return {
    now: () => t,
    advance,
    startWindow: (seconds) => {
      const length = seconds * 1000;
      return advance((Math.floor(t / length) + 1) * length - t);
    },
  };
}

/** Polls `done` every few milliseconds until it holds; throws after `ms` (a bound, not a wait). */
export async function until(
  what: string,
  done: () => boolean | Promise<boolean>,
  ms = 5000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
