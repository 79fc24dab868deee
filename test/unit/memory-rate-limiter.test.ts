import { MemoryRateLimiter } from '../../lambdas/adapters/local/memory-rate-limiter';
import type { LimitWindow } from '../../lambdas/core/ports';

/** A time on a whole hour (so also on a whole minute and second): 2027-01-15T08:00:00Z. */
const T0 = 1_800_000_000_000;
const MINUTE: LimitWindow = { name: 'minute', limit: 3, seconds: 60 };
const HOUR: LimitWindow = { name: 'hour', limit: 5, seconds: 3600 };

async function takeN(
  limiter: MemoryRateLimiter,
  n: number,
  key: string,
  windows: LimitWindow[],
  nowMs: number,
  cost?: number,
): Promise<(number | null)[]> {
  const out: (number | null)[] = [];
  for (let i = 0; i < n; i++) out.push(await limiter.take(key, windows, nowMs, cost));
  return out;
}

describe('MemoryRateLimiter.take', () => {
  it('admits exactly the limit, then refuses with the seconds until the window resets', async () => {
    const limiter = new MemoryRateLimiter();
    expect(await takeN(limiter, 3, 'u', [MINUTE], T0 + 15_000)).toEqual([null, null, null]);
    expect(await limiter.take('u', [MINUTE], T0 + 15_000)).toBe(45);
    // Rounded up, at least 1.
    expect(await limiter.take('u', [MINUTE], T0 + 15_001)).toBe(45);
    expect(await limiter.take('u', [MINUTE], T0 + 59_000)).toBe(1);
    expect(await limiter.take('u', [MINUTE], T0 + 59_999)).toBe(1);
  });

  it('resets at the next fixed window boundary, not a window after the first request', async () => {
    const limiter = new MemoryRateLimiter();
    expect(await takeN(limiter, 3, 'u', [MINUTE], T0 + 59_000)).toEqual([null, null, null]);
    expect(await limiter.take('u', [MINUTE], T0 + 59_999)).toBe(1);
    expect(await takeN(limiter, 3, 'u', [MINUTE], T0 + 60_000)).toEqual([null, null, null]);
    expect(await limiter.take('u', [MINUTE], T0 + 60_000)).toBe(60);
  });

  it('keeps keys apart (including keys that contain #)', async () => {
    const limiter = new MemoryRateLimiter();
    for (const key of ['alice', 'bob', 'alice#minute', 'alice%23minute']) {
      expect(await takeN(limiter, 3, key, [MINUTE], T0)).toEqual([null, null, null]);
      expect(await limiter.take(key, [MINUTE], T0)).toBe(60);
    }
  });

  it('enforces two windows together (3 a minute, 5 an hour)', async () => {
    const limiter = new MemoryRateLimiter();
    const both = [MINUTE, HOUR];
    expect(await takeN(limiter, 3, 'u', both, T0 + 10_000)).toEqual([null, null, null]);
    expect(await limiter.take('u', both, T0 + 10_000)).toBe(50); // the minute refuses
    expect(await takeN(limiter, 2, 'u', both, T0 + 60_000)).toEqual([null, null]);
    expect(await limiter.take('u', both, T0 + 60_000)).toBe(3540); // the hour refuses
    expect(await limiter.take('u', both, T0 + 3_599_500)).toBe(1);
    expect(await limiter.take('u', both, T0 + 3_600_000)).toBeNull();
  });

  it('takes nothing when one window refuses (atomic across windows)', async () => {
    const limiter = new MemoryRateLimiter();
    // The hour first: a request refused by the minute must not count against the hour.
    const both = [HOUR, MINUTE];
    expect(await takeN(limiter, 4, 'u', both, T0)).toEqual([null, null, null, 60]);
    expect(await takeN(limiter, 3, 'u', both, T0 + 60_000)).toEqual([null, null, 3540]);
  });

  it('returns the reset of the first refusing window in the given order', async () => {
    const limiter = new MemoryRateLimiter();
    const minute = { name: 'minute', limit: 2, seconds: 60 };
    const hour = { name: 'hour', limit: 2, seconds: 3600 };
    expect(await takeN(limiter, 2, 'u', [minute, hour], T0)).toEqual([null, null]);
    expect(await limiter.take('u', [minute, hour], T0)).toBe(60);
    expect(await limiter.take('u', [hour, minute], T0)).toBe(3600);
  });

  it('takes cost units at a time', async () => {
    const limiter = new MemoryRateLimiter();
    const w = [{ name: 'ten', limit: 10, seconds: 10 }];
    expect(await limiter.take('u', w, T0, 4)).toBeNull();
    expect(await limiter.take('u', w, T0, 4)).toBeNull();
    expect(await limiter.take('u', w, T0, 4)).toBe(10); // 12 > 10: refused, nothing taken
    expect(await limiter.take('u', w, T0, 2)).toBeNull(); // exactly 10
    expect(await limiter.take('u', w, T0, 1)).toBe(10);
    expect(await limiter.take('u', w, T0, 0)).toBeNull(); // cost 0 at the limit is admitted
    // More than the limit is never admitted, even in a fresh window, and takes nothing.
    expect(await limiter.take('v', w, T0, 11)).toBe(10);
    expect(await limiter.take('v', w, T0, 10)).toBeNull();
  });

  it('admits exactly 20 of 50 concurrent calls on a limit of 20', async () => {
    const limiter = new MemoryRateLimiter();
    const w = [{ name: 'minute', limit: 20, seconds: 60 }];
    const results = await Promise.all(
      Array.from({ length: 50 }, () => limiter.take('u', w, T0 + 1_000)),
    );
    expect(results.filter((r) => r === null)).toHaveLength(20);
    expect(results.filter((r) => r === 59)).toHaveLength(30);
  });

  it('admits no more than the shorter limit under concurrency with two windows', async () => {
    const limiter = new MemoryRateLimiter();
    const both = [MINUTE, HOUR];
    const results = await Promise.all(
      Array.from({ length: 10 }, () => limiter.take('u', both, T0)),
    );
    expect(results.filter((r) => r === null)).toHaveLength(3);
  });

  it('admits everything when there is no window', async () => {
    expect(await new MemoryRateLimiter().take('u', [], T0, 1000)).toBeNull();
  });

  it('rejects invalid arguments (the gateway then fails closed)', async () => {
    const limiter = new MemoryRateLimiter();
    await expect(limiter.take('u', [MINUTE], Number.NaN)).rejects.toThrow(RangeError);
    await expect(limiter.take('u', [MINUTE], T0, -1)).rejects.toThrow(RangeError);
    await expect(limiter.take('u', [MINUTE], T0, 1.5)).rejects.toThrow(RangeError);
    await expect(limiter.take('u', [{ ...MINUTE, seconds: 0 }], T0)).rejects.toThrow(RangeError);
    await expect(limiter.take('u', [{ ...MINUTE, limit: -1 }], T0)).rejects.toThrow(RangeError);
    await expect(limiter.take('u', [{ ...MINUTE, name: 'a#b' }], T0)).rejects.toThrow(RangeError);
    await expect(limiter.take('u', [{ ...MINUTE, name: 'distinct' }], T0)).rejects.toThrow(
      RangeError,
    );
    await expect(limiter.take('u', [MINUTE, { ...HOUR, name: 'minute' }], T0)).rejects.toThrow(
      /twice/,
    );
    await expect(limiter.addDistinct('u', ['a'], 0, T0)).rejects.toThrow(RangeError);
    await expect(limiter.addDistinct('u', ['a'], 3600, Number.POSITIVE_INFINITY)).rejects.toThrow(
      RangeError,
    );
    // Nothing was taken by the rejected calls.
    expect(await takeN(limiter, 3, 'u', [MINUTE], T0)).toEqual([null, null, null]);
  });

  it('drops the counters of ended windows', async () => {
    const limiter = new MemoryRateLimiter();
    for (let i = 0; i < 100; i++) await limiter.take(`user${i}`, [MINUTE, HOUR], T0);
    await limiter.addDistinct('r', ['a'], 3600, T0);
    expect(limiter.size).toBe(201);
    await limiter.take('late', [MINUTE], T0 + 120_000); // minutes ended, hours have not
    expect(limiter.size).toBe(102);
    await limiter.take('later', [MINUTE], T0 + 7_200_000);
    expect(limiter.size).toBe(1);
  });
});

describe('MemoryRateLimiter.release', () => {
  it('gives back what an admitted take took, in every window', async () => {
    const limiter = new MemoryRateLimiter();
    const both = [MINUTE, HOUR];
    expect(await takeN(limiter, 3, 'u', both, T0 + 5_000)).toEqual([null, null, null]);
    expect(await limiter.take('u', both, T0 + 5_000)).toBe(55);
    await limiter.release('u', both, T0 + 5_000);
    // One unit back in the minute and in the hour.
    expect(await limiter.take('u', both, T0 + 6_000)).toBeNull();
    expect(await limiter.take('u', both, T0 + 6_000)).toBe(54);
    await limiter.release('u', both, T0 + 6_000);
    await limiter.release('u', both, T0 + 6_000);
    // The hour holds 1 now (4 taken, 3 given back): 4 more before it refuses.
    expect(await takeN(limiter, 2, 'u', both, T0 + 7_000)).toEqual([null, null]);
    expect(await takeN(limiter, 2, 'u', both, T0 + 60_000)).toEqual([null, null]);
    expect(await limiter.take('u', both, T0 + 60_000)).toBe(3540);
  });

  it('gives back cost units, never below zero, and creates nothing', async () => {
    const limiter = new MemoryRateLimiter();
    const w = [{ name: 'ten', limit: 10, seconds: 10 }];
    expect(await limiter.take('u', w, T0, 6)).toBeNull();
    await limiter.release('u', w, T0, 4);
    expect(await limiter.take('u', w, T0, 8)).toBeNull(); // 2 + 8
    expect(await limiter.take('u', w, T0, 1)).toBe(10);
    await limiter.release('u', w, T0, 25); // more than held: left as it is, never below zero
    expect(await limiter.take('u', w, T0, 1)).toBe(10);
    await limiter.release('u', w, T0, 10);
    expect(await limiter.take('u', w, T0, 10)).toBeNull();
    expect(await limiter.take('u', w, T0, 1)).toBe(10);
    // Nothing held: nothing to give back, and no counter is created.
    const size = limiter.size;
    await limiter.release('nobody', w, T0, 3);
    expect(limiter.size).toBe(size);
    expect(await limiter.take('nobody', w, T0, 10)).toBeNull();
    expect(await limiter.take('nobody', w, T0, 1)).toBe(10);
  });

  it('gives back only in the window of nowMs, and only to its key', async () => {
    const limiter = new MemoryRateLimiter();
    expect(await takeN(limiter, 3, 'u', [MINUTE], T0)).toEqual([null, null, null]);
    expect(await takeN(limiter, 3, 'v', [MINUTE], T0)).toEqual([null, null, null]);
    await limiter.release('u', [MINUTE], T0 + 60_000); // the next minute: nothing held there
    await limiter.release('u#minute', [MINUTE], T0);
    expect(await limiter.take('u', [MINUTE], T0 + 1_000)).toBe(59);
    await limiter.release('u', [MINUTE], T0 + 1_000);
    expect(await limiter.take('u', [MINUTE], T0 + 2_000)).toBeNull();
    expect(await limiter.take('v', [MINUTE], T0 + 2_000)).toBe(58);
  });

  it('rejects invalid arguments', async () => {
    const limiter = new MemoryRateLimiter();
    await limiter.take('u', [MINUTE], T0);
    await expect(limiter.release('u', [MINUTE], Number.NaN)).rejects.toThrow(RangeError);
    await expect(limiter.release('u', [MINUTE], T0, -1)).rejects.toThrow(RangeError);
    await expect(limiter.release('u', [{ ...MINUTE, name: 'distinct' }], T0)).rejects.toThrow(
      RangeError,
    );
    // Nothing was given back by the rejected calls.
    expect(await takeN(limiter, 3, 'u', [MINUTE], T0)).toEqual([null, null, 60]);
  });
});

describe('MemoryRateLimiter.addDistinct', () => {
  it('counts distinct ids only, across calls', async () => {
    const limiter = new MemoryRateLimiter();
    expect(await limiter.addDistinct('u', ['1', '2', '1'], 3600, T0)).toBe(2);
    expect(await limiter.addDistinct('u', ['2', '3'], 3600, T0 + 1_000)).toBe(3);
    expect(await limiter.addDistinct('u', ['1', '2', '3'], 3600, T0 + 2_000)).toBe(3);
    expect(await limiter.addDistinct('u', [], 3600, T0 + 3_000)).toBe(3);
  });

  it('starts again in the next window', async () => {
    const limiter = new MemoryRateLimiter();
    expect(await limiter.addDistinct('u', ['1', '2'], 3600, T0 + 3_599_999)).toBe(2);
    expect(await limiter.addDistinct('u', ['2'], 3600, T0 + 3_600_000)).toBe(1);
  });

  it('keeps keys apart', async () => {
    const limiter = new MemoryRateLimiter();
    expect(await limiter.addDistinct('alice', ['1', '2'], 3600, T0)).toBe(2);
    expect(await limiter.addDistinct('bob', ['1'], 3600, T0)).toBe(1);
    expect(await limiter.addDistinct('alice#distinct', ['9'], 3600, T0)).toBe(1);
    expect(await limiter.addDistinct('nobody', [], 3600, T0)).toBe(0);
  });

  it('does not share counters with take', async () => {
    const limiter = new MemoryRateLimiter();
    await limiter.addDistinct('u', ['1', '2', '3'], 60, T0);
    expect(await takeN(limiter, 3, 'u', [MINUTE], T0)).toEqual([null, null, null]);
  });
});
