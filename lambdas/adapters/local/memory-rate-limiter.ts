import {
  checkDistinct,
  checkTake,
  escapeKey,
  retryAfterSeconds,
  windowEndMs,
  windowIndex,
} from '../../core/limit-windows';
import type { LimitWindow, RateLimiter } from '../../core/ports';

/** How often (in `nowMs` time) counters of windows that have ended are dropped. */
const SWEEP_EVERY_MS = 60_000;

interface Counter {
  /** When the window ends (epoch ms); the counter is dropped by the sweep after that. */
  endMs: number;
  count: number;
}

interface DistinctSet {
  endMs: number;
  ids: Set<string>;
}

/**
 * Rate limits for local mode, held in memory (one process; lost on restart).
 *
 * Windows are FIXED: the window of `nowMs` is `floor(nowMs / 1000 / seconds)`, and it resets at
 * the next multiple of `seconds` after the epoch (not `seconds` after the first request).
 *
 * - `take` checks every window first and takes `cost` from all of them only when all admit, in
 *   one synchronous step (no `await` in between), so concurrent calls in the process cannot
 *   over-admit. When a window refuses, nothing is taken and it returns the seconds until the
 *   first refusing window (in the given order) resets: rounded up, at least 1. A `cost` larger
 *   than a window's `limit` can never be admitted; it is refused like a full window.
 * - `release` gives back `cost` units to the counters of every window of `nowMs`, in one
 *   synchronous step, never below zero: a counter holding less than `cost` (never the case
 *   after an admitted take) is left as it is, and none is created, as on DynamoDB.
 * - `addDistinct` keeps one set of ids per (key, window) and returns its size after adding.
 *
 * Counters live under the same names as the DynamoDB adapter's items (`key#window#index`,
 * `key#distinct#index`), so both adapters answer alike: in particular, `addDistinct` keeps one
 * set per key and window index whatever `windowSeconds` is, so a key should always be used
 * with the same window length.
 *
 * Counters of ended windows are dropped by a sweep run at most once a minute (of `nowMs`
 * time), so memory stays bounded by the keys active in the current windows.
 *
 * Invalid arguments (a negative or fractional cost, a window with a non-positive or fractional
 * `seconds`, a negative `limit`, a name that is empty, contains `#` or is `distinct`, two
 * windows with the same name, a non-finite `nowMs`) are rejected with an error: the gateway
 * then fails closed.
 */
export class MemoryRateLimiter implements RateLimiter {
  private readonly counters = new Map<string, Counter>();
  private readonly distinct = new Map<string, DistinctSet>();
  private nextSweepMs = Number.NEGATIVE_INFINITY;

  async take(
    key: string,
    windows: readonly LimitWindow[],
    nowMs: number,
    cost = 1,
  ): Promise<number | null> {
    checkTake(windows, nowMs, cost);
    this.sweep(nowMs);
    const slots = windows.map((w) => {
      const index = windowIndex(nowMs, w.seconds);
      const name = `${escapeKey(key)}#${w.name}#${index}`;
      return { w, index, name, counter: this.counters.get(name) };
    });
    // Check all, then take from all: nothing in between yields to another call.
    for (const { w, index, counter } of slots) {
      if (cost > w.limit || (counter?.count ?? 0) + cost > w.limit) {
        return retryAfterSeconds(nowMs, w.seconds, index);
      }
    }
    for (const { w, index, name, counter } of slots) {
      if (counter) counter.count += cost;
      else this.counters.set(name, { endMs: windowEndMs(w.seconds, index), count: cost });
    }
    return null;
  }

  async release(
    key: string,
    windows: readonly LimitWindow[],
    nowMs: number,
    cost = 1,
  ): Promise<void> {
    checkTake(windows, nowMs, cost);
    for (const w of windows) {
      const counter = this.counters.get(
        `${escapeKey(key)}#${w.name}#${windowIndex(nowMs, w.seconds)}`,
      );
      if (counter && counter.count >= cost) counter.count -= cost;
    }
  }

  async addDistinct(
    key: string,
    ids: readonly string[],
    windowSeconds: number,
    nowMs: number,
  ): Promise<number> {
    checkDistinct(ids, windowSeconds, nowMs);
    this.sweep(nowMs);
    const index = windowIndex(nowMs, windowSeconds);
    const name = `${escapeKey(key)}#distinct#${index}`;
    let set = this.distinct.get(name);
    if (!set) {
      set = { endMs: windowEndMs(windowSeconds, index), ids: new Set() };
      this.distinct.set(name, set);
    }
    for (const id of ids) set.ids.add(id);
    return set.ids.size;
  }

  /** Drops the counters and sets of windows that ended, at most once per SWEEP_EVERY_MS. */
  private sweep(nowMs: number): void {
    if (nowMs < this.nextSweepMs) return;
    this.nextSweepMs = nowMs + SWEEP_EVERY_MS;
    for (const [name, c] of this.counters) if (c.endMs <= nowMs) this.counters.delete(name);
    for (const [name, s] of this.distinct) if (s.endMs <= nowMs) this.distinct.delete(name);
  }

  /** How many counters and distinct sets are held (for tests of the sweep). */
  get size(): number {
    return this.counters.size + this.distinct.size;
  }
}
