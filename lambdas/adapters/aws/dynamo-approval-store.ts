import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Approval, ApprovalStatus, ApprovalStore } from '../../core/ports';

/**
 * The approvals table, as the CDK construct creates it. Items are the {@link Approval} fields
 * as attributes (`action` as a map), plus `ttl`. Both indexes must project ALL attributes
 * (CDK's default): `listByStatus` reads whole approvals from `by_status`.
 */
export const APPROVAL_TABLE = {
  partitionKey: 'approval_id',
  /** Partition key `request_id`. */
  byRequestIndex: 'by_request',
  /** Partition key `status`, sort key `created_at`. */
  byStatusIndex: 'by_status',
  ttlAttribute: 'ttl',
} as const;

/** How long DynamoDB keeps an approval after it expired; the audit log keeps the history. */
export const APPROVAL_RETENTION_SECONDS = 30 * 24 * 60 * 60;

/** Attributes that live in the table but never leave this adapter. */
const HIDDEN = ['task_token', APPROVAL_TABLE.ttlAttribute] as const;

/** Attributes a `transition` patch can never set (the key; the counter and ttl we own). */
const NOT_PATCHABLE = new Set<string>([
  APPROVAL_TABLE.partitionKey,
  'version',
  APPROVAL_TABLE.ttlAttribute,
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
 * Approvals on AWS, in DynamoDB. Same semantics as the local store: `create` refuses an id that
 * exists, `transition` is a compare-and-set on status (and version, when given) done in one
 * conditional UpdateItem, so concurrent deciders (Slack clicks, the expiry timer, two approvers
 * under the two-person rule) cannot both win.
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
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async create(approval: Approval): Promise<void> {
    const item = defined({
      ...approval,
      version: approval.version ?? 0,
      [APPROVAL_TABLE.ttlAttribute]: approvalTtl(approval.expires_at),
    });
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
    const names: Record<string, string> = { '#status': 'status', '#version': 'version' };
    const values: Record<string, unknown> = { ':from': from, ':zero': 0, ':one': 1 };
    const sets = ['#version = if_not_exists(#version, :zero) + :one'];
    // The key, the counter and ttl are ours; undefined members are not written (nothing is
    // removed). A new `expires_at` moves `ttl` with it.
    const fields = Object.entries(patch).filter(
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
