import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { CONTROL_TABLE } from '../../config/tables';
import type { ControlChange, ControlSnapshot, ControlSwitch, Logger } from '../../core/ports';

/**
 * The control table's key schema ({@link CONTROL_TABLE}) lives in `lambdas/config/tables.ts`,
 * which the CDK construct (`lib/control.ts`) also reads.
 */
export { CONTROL_TABLE };

/** How long a cached read is used. With the read's own latency, a change shows within 10 s. */
export const CONTROL_MAX_AGE_MS = 5000;
/** How long the last good read stands in when DynamoDB cannot be read; then fail closed. */
export const CONTROL_STALE_LIMIT_MS = 10_000;

type State = { contained: boolean; readOnly: boolean };

const CLOSED: State = { contained: true, readOnly: true };

export interface DynamoControlStateOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  /** How long a read is cached. @default {@link CONTROL_MAX_AGE_MS} */
  maxAgeMs?: number;
  /**
   * The deploy-time switch (`-c contained=true`, `-c readOnly=true`): ORed into every answer,
   * so it holds whatever the table says and cannot be released at run time.
   * @default both off
   */
  forced?: State;
  /** @default Date.now */
  now?: () => number;
  /** Where a failed read is reported. @default nothing is logged */
  log?: Logger;
}

/**
 * The kill switch and read-only mode on AWS: one item in a DynamoDB table, read by every
 * gateway function (validation, Slack callback, write) and set by the ops function.
 *
 * `read()` is cached for at most `maxAgeMs` (5 s), counted from when the read started, and is a
 * strongly consistent GetItem: a switch set by the operator reaches every warm container within
 * 10 s. A missing item is the open gateway. A flag that is present and anything but `false`
 * counts as on: a hand-edited item never opens the gateway by mistake.
 *
 * When the table cannot be read, the last good answer stands in while it is younger than 10 s
 * (a blip does not stop traffic); after that `read()` answers contained and read-only (fails
 * closed) and logs, until a read succeeds again. It never throws.
 *
 * `fresh()` is one strongly consistent GetItem, uncached and never shared with a read started
 * before it, for the points where the switch must be the stored one (a read's data leaving, a
 * write about to be sent): a switch set before it was called is seen. It never throws: when the
 * table cannot be read it answers contained and read-only (fails closed) and logs.
 *
 * `snapshot()` reads uncached and throws when it cannot read (the operator sees the error);
 * `stored()` is the same without the deploy-time override. `set()` is one UpdateItem of only
 * the flags it is given (plus who, when and why), so concurrent changes to different flags both
 * hold; it returns the item as stored after it, with the override, and takes effect at once for
 * this instance. `setStored()` is the same without the override.
 */
export class DynamoControlState implements ControlSwitch {
  private readonly maxAgeMs: number;
  private readonly now: () => number;
  /** The deploy-time override; ORed into every answer. */
  readonly forced: State;
  private lastGood: { state: State; at: number } | null = null;
  private inFlight: Promise<State> | null = null;

  constructor(private readonly options: DynamoControlStateOptions) {
    this.maxAgeMs = options.maxAgeMs ?? CONTROL_MAX_AGE_MS;
    this.now = options.now ?? Date.now;
    this.forced = options.forced ?? { contained: false, readOnly: false };
  }

  async read(): Promise<State> {
    const cached = this.lastGood;
    if (cached && this.now() - cached.at < this.maxAgeMs) return this.withForced(cached.state);
    // Concurrent callers in one container share one read.
    this.inFlight ??= this.refresh().finally(() => {
      this.inFlight = null;
    });
    return this.withForced(await this.inFlight);
  }

  async fresh(): Promise<State> {
    const startedAt = this.now();
    try {
      const { contained, readOnly } = await this.fetch();
      // A newer answer for read() too, unless a read started later already stored its own.
      if (!this.lastGood || this.lastGood.at <= startedAt) {
        this.lastGood = { state: { contained, readOnly }, at: startedAt };
      }
      return this.withForced({ contained, readOnly });
    } catch (err) {
      this.options.log?.error('the kill switch cannot be read afresh; failing closed', {
        table: this.options.tableName,
        error: err instanceof Error ? err.name : 'unknown',
      });
      return CLOSED;
    }
  }

  private async refresh(): Promise<State> {
    const startedAt = this.now();
    try {
      const { contained, readOnly } = await this.fetch();
      this.lastGood = { state: { contained, readOnly }, at: startedAt };
      return { contained, readOnly };
    } catch (err) {
      const last = this.lastGood;
      if (last && this.now() - last.at < CONTROL_STALE_LIMIT_MS) return last.state;
      this.options.log?.error('the kill switch cannot be read; failing closed', {
        table: this.options.tableName,
        error: err instanceof Error ? err.name : 'unknown',
      });
      return CLOSED;
    }
  }

  /** The switch as stored, uncached, with the deploy-time override ORed in. */
  async snapshot(): Promise<ControlSnapshot> {
    const stored = await this.stored();
    return { ...stored, ...this.withForced(stored) };
  }

  /** The switch as stored in the table, uncached, without the deploy-time override. */
  async stored(): Promise<ControlSnapshot> {
    const startedAt = this.now();
    const snapshot = await this.fetch();
    this.lastGood = {
      state: { contained: snapshot.contained, readOnly: snapshot.readOnly },
      at: startedAt,
    };
    return snapshot;
  }

  /** Applies `change` to the stored item; returns the switch after it, override included. */
  async set(change: ControlChange): Promise<ControlSnapshot> {
    const stored = await this.setStored(change);
    return { ...stored, ...this.withForced(stored) };
  }

  /** Applies `change` to the stored item; returns the item after it, without the override. */
  async setStored(change: ControlChange): Promise<ControlSnapshot> {
    const startedAt = this.now();
    const names: Record<string, string> = {
      '#changed_at': 'changed_at',
      '#changed_by': 'changed_by',
      '#reason': 'reason',
    };
    const values: Record<string, unknown> = {
      ':changed_at': change.changedAt,
      ':changed_by': change.changedBy,
      ':reason': change.reason ?? null,
    };
    const flags = [
      ['contained', 'contained'],
      ['readOnly', 'read_only'],
    ] as const;
    // Only the flags given are written: the other stays as whoever set it last left it.
    for (const [field, attribute] of flags) {
      const value = change[field];
      if (value === undefined) continue;
      names[`#${attribute}`] = attribute;
      values[`:${attribute}`] = value;
    }
    const assignments = Object.keys(names).map((n) => `${n} = :${n.slice(1)}`);
    const { Attributes } = await this.options.client.send(
      new UpdateCommand({
        TableName: this.options.tableName,
        Key: { [CONTROL_TABLE.partitionKey]: CONTROL_TABLE.itemKey },
        UpdateExpression: `SET ${assignments.join(', ')}`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }),
    );
    const snapshot = snapshotOf(Attributes);
    this.lastGood = {
      state: { contained: snapshot.contained, readOnly: snapshot.readOnly },
      at: startedAt,
    };
    return snapshot;
  }

  private async fetch(): Promise<ControlSnapshot> {
    const { Item } = await this.options.client.send(
      new GetCommand({
        TableName: this.options.tableName,
        Key: { [CONTROL_TABLE.partitionKey]: CONTROL_TABLE.itemKey },
        ConsistentRead: true,
      }),
    );
    return snapshotOf(Item);
  }

  private withForced(state: State): State {
    return {
      contained: state.contained || this.forced.contained,
      readOnly: state.readOnly || this.forced.readOnly,
    };
  }
}

/** The switch an item says; no item is the open gateway. */
function snapshotOf(item: Record<string, unknown> | undefined): ControlSnapshot {
  if (!item) return { contained: false, readOnly: false };
  return {
    contained: isOn(item.contained),
    readOnly: isOn(item.read_only),
    ...(typeof item.changed_at === 'string' ? { changedAt: item.changed_at } : {}),
    ...(typeof item.changed_by === 'string' ? { changedBy: item.changed_by } : {}),
    ...(typeof item.reason === 'string' ? { reason: item.reason } : { reason: null }),
  };
}

/** Absent or `false` is off; anything else (true, a string, a number) is on. */
function isOn(value: unknown): boolean {
  return value !== undefined && value !== null && value !== false;
}
