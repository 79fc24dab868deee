import { type DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { RATE_LIMIT_TABLE } from '../../config/tables';
import {
  checkDistinct,
  checkTake,
  escapeKey,
  retryAfterSeconds,
  windowIndex,
} from '../../core/limit-windows';
import type { LimitWindow, RateLimiter } from '../../core/ports';

/**
 * The rate-limit table ({@link RATE_LIMIT_TABLE}, in `lambdas/config/tables.ts`, which the CDK
 * construct also reads): partition key `key` (string), no sort key, TimeToLive on `ttl` (epoch
 * seconds). Items:
 *
 * - `<key>#<window name>#<window index>`: `count` (units taken in that window), `ttl`;
 * - `<key>#distinct#<window index>`: `count` (distinct ids seen in that window), `ttl`;
 * - `<key>#distinct#<window index>#<id>`: `ttl` only; marks the id as seen.
 *
 * `<key>` has `%` and `#` escaped (`%25`, `%23`), so a key cannot reach another key's items.
 * `ttl` is the end of the window plus {@link RATE_LIMIT_TTL_GRACE_SECONDS}: DynamoDB deletes
 * expired items within days, not on time, but an ended window's items are never read again.
 */
export { RATE_LIMIT_TABLE };

/** How long after its window ends an item is kept (before TTL deletes it, eventually). */
export const RATE_LIMIT_TTL_GRACE_SECONDS = 3600;

/** Puts run at once for `addDistinct` (its callers pass about 10 ids). */
const DISTINCT_PUT_CONCURRENCY = 10;

const COUNT = 'count';

function isConditionFailure(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === 'ConditionalCheckFailedException';
}

/**
 * Rate limits on AWS, in one DynamoDB table ({@link RATE_LIMIT_TABLE}) shared by every Lambda
 * instance. Windows are FIXED: the window of `nowMs` is `floor(nowMs / 1000 / seconds)`.
 *
 * `take` runs one conditional UpdateItem per window, in the given order:
 * `ADD count :cost, SET ttl` on the condition `attribute_not_exists(count) OR count <= limit -
 * cost`. Each window is therefore exact under any concurrency (DynamoDB applies conditional
 * updates to one item one at a time): of 50 concurrent calls on a limit of 20, exactly 20 are
 * admitted. When a window refuses (ConditionalCheckFailedException), `take` stops and returns
 * the seconds until that window resets (rounded up, at least 1); the windows already taken in
 * this call are NOT given back. So a refused request may still count against the windows listed
 * before the refusing one: conservative (never admits more than a limit), at the price of
 * sometimes admitting fewer. Callers should list the shortest window first: a burst refused by
 * a per-minute window then costs nothing against a per-hour window. A `cost` larger than a
 * window's `limit` can never be admitted; it is refused like a full window without any write.
 *
 * `release` gives back what an admitted `take` took (same key, windows, `nowMs` and cost): one
 * conditional UpdateItem per window item, `ADD count -cost` on the condition `count >= cost`, so
 * it is atomic per window and never goes below zero. It never creates an item: a window never
 * taken from, or holding less than `cost` (never the case after an admitted take), is left as
 * it is (conservative). The windows are given back concurrently; the first failure other than
 * the condition is thrown after all were tried. `cost` 0 writes nothing. Only UpdateItem is
 * used, which the table's grant already allows.
 *
 * `addDistinct` creates one item per new id with a conditional PutItem
 * (`attribute_not_exists(key)`), so an id already seen in the window (by this or any earlier or
 * concurrent call) is never counted twice, then adds the number of ids it created to the
 * window's counter item and returns the counter after (ReturnValues ALL_NEW, so the count comes
 * back even when nothing was added). Under concurrent calls on one key, a call may return a
 * count that does not yet include another call's ids: the next call sees them. The counter is
 * kept per key and window index whatever `windowSeconds` is: use a key with one window length.
 * If a put fails for another reason than the condition, the ids created so far are still added
 * to the counter (best effort) and the error is thrown.
 *
 * Any error other than a refused condition (throttling, a missing table, no network, denied
 * access) is thrown: the gateway then refuses the request (fails closed). Invalid arguments are
 * rejected before any call, as by the local `MemoryRateLimiter`: a negative or fractional cost,
 * a window with a non-positive or fractional `seconds`, a negative `limit`, a name that is
 * empty, contains `#` or is `distinct`, two windows with one name, a non-finite `nowMs`.
 */
export class DynamoRateLimiter implements RateLimiter {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async take(
    key: string,
    windows: readonly LimitWindow[],
    nowMs: number,
    cost = 1,
  ): Promise<number | null> {
    checkTake(windows, nowMs, cost);
    const base = escapeKey(key);
    for (const w of windows) {
      const index = windowIndex(nowMs, w.seconds);
      if (cost > w.limit) return retryAfterSeconds(nowMs, w.seconds, index);
      try {
        await this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { [RATE_LIMIT_TABLE.partitionKey]: `${base}#${w.name}#${index}` },
            UpdateExpression: 'ADD #count :cost SET #ttl = :ttl',
            ConditionExpression: 'attribute_not_exists(#count) OR #count <= :max',
            ExpressionAttributeNames: { '#count': COUNT, '#ttl': RATE_LIMIT_TABLE.ttlAttribute },
            ExpressionAttributeValues: {
              ':cost': cost,
              ':max': w.limit - cost,
              ':ttl': ttlFor(w.seconds, index),
            },
          }),
        );
      } catch (err) {
        if (isConditionFailure(err)) return retryAfterSeconds(nowMs, w.seconds, index);
        throw err;
      }
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
    if (cost === 0) return;
    const base = escapeKey(key);
    const results = await Promise.allSettled(
      windows.map((w) => this.giveBack(`${base}#${w.name}#${windowIndex(nowMs, w.seconds)}`, cost)),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Takes `cost` off one counter item if it holds that much; creates nothing. */
  private async giveBack(itemKey: string, cost: number): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [RATE_LIMIT_TABLE.partitionKey]: itemKey },
          UpdateExpression: 'ADD #count :minus',
          ConditionExpression: '#count >= :cost',
          ExpressionAttributeNames: { '#count': COUNT },
          ExpressionAttributeValues: { ':minus': -cost, ':cost': cost },
        }),
      );
    } catch (err) {
      // No item, or fewer than `cost` units: nothing of this call's to give back.
      if (!isConditionFailure(err)) throw err;
    }
  }

  async addDistinct(
    key: string,
    ids: readonly string[],
    windowSeconds: number,
    nowMs: number,
  ): Promise<number> {
    checkDistinct(ids, windowSeconds, nowMs);
    const index = windowIndex(nowMs, windowSeconds);
    const ttl = ttlFor(windowSeconds, index);
    const counterKey = `${escapeKey(key)}#distinct#${index}`;

    let created = 0;
    let failure: { err: unknown } | undefined;
    const unique = [...new Set(ids)];
    for (let i = 0; i < unique.length && !failure; i += DISTINCT_PUT_CONCURRENCY) {
      const batch = unique.slice(i, i + DISTINCT_PUT_CONCURRENCY);
      const results = await Promise.allSettled(
        batch.map((id) =>
          this.client.send(
            new PutCommand({
              TableName: this.tableName,
              // The id is the last part of the name: any `#` in it is unambiguous.
              Item: {
                [RATE_LIMIT_TABLE.partitionKey]: `${counterKey}#${id}`,
                [RATE_LIMIT_TABLE.ttlAttribute]: ttl,
              },
              ConditionExpression: 'attribute_not_exists(#k)',
              ExpressionAttributeNames: { '#k': RATE_LIMIT_TABLE.partitionKey },
            }),
          ),
        ),
      );
      for (const r of results) {
        if (r.status === 'fulfilled') created++;
        else if (!isConditionFailure(r.reason)) failure ??= { err: r.reason };
      }
    }

    const count = async (): Promise<number> => {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [RATE_LIMIT_TABLE.partitionKey]: counterKey },
          UpdateExpression: 'ADD #count :n SET #ttl = :ttl',
          ExpressionAttributeNames: { '#count': COUNT, '#ttl': RATE_LIMIT_TABLE.ttlAttribute },
          ExpressionAttributeValues: { ':n': created, ':ttl': ttl },
          ReturnValues: 'ALL_NEW',
        }),
      );
      const value = Attributes?.[COUNT];
      if (typeof value !== 'number') throw new Error('rate limit counter has no count');
      return value;
    };

    if (failure) {
      // Count what was created (those ids exist now and would never be counted again), then
      // report the failure.
      if (created > 0) await count().catch(() => undefined);
      throw failure.err;
    }
    return count();
  }
}

/** `ttl` of a window's items: its end plus the grace, epoch seconds. */
function ttlFor(seconds: number, index: number): number {
  return (index + 1) * seconds + RATE_LIMIT_TTL_GRACE_SECONDS;
}
