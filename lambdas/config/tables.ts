/**
 * The DynamoDB tables' key schemas: the one contract between the CDK constructs that create the
 * tables (`lib/approval-flow.ts`, `lib/control.ts`, `lib/rate-limits.ts`) and the adapters that
 * read and write them (`lambdas/adapters/aws/dynamo-*.ts`). Pure data: the CDK app loads it.
 * See docs/ARCHITECTURE.md, section "Configuration".
 */

/**
 * The approvals table. Items are the `Approval` fields as attributes (`action` as a map), plus
 * `ttl`. Both indexes must project ALL attributes (CDK's default): `listByStatus` reads whole
 * approvals from `by_status`.
 */
export const APPROVAL_TABLE = {
  partitionKey: 'approval_id',
  /** GSI: partition key `request_id` (the status route looks a write up by its request). */
  byRequestIndex: 'by_request',
  /** GSI: partition key `status`, sort key `created_at` (pending approvals, oldest first). */
  byStatusIndex: 'by_status',
  ttlAttribute: 'ttl',
} as const;

/**
 * The control table: partition key `pk`, one item `pk = 'control'` with `contained`,
 * `read_only`, `changed_at`, `changed_by`, `reason`.
 */
export const CONTROL_TABLE = {
  partitionKey: 'pk',
  /** The key of the one item. */
  itemKey: 'control',
} as const;

/**
 * The rate-limit table: partition key `key` (string), no sort key, TimeToLive on `ttl` (epoch
 * seconds). Its items are described where they are written (`dynamo-rate-limiter.ts`).
 */
export const RATE_LIMIT_TABLE = { partitionKey: 'key', ttlAttribute: 'ttl' } as const;
