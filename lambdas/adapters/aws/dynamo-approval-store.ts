import { randomUUID } from 'node:crypto';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { APPROVAL_TABLE } from '../../config/tables';
import {
  type Approval,
  type ApprovalStatus,
  type ApprovalStore,
  PendingCapReached,
  type PendingCaps,
} from '../../core/ports';

/**
 * The approvals table's key schema lives with the other tables' ({@link APPROVAL_TABLE}, in
 * `lambdas/config/tables.ts`, which the CDK construct also reads). Items are the
 * {@link Approval} fields as attributes (`action` as a map), plus `ttl`.
 */
export { APPROVAL_TABLE };

/**
 * The counters behind the caps on pending approvals: items of the approvals table under keys of
 * their own, with only the key and `pending` (no `status`, `request_id` or `created_at`, so no
 * index holds them, and no `ttl`). Every approval stored as `pending_approval` holds one unit of
 * its user's counter and one of the total; `pending_slot` on the approval names the user counter
 * it holds (hidden, like the task token).
 */
export const PENDING_SLOTS = {
  /** Every counter's key starts so; no approval id does (they are `apr_…`). */
  keyPrefix: 'pending_slots#',
  totalKey: 'pending_slots#all',
  countAttribute: 'pending',
  slotAttribute: 'pending_slot',
} as const;

/** The key of one user's counter of pending approvals. */
export function pendingSlotKey(userId: string): string {
  return `${PENDING_SLOTS.keyPrefix}user#${userId}`;
}

function isCounterKey(id: string): boolean {
  return id.startsWith(PENDING_SLOTS.keyPrefix);
}

/** How long DynamoDB keeps an approval after it expired; the audit log keeps the history. */
export const APPROVAL_RETENTION_SECONDS = 30 * 24 * 60 * 60;

/** Attributes that live in the table but never leave this adapter. */
const HIDDEN = ['task_token', APPROVAL_TABLE.ttlAttribute, PENDING_SLOTS.slotAttribute] as const;

/** Attributes a `transition` patch can never set (the key; the counter, ttl and slot we own). */
const NOT_PATCHABLE = new Set<string>([
  APPROVAL_TABLE.partitionKey,
  'version',
  APPROVAL_TABLE.ttlAttribute,
  PENDING_SLOTS.slotAttribute,
]);

/** `ttl` for an approval: epoch seconds of `expires_at` plus the retention. */
export function approvalTtl(expiresAt: string): number {
  const ms = Date.parse(expiresAt);
  if (!Number.isFinite(ms)) {
    throw new Error('approval expires_at is not an ISO 8601 date');
  }
  return Math.floor(ms / 1000) + APPROVAL_RETENTION_SECONDS;
}

function isConditionFailure(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === 'ConditionalCheckFailedException';
}

/** One entry of a cancelled transaction's `CancellationReasons`, per item, in order. */
interface Reason {
  code: string;
  /** The item as it was (raw attribute values), where `ALL_OLD` was asked for. */
  item?: Record<string, unknown>;
}

/** The reasons of a `TransactionCanceledException`, or null for any other error. */
function cancellationReasons(err: unknown): Reason[] | null {
  const e = err as { name?: unknown; CancellationReasons?: unknown } | null;
  if (e?.name !== 'TransactionCanceledException') return null;
  const reasons = Array.isArray(e.CancellationReasons) ? e.CancellationReasons : [];
  return reasons.map((r: { Code?: unknown; Item?: unknown } | null) => ({
    code: typeof r?.Code === 'string' ? r.Code : 'None',
    item: r?.Item && typeof r.Item === 'object' ? (r.Item as Record<string, unknown>) : undefined,
  }));
}

/** Reasons that say "try again", not "no": contention with another transaction, throttling. */
const RETRYABLE_REASONS = new Set([
  'TransactionConflict',
  'ThrottlingError',
  'ProvisionedThroughputExceeded',
]);

const failedCheck = (r: Reason | undefined) => r?.code === 'ConditionalCheckFailed';

/** The count a counter held when its condition failed (raw `{N}`), or `fallback`. */
function countOf(r: Reason | undefined, fallback: number): number {
  const raw = r?.item?.[PENDING_SLOTS.countAttribute] as { N?: unknown } | undefined;
  const n = Number(raw?.N);
  return Number.isFinite(n) ? n : fallback;
}

/**
 * A copy without `undefined` anywhere (object members dropped, array elements removed), so the
 * store works with a DocumentClient built without `removeUndefinedValues`, and an undefined
 * member never overwrites what is stored.
 */
function defined<T>(value: T): T {
  if (Array.isArray(value)) {
    return value.filter((v) => v !== undefined).map((v) => defined(v)) as T;
  }
  if (value !== null && typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = defined(v);
    return out as T;
  }
  return value;
}

/** An item as an approval: the hidden attributes (task token, ttl) stripped. */
function toApproval(item: Record<string, unknown>): Approval {
  const copy = { ...item };
  for (const k of HIDDEN) delete copy[k];
  return copy as unknown as Approval;
}

/**
 * The SET clauses of a transition's patch: `version` bumped, then each patched field. The key,
 * the counter, ttl and the slot are ours; undefined members are not written (nothing is
 * removed). A new `expires_at` moves `ttl` with it.
 */
function updateParts(patch: Partial<Approval> & { status: ApprovalStatus }) {
  const names: Record<string, string> = { '#status': 'status', '#version': 'version' };
  const values: Record<string, unknown> = { ':zero': 0, ':one': 1 };
  const sets = ['#version = if_not_exists(#version, :zero) + :one'];
  const fields: [string, unknown][] = Object.entries(patch).filter(
    ([key, value]) => value !== undefined && key !== '' && !NOT_PATCHABLE.has(key),
  );
  if (patch.expires_at !== undefined) {
    fields.push([APPROVAL_TABLE.ttlAttribute, approvalTtl(patch.expires_at)]);
  }
  for (const [i, [key, value]] of fields.entries()) {
    const name = key === 'status' ? '#status' : `#p${i}`;
    names[name] = key;
    values[`:p${i}`] = defined(value);
    sets.push(`${name} = :p${i}`);
  }
  return { names, values, sets, fields };
}

/** Tuning of the transactions' retries (tests shorten them). */
export interface DynamoApprovalStoreOptions {
  /** Attempts of a transaction DynamoDB cancels for contention (`TransactionConflict`). @default 10 */
  transactionAttempts?: number;
  /** The wait before retry n is random, up to min(1000, base·2^(n−1)) ms. @default 25 */
  retryBaseMs?: number;
}

/**
 * Approvals on AWS, in DynamoDB. Same semantics as the local store: `create` refuses an id that
 * exists, `transition` is a compare-and-set on status (and version, when given), so concurrent
 * deciders (Slack clicks, the expiry timer, two approvers under the two-person rule) cannot both
 * win.
 *
 * The caps on pending approvals are counters in the same table ({@link PENDING_SLOTS}), kept
 * exact by transactions (TransactWriteItems, all or nothing):
 * - creating a pending approval puts it (condition: the id is new) and adds 1 to its user's
 *   counter and to the total (each with the condition "below the cap", when caps are given):
 *   either all three happen or none, so a refusal or a failure takes no slot;
 * - the `transition` that moves an approval out of `pending_approval` updates it (condition: the
 *   status, version and slot it was read with) and takes 1 from both counters, in one
 *   transaction, so a slot is given back exactly once, whoever moves it (a decision, the state
 *   machine's expiry, the kill switch's cancel, a failed start). Other transitions are one
 *   conditional UpdateItem, as before;
 * - a transaction cancelled for contention only (`TransactionConflict`) is retried with jitter.
 * An approval stored before the counters existed holds no slot and gives none back.
 *
 * Reads: `get` is strongly consistent. `getByRequest` looks the id up in the `by_request` index,
 * which is eventually consistent (an approval created a moment ago may not be found yet), then
 * reads the item itself consistently, so a found approval is current. `listByStatus` reads the
 * `by_status` index (eventually consistent: an approval may still be listed under a status it
 * just left); callers act through `transition`, whose condition is checked on the item itself.
 *
 * The Step Functions task token is stored on the item (`setTaskToken`) and read only through
 * `getTaskToken`: `get`, `getByRequest`, `listByStatus` and `transition` never return it, nor
 * the `ttl` attribute.
 */
export class DynamoApprovalStore implements ApprovalStore {
  private readonly attempts: number;
  private readonly retryBaseMs: number;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    options: DynamoApprovalStoreOptions = {},
  ) {
    this.attempts = Math.max(1, options.transactionAttempts ?? 10);
    this.retryBaseMs = Math.max(0, options.retryBaseMs ?? 25);
  }

  async create(approval: Approval, caps?: PendingCaps): Promise<void> {
    const base = {
      ...approval,
      version: approval.version ?? 0,
      [APPROVAL_TABLE.ttlAttribute]: approvalTtl(approval.expires_at),
    };
    if (approval.status === 'pending_approval') {
      const userKey = pendingSlotKey(approval.user_id);
      const outcome = await this.transact([
        {
          Put: {
            TableName: this.tableName,
            Item: defined({ ...base, [PENDING_SLOTS.slotAttribute]: userKey }),
            ConditionExpression: 'attribute_not_exists(#id)',
            ExpressionAttributeNames: { '#id': APPROVAL_TABLE.partitionKey },
          },
        },
        { Update: this.takeSlot(userKey, caps?.perUser) },
        { Update: this.takeSlot(PENDING_SLOTS.totalKey, caps?.total) },
      ]);
      if (outcome === true) return;
      const [put, user, total] = outcome;
      if (failedCheck(put)) throw new Error('approval id already exists');
      if (failedCheck(user)) {
        throw new PendingCapReached('per_user', countOf(user, caps?.perUser ?? 0));
      }
      if (failedCheck(total)) {
        throw new PendingCapReached('total', countOf(total, caps?.total ?? 0));
      }
      throw new Error('the approval could not be stored (transaction cancelled)');
    }
    const item = defined(base);
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(#id)',
          ExpressionAttributeNames: { '#id': APPROVAL_TABLE.partitionKey },
        }),
      );
    } catch (err) {
      if (isConditionFailure(err)) throw new Error('approval id already exists');
      throw err;
    }
  }

  async get(approvalId: string): Promise<Approval | undefined> {
    if (isCounterKey(approvalId)) return undefined;
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { [APPROVAL_TABLE.partitionKey]: approvalId },
        ConsistentRead: true,
      }),
    );
    return Item && toApproval(Item);
  }

  async getByRequest(requestId: string): Promise<Approval | undefined> {
    const { Items } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: APPROVAL_TABLE.byRequestIndex,
        KeyConditionExpression: '#rid = :rid',
        ExpressionAttributeNames: { '#rid': 'request_id', '#id': APPROVAL_TABLE.partitionKey },
        ExpressionAttributeValues: { ':rid': requestId },
        ProjectionExpression: '#id',
        Limit: 1,
      }),
    );
    const id = Items?.[0]?.[APPROVAL_TABLE.partitionKey];
    return typeof id === 'string' ? this.get(id) : undefined;
  }

  async listByStatus(status: ApprovalStatus): Promise<Approval[]> {
    const out: Approval[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: APPROVAL_TABLE.byStatusIndex,
          KeyConditionExpression: '#status = :status',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':status': status },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) out.push(toApproval(item));
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  async transition(
    approvalId: string,
    from: ApprovalStatus,
    patch: Partial<Approval> & { status: ApprovalStatus },
    expectedVersion?: number,
  ): Promise<Approval | null> {
    if (from !== 'pending_approval' || patch.status === 'pending_approval') {
      return this.update(approvalId, from, patch, expectedVersion);
    }
    if (isCounterKey(approvalId)) return null;
    // Out of pending_approval: the update and the slot's release, in one transaction. A
    // transaction returns no attributes, so the item is read first, the update is conditioned
    // on exactly what was read (status, version, slot), and the new approval is what was read
    // with the patch applied; an approval that changed meanwhile is read again.
    for (let attempt = 1; ; attempt += 1) {
      const { Item } = await this.client.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { [APPROVAL_TABLE.partitionKey]: approvalId },
          ConsistentRead: true,
        }),
      );
      if (!Item || Item.status !== from) return null;
      const version = typeof Item.version === 'number' ? Item.version : undefined;
      if (expectedVersion !== undefined && (version ?? 0) !== expectedVersion) return null;
      const slot = Item[PENDING_SLOTS.slotAttribute];
      // Stored before the counters existed: it holds no slot, and gives none back.
      if (typeof slot !== 'string') return this.update(approvalId, from, patch, expectedVersion);

      const { names, values, sets, fields } = updateParts(patch);
      names['#slot'] = PENDING_SLOTS.slotAttribute;
      values[':from'] = from;
      values[':slot'] = slot;
      let condition = '#status = :from AND #slot = :slot';
      if (version === undefined) {
        condition += ' AND attribute_not_exists(#version)';
      } else {
        values[':read'] = version;
        condition += ' AND #version = :read';
      }
      const outcome = await this.transact([
        {
          Update: {
            TableName: this.tableName,
            Key: { [APPROVAL_TABLE.partitionKey]: approvalId },
            UpdateExpression: `SET ${sets.join(', ')} REMOVE #slot`,
            ConditionExpression: condition,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          },
        },
        { Update: this.giveSlot(slot) },
        { Update: this.giveSlot(PENDING_SLOTS.totalKey) },
      ]);
      if (outcome === true) {
        const next: Record<string, unknown> = { ...Item };
        for (const [key, value] of fields) next[key] = defined(value);
        next.version = (version ?? 0) + 1;
        return toApproval(next);
      }
      if (!failedCheck(outcome[0]) || attempt >= this.attempts) {
        throw new Error('the approval could not leave pending_approval (transaction cancelled)');
      }
    }
  }

  /** A transition that moves no slot: one conditional UpdateItem. */
  private async update(
    approvalId: string,
    from: ApprovalStatus,
    patch: Partial<Approval> & { status: ApprovalStatus },
    expectedVersion?: number,
  ): Promise<Approval | null> {
    const { names, values, sets } = updateParts(patch);
    values[':from'] = from;
    let condition = '#status = :from';
    if (expectedVersion !== undefined) {
      values[':expected'] = expectedVersion;
      // A missing version counts as 0, as `if_not_exists(version, 0)` does in the update.
      condition +=
        expectedVersion === 0
          ? ' AND (attribute_not_exists(#version) OR #version = :expected)'
          : ' AND #version = :expected';
    }
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [APPROVAL_TABLE.partitionKey]: approvalId },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes ? toApproval(Attributes) : null;
    } catch (err) {
      if (isConditionFailure(err)) return null;
      throw err;
    }
  }

  /** A counter's update taking one slot, only while it is below `cap` (when given). */
  private takeSlot(key: string, cap: number | undefined) {
    return {
      TableName: this.tableName,
      Key: { [APPROVAL_TABLE.partitionKey]: key },
      UpdateExpression: 'ADD #n :one',
      ExpressionAttributeNames: { '#n': PENDING_SLOTS.countAttribute },
      ExpressionAttributeValues: cap === undefined ? { ':one': 1 } : { ':one': 1, ':cap': cap },
      ...(cap === undefined
        ? {}
        : {
            // A missing counter counts 0, which is below any cap above 0.
            ConditionExpression: cap > 0 ? 'attribute_not_exists(#n) OR #n < :cap' : '#n < :cap',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
          }),
    };
  }

  /** A counter's update giving one slot back. Unconditional: a release must never be refused. */
  private giveSlot(key: string) {
    return {
      TableName: this.tableName,
      Key: { [APPROVAL_TABLE.partitionKey]: key },
      UpdateExpression: 'ADD #n :minus',
      ExpressionAttributeNames: { '#n': PENDING_SLOTS.countAttribute },
      ExpressionAttributeValues: { ':minus': -1 },
    };
  }

  /**
   * Runs one transaction: true when it committed, or the reasons of its cancellation when a
   * condition failed. A cancellation for contention or throttling alone is retried (each
   * attempt with its own idempotency token; the SDK's own retries of one attempt reuse it).
   * Any other error is thrown.
   */
  private async transact(
    items: NonNullable<TransactWriteCommandInput['TransactItems']>,
  ): Promise<true | Reason[]> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.client.send(
          new TransactWriteCommand({ TransactItems: items, ClientRequestToken: randomUUID() }),
        );
        return true;
      } catch (err) {
        const reasons = cancellationReasons(err);
        if (!reasons) throw err;
        if (reasons.some(failedCheck)) return reasons;
        const retryable = reasons.some((r) => RETRYABLE_REASONS.has(r.code));
        if (!retryable || attempt >= this.attempts) throw err;
        const cap = Math.min(1000, this.retryBaseMs * 2 ** (attempt - 1));
        await new Promise((resolve) => setTimeout(resolve, Math.random() * cap));
      }
    }
  }

  /**
   * Stores the Step Functions task token of the wait for a decision, only while the approval is
   * `pending_approval`; touches nothing else (not even `version`). Returns false when the
   * approval is missing or no longer pending.
   */
  async setTaskToken(approvalId: string, taskToken: string): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [APPROVAL_TABLE.partitionKey]: approvalId },
          UpdateExpression: 'SET #token = :token',
          ConditionExpression: '#status = :pending',
          ExpressionAttributeNames: { '#token': 'task_token', '#status': 'status' },
          ExpressionAttributeValues: { ':token': taskToken, ':pending': 'pending_approval' },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /** The stored task token (a consistent read of that attribute alone). */
  async getTaskToken(approvalId: string): Promise<string | undefined> {
    if (isCounterKey(approvalId)) return undefined;
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { [APPROVAL_TABLE.partitionKey]: approvalId },
        ConsistentRead: true,
        ProjectionExpression: '#token',
        ExpressionAttributeNames: { '#token': 'task_token' },
      }),
    );
    const token = Item?.task_token;
    return typeof token === 'string' ? token : undefined;
  }
}
