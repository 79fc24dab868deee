import type { LimitWindow } from './ports';

/**
 * Fixed windows for the rate limiters (local and AWS): the window of an instant, its end, the
 * Retry-After it implies, and the checks both limiters make on their arguments (a limiter fails
 * closed on a bad argument rather than admitting).
 */

/** The fixed window of `nowMs` for windows of `seconds`. */
export function windowIndex(nowMs: number, seconds: number): number {
  return Math.floor(nowMs / 1000 / seconds);
}

export function windowEndMs(seconds: number, index: number): number {
  return (index + 1) * seconds * 1000;
}

/** Seconds until window `index` ends, rounded up, at least 1 (a `Retry-After` value). */
export function retryAfterSeconds(nowMs: number, seconds: number, index: number): number {
  return Math.max(1, Math.ceil((windowEndMs(seconds, index) - nowMs) / 1000));
}

/** `%` and `#` escaped, so `#` only ever separates the parts of a counter's name. */
export function escapeKey(key: string): string {
  if (typeof key !== 'string') throw new TypeError('rate limit key must be a string');
  return key.replace(/%/g, '%25').replace(/#/g, '%23');
}

export function checkNow(nowMs: number): void {
  if (!Number.isFinite(nowMs)) throw new RangeError('nowMs must be a finite number');
}

export function checkSeconds(seconds: number): void {
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new RangeError('window seconds must be a positive integer');
  }
}

export function checkTake(windows: readonly LimitWindow[], nowMs: number, cost: number): void {
  checkNow(nowMs);
  if (!Number.isSafeInteger(cost) || cost < 0) {
    throw new RangeError('cost must be a non-negative integer');
  }
  const names = new Set<string>();
  for (const w of windows) {
    checkSeconds(w.seconds);
    if (!Number.isSafeInteger(w.limit) || w.limit < 0) {
      throw new RangeError(`limit of window ${w.name} must be a non-negative integer`);
    }
    if (typeof w.name !== 'string' || w.name === '' || w.name.includes('#')) {
      throw new RangeError('window names must be non-empty and contain no #');
    }
    if (w.name === 'distinct') throw new RangeError('window name distinct is reserved');
    if (names.has(w.name)) throw new RangeError(`window name ${w.name} is used twice`);
    names.add(w.name);
  }
}

/** The arguments of `addDistinct`, checked alike by both limiters. */
export function checkDistinct(ids: readonly string[], windowSeconds: number, nowMs: number): void {
  checkSeconds(windowSeconds);
  checkNow(nowMs);
  for (const id of ids) {
    if (typeof id !== 'string') throw new TypeError('distinct ids must be strings');
  }
}
