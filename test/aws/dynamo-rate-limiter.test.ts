import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import {
  DynamoRateLimiter,
  RATE_LIMIT_TABLE,
  RATE_LIMIT_TTL_GRACE_SECONDS,
} from '../../lambdas/adapters/aws/dynamo-rate-limiter';
import type { LimitWindow } from '../../lambdas/core/ports';
import {
  closedPort,
  type DynaliteLimits,
  limitsClient,
  startDynaliteLimits,
} from '../helpers/dynalite-limits';

/** A time on a whole hour (so also on a whole minute and second): 2027-01-15T08:00:00Z. */
const T0 = 1_800_000_000_000;
const MINUTE: LimitWindow = { name: 'minute', limit: 3, seconds: 60 };
const HOUR: LimitWindow = { name: 'hour', limit: 5, seconds: 3600 };

let db: DynaliteLimits;
let limiter: DynamoRateLimiter;
let seq = 0;

beforeAll(async () => {
  db = await startDynaliteLimits();
  limiter = new DynamoRateLimiter(db.client, db.tableName);
});
afterAll(async () => {
  await db?.close();
});

/** A key no other test uses (the tests share one table). */
function fresh(name = 'user'): string {
  seq++;
  return `${name}-${seq}`;
}

async function takeN(
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

async function rawItem(itemKey: string): Promise<Record<string, unknown> | undefined> {
  const { Item } = await db.client.send(
    new GetCommand({
      TableName: db.tableName,
      Key: { [RATE_LIMIT_TABLE.partitionKey]: itemKey },
      ConsistentRead: true,
    }),
  );
  return Item;
}

describe('RATE_LIMIT_TABLE', () => {
  it('is the schema the CDK construct must create', () => {
    expect(RATE_LIMIT_TABLE).toEqual({ partitionKey: 'key', ttlAttribute: 'ttl' });
  });
});

describe('DynamoRateLimiter.take', () => {
  it('admits exactly the limit, then refuses with the seconds until the window resets', async () => {
    const key = fresh();
    expect(await takeN(3, key, [MINUTE], T0 + 15_000)).toEqual([null, null, null]);
    expect(await limiter.take(key, [MINUTE], T0 + 15_000)).toBe(45);
    expect(await limiter.take(key, [MINUTE], T0 + 15_001)).toBe(45);
    expect(await limiter.take(key, [MINUTE], T0 + 59_999)).toBe(1);
    // Refused calls took nothing.
    expect((await rawItem(`${key}#minute#${T0 / 60_000}`))?.count).toBe(3);
  });

  it('resets at the next fixed window boundary', async () => {
    const key = fresh();
    expect(await takeN(3, key, [MINUTE], T0 + 59_000)).toEqual([null, null, null]);
    expect(await limiter.take(key, [MINUTE], T0 + 59_999)).toBe(1);
    expect(await takeN(3, key, [MINUTE], T0 + 60_000)).toEqual([null, null, null]);
    expect(await limiter.take(key, [MINUTE], T0 + 60_000)).toBe(60);
  });

  it('keeps keys apart (including keys that contain # or %)', async () => {
    const base = fresh();
    for (const key of [base, `${base}-other`, `${base}#minute`, `${base}%23minute`]) {
      expect(await takeN(3, key, [MINUTE], T0)).toEqual([null, null, null]);
      expect(await limiter.take(key, [MINUTE], T0)).toBe(60);
    }
    expect((await rawItem(`${base}%23minute#minute#${T0 / 60_000}`))?.count).toBe(3);
    expect((await rawItem(`${base}%2523minute#minute#${T0 / 60_000}`))?.count).toBe(3);
  });

  it('enforces two windows together (3 a minute, 5 an hour)', async () => {
    const key = fresh();
    const both = [MINUTE, HOUR];
    expect(await takeN(3, key, both, T0 + 10_000)).toEqual([null, null, null]);
    expect(await limiter.take(key, both, T0 + 10_000)).toBe(50); // the minute refuses
    expect(await takeN(2, key, both, T0 + 60_000)).toEqual([null, null]);
    expect(await limiter.take(key, both, T0 + 60_000)).toBe(3540); // the hour refuses
    expect(await limiter.take(key, both, T0 + 3_599_500)).toBe(1);
    expect(await limiter.take(key, both, T0 + 3_600_000)).toBeNull();
  });

  it('does not give back the windows taken before the refusing one (conservative)', async () => {
    const key = fresh();
    // The hour first: the 4th call is refused by the minute but was counted by the hour.
    const both = [HOUR, MINUTE];
    expect(await takeN(4, key, both, T0)).toEqual([null, null, null, 60]);
    expect((await rawItem(`${key}#hour#${T0 / 3_600_000}`))?.count).toBe(4);
    expect(await takeN(2, key, both, T0 + 60_000)).toEqual([null, 3540]);
  });

  it('takes cost units at a time', async () => {
    const key = fresh();
    const w = [{ name: 'ten', limit: 10, seconds: 10 }];
    expect(await limiter.take(key, w, T0, 4)).toBeNull();
    expect(await limiter.take(key, w, T0, 4)).toBeNull();
    expect(await limiter.take(key, w, T0, 4)).toBe(10); // 12 > 10: refused, nothing taken
    expect(await limiter.take(key, w, T0, 2)).toBeNull(); // exactly 10
    expect(await limiter.take(key, w, T0, 1)).toBe(10);
    expect(await limiter.take(key, w, T0, 0)).toBeNull(); // cost 0 at the limit is admitted
    expect((await rawItem(`${key}#ten#${T0 / 10_000}`))?.count).toBe(10);
    // More than the limit is never admitted, even in a fresh window, and writes nothing.
    const other = fresh();
    expect(await limiter.take(other, w, T0, 11)).toBe(10);
    expect(await rawItem(`${other}#ten#${T0 / 10_000}`)).toBeUndefined();
    expect(await limiter.take(other, w, T0, 10)).toBeNull();
  });

  it('admits exactly 20 of 50 concurrent calls on a limit of 20', async () => {
    const key = fresh();
    const w = [{ name: 'minute', limit: 20, seconds: 60 }];
    const results = await Promise.all(
      Array.from({ length: 50 }, () => limiter.take(key, w, T0 + 1_000)),
    );
    expect(results.filter((r) => r === null)).toHaveLength(20);
    expect(results.filter((r) => r === 59)).toHaveLength(30);
    expect((await rawItem(`${key}#minute#${T0 / 60_000}`))?.count).toBe(20);
  });

  it('never admits more than either limit under concurrency with two windows', async () => {
    const key = fresh();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => limiter.take(key, [MINUTE, HOUR], T0)),
    );
    expect(results.filter((r) => r === null)).toHaveLength(3);
  });

  it('stores the count with a ttl one hour after the window ends', async () => {
    const key = fresh();
    expect(await limiter.take(key, [MINUTE, HOUR], T0 + 30_000, 2)).toBeNull();
    const minute = T0 / 60_000;
    const hour = T0 / 3_600_000;
    expect(await rawItem(`${key}#minute#${minute}`)).toEqual({
      key: `${key}#minute#${minute}`,
      count: 2,
      ttl: (minute + 1) * 60 + 3600,
    });
    expect(await rawItem(`${key}#hour#${hour}`)).toEqual({
      key: `${key}#hour#${hour}`,
      count: 2,
      ttl: (hour + 1) * 3600 + RATE_LIMIT_TTL_GRACE_SECONDS,
    });
    expect(RATE_LIMIT_TTL_GRACE_SECONDS).toBe(3600);
  });

  it('rejects invalid arguments before any write', async () => {
    const key = fresh();
    await expect(limiter.take(key, [MINUTE], T0, -1)).rejects.toThrow(RangeError);
    await expect(limiter.take(key, [MINUTE, { ...HOUR, name: 'minute' }], T0)).rejects.toThrow(
      /twice/,
    );
    await expect(limiter.take(key, [{ ...MINUTE, name: 'distinct' }], T0)).rejects.toThrow(
      RangeError,
    );
    expect(await rawItem(`${key}#minute#${T0 / 60_000}`)).toBeUndefined();
  });
});

describe('DynamoRateLimiter.release', () => {
  it('gives back what an admitted take took, in every window', async () => {
    const key = fresh();
    const both = [MINUTE, HOUR];
    expect(await takeN(3, key, both, T0 + 5_000)).toEqual([null, null, null]);
    await limiter.release(key, both, T0 + 5_000);
    expect((await rawItem(`${key}#minute#${T0 / 60_000}`))?.count).toBe(2);
    expect((await rawItem(`${key}#hour#${T0 / 3_600_000}`))?.count).toBe(2);
    expect(await limiter.take(key, both, T0 + 6_000)).toBeNull();
    expect(await limiter.take(key, both, T0 + 6_000)).toBe(54);
    // The ttl is left as the take set it.
    expect(await rawItem(`${key}#minute#${T0 / 60_000}`)).toEqual({
      key: `${key}#minute#${T0 / 60_000}`,
      count: 3,
      ttl: (T0 / 60_000 + 1) * 60 + RATE_LIMIT_TTL_GRACE_SECONDS,
    });
  });

  it('gives back cost units, never below zero, and creates nothing', async () => {
    const key = fresh();
    const w = [{ name: 'ten', limit: 10, seconds: 10 }];
    const item = `${key}#ten#${T0 / 10_000}`;
    expect(await limiter.take(key, w, T0, 6)).toBeNull();
    await limiter.release(key, w, T0, 4);
    expect((await rawItem(item))?.count).toBe(2);
    expect(await limiter.take(key, w, T0, 8)).toBeNull(); // 2 + 8
    expect(await limiter.take(key, w, T0, 1)).toBe(10);
    await limiter.release(key, w, T0, 25); // more than held: left as it is, never below zero
    expect((await rawItem(item))?.count).toBe(10);
    await limiter.release(key, w, T0, 10);
    expect((await rawItem(item))?.count).toBe(0);
    await limiter.release(key, w, T0, 1);
    expect((await rawItem(item))?.count).toBe(0);
    expect(await limiter.take(key, w, T0, 10)).toBeNull();
    expect(await limiter.take(key, w, T0, 1)).toBe(10);
    // Nothing held: nothing to give back, and no item is created.
    const nobody = fresh();
    await limiter.release(nobody, w, T0, 3);
    expect(await rawItem(`${nobody}#ten#${T0 / 10_000}`)).toBeUndefined();
    // Cost 0 writes nothing.
    await limiter.release(nobody, w, T0, 0);
    expect(await rawItem(`${nobody}#ten#${T0 / 10_000}`)).toBeUndefined();
  });

  it('gives back only in the window of nowMs, and only to its key', async () => {
    const key = fresh();
    expect(await takeN(3, key, [MINUTE], T0)).toEqual([null, null, null]);
    await limiter.release(key, [MINUTE], T0 + 60_000); // the next minute: nothing held there
    await limiter.release(`${key}#minute`, [MINUTE], T0);
    expect(await rawItem(`${key}#minute#${T0 / 60_000 + 1}`)).toBeUndefined();
    expect(await rawItem(`${key}%23minute#minute#${T0 / 60_000}`)).toBeUndefined();
    expect(await limiter.take(key, [MINUTE], T0 + 1_000)).toBe(59);
  });

  it('is exact under concurrent takes and releases', async () => {
    const key = fresh();
    const w = [{ name: 'minute', limit: 20, seconds: 60 }];
    expect(await takeN(20, key, w, T0)).toHaveLength(20);
    // 15 give back while 30 take: every release counts, and at most 15 takes are admitted.
    const [, results] = await Promise.all([
      Promise.all(Array.from({ length: 15 }, () => limiter.release(key, w, T0))),
      Promise.all(Array.from({ length: 30 }, () => limiter.take(key, w, T0))),
    ]);
    const admitted = results.filter((r) => r === null).length;
    expect(admitted).toBeLessThanOrEqual(15);
    expect((await rawItem(`${key}#minute#${T0 / 60_000}`))?.count).toBe(5 + admitted);
    // More releases than units held, at once: the counter stops at zero.
    await Promise.all(Array.from({ length: 40 }, () => limiter.release(key, w, T0)));
    expect((await rawItem(`${key}#minute#${T0 / 60_000}`))?.count).toBe(0);
  });

  it('rejects invalid arguments before any write, and rejects when the store fails', async () => {
    const key = fresh();
    await limiter.take(key, [MINUTE], T0);
    await expect(limiter.release(key, [MINUTE], Number.NaN)).rejects.toThrow(RangeError);
    await expect(limiter.release(key, [MINUTE], T0, -1)).rejects.toThrow(RangeError);
    await expect(limiter.release(key, [MINUTE, { ...HOUR, name: 'minute' }], T0)).rejects.toThrow(
      /twice/,
    );
    expect((await rawItem(`${key}#minute#${T0 / 60_000}`))?.count).toBe(1);
    const missing = new DynamoRateLimiter(db.client, 'no-such-table');
    await expect(missing.release(key, [MINUTE], T0)).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
  });
});

describe('DynamoRateLimiter failures (the gateway fails closed)', () => {
  it('rejects when the table does not exist', async () => {
    const missing = new DynamoRateLimiter(db.client, 'no-such-table');
    await expect(missing.take('u', [MINUTE], T0)).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
    await expect(missing.addDistinct('u', ['1'], 3600, T0)).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
    await expect(missing.addDistinct('u', [], 3600, T0)).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
  });

  it('rejects when nothing answers', async () => {
    const client = limitsClient(`http://127.0.0.1:${await closedPort()}`);
    try {
      const down = new DynamoRateLimiter(client, db.tableName);
      await expect(down.take('u', [MINUTE], T0)).rejects.toThrow();
      await expect(down.addDistinct('u', ['1', '2'], 3600, T0)).rejects.toThrow();
    } finally {
      client.destroy();
    }
  });

  it('rejects on a failed put, and still counts the ids it created', async () => {
    const key = fresh('records');
    // The real client, except that the put of id "boom" is throttled.
    const flaky = {
      send(command: unknown) {
        if (command instanceof PutCommand && String(command.input.Item?.key).endsWith('#boom')) {
          return Promise.reject(
            Object.assign(new Error('throttled'), {
              name: 'ProvisionedThroughputExceededException',
            }),
          );
        }
        return db.client.send(command as PutCommand);
      },
    } as unknown as DynamoDBDocumentClient;
    const limited = new DynamoRateLimiter(flaky, db.tableName);
    await expect(limited.addDistinct(key, ['a', 'boom', 'b'], 3600, T0)).rejects.toThrow(
      'throttled',
    );
    expect(await limiter.addDistinct(key, ['a', 'b', 'c'], 3600, T0)).toBe(3);
  });
});

describe('DynamoRateLimiter.addDistinct', () => {
  it('counts distinct ids only, across calls', async () => {
    const key = fresh('records');
    expect(await limiter.addDistinct(key, ['1', '2', '1'], 3600, T0)).toBe(2);
    expect(await limiter.addDistinct(key, ['2', '3'], 3600, T0 + 1_000)).toBe(3);
    expect(await limiter.addDistinct(key, ['1', '2', '3'], 3600, T0 + 2_000)).toBe(3);
    expect(await limiter.addDistinct(key, [], 3600, T0 + 3_000)).toBe(3);
  });

  it('starts again in the next window', async () => {
    const key = fresh('records');
    expect(await limiter.addDistinct(key, ['1', '2'], 3600, T0 + 3_599_999)).toBe(2);
    expect(await limiter.addDistinct(key, ['2'], 3600, T0 + 3_600_000)).toBe(1);
  });

  it('keeps keys apart', async () => {
    const key = fresh('records');
    expect(await limiter.addDistinct(key, ['1', '2'], 3600, T0)).toBe(2);
    expect(await limiter.addDistinct(`${key}-other`, ['1'], 3600, T0)).toBe(1);
    expect(await limiter.addDistinct(`${key}#distinct`, ['9'], 3600, T0)).toBe(1);
    expect(await limiter.addDistinct(`${key}-nobody`, [], 3600, T0)).toBe(0);
  });

  it('counts each id once under concurrent calls, and batches more than 10 ids', async () => {
    const key = fresh('records');
    const ids = Array.from({ length: 25 }, (_, i) => `r${i}`);
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        limiter.addDistinct(key, ids.slice(i * 2, i * 2 + 10), 3600, T0),
      ),
    );
    // Calls covered r0..r23.
    expect(await limiter.addDistinct(key, ids, 3600, T0)).toBe(25);
  });

  it('stores the id markers and the counter with a ttl one hour after the window ends', async () => {
    const key = fresh('records');
    await limiter.addDistinct(key, ['42', 'a#b'], 3600, T0 + 5_000);
    const hour = T0 / 3_600_000;
    const ttl = (hour + 1) * 3600 + 3600;
    expect(await rawItem(`${key}#distinct#${hour}`)).toEqual({
      key: `${key}#distinct#${hour}`,
      count: 2,
      ttl,
    });
    expect(await rawItem(`${key}#distinct#${hour}#42`)).toEqual({
      key: `${key}#distinct#${hour}#42`,
      ttl,
    });
    expect(await rawItem(`${key}#distinct#${hour}#a#b`)).toEqual({
      key: `${key}#distinct#${hour}#a#b`,
      ttl,
    });
  });
});
