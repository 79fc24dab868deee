/**
 * Every 5 minutes (an EventBridge schedule): counts the writes waiting for a human decision and
 * reports how long the oldest has waited, as one CloudWatch EMF line. The `ApprovalsPending`
 * dashboard widget and the `ApprovalsPendingTooLong` alarm (`lambdas/core/alarms.ts`) read it.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoApprovalStore } from '../adapters/aws/dynamo-approval-store';
import { lambdaHandler, lambdaLogger } from '../adapters/aws/powertools-logger';
import { approvalsWatchEnv } from '../config/aws';
import { emfLine } from '../core/metrics';
import type { Approval } from '../core/ports';
import { loadEnv } from './env';

export interface ApprovalsWatchDeps {
  /** The approvals still `pending_approval` (only their `created_at` is read). */
  listPending: () => Promise<readonly Pick<Approval, 'created_at'>[]>;
  /** Epoch milliseconds: the EMF timestamp and the reference for the waiting time. */
  now: () => number;
  /** Where the EMF line goes: the function's stdout, hence its log group. */
  write: (line: string) => void;
  /** The `Stage` dimension, as every other function emits it. */
  stage: string;
}

export interface ApprovalsWatchResult {
  pending: number;
  oldestPendingMinutes: number;
}

/**
 * The watch: one EMF line per run, with `ApprovalsPending` (how many) and `OldestPendingMinutes`
 * (whole minutes since the oldest was requested; 0 when none is pending). A failure to list is
 * thrown, so the run fails and the function's Errors alarm says so: no line is better than a
 * line claiming nothing is pending.
 */
export function createApprovalsWatch(
  deps: ApprovalsWatchDeps,
): () => Promise<ApprovalsWatchResult> {
  return async () => {
    const pending = await deps.listPending();
    const now = deps.now();
    let oldestMs = 0;
    for (const a of pending) {
      const created = Date.parse(a.created_at);
      // An unreadable date cannot say how long it waited; it still counts as pending.
      if (Number.isFinite(created)) oldestMs = Math.max(oldestMs, now - created);
    }
    const result = {
      pending: pending.length,
      oldestPendingMinutes: Math.floor(oldestMs / 60_000),
    };
    deps.write(
      emfLine(
        {
          values: {
            ApprovalsPending: result.pending,
            OldestPendingMinutes: result.oldestPendingMinutes,
          },
          action: null,
          outcome: 'watch',
          reason: null,
          userId: null,
        },
        now,
        deps.stage,
      ),
    );
    return result;
  };
}

const env = loadEnv(approvalsWatchEnv);

const store = new DynamoApprovalStore(
  DynamoDBDocumentClient.from(
    new DynamoDBClient({ requestHandler: { connectionTimeout: 1000, requestTimeout: 3000 } }),
  ),
  env.APPROVAL_TABLE_NAME,
);

const run = createApprovalsWatch({
  listPending: () => store.listByStatus('pending_approval'),
  now: () => Date.now(),
  write: (line) => process.stdout.write(`${line}\n`),
  stage: env.AIRLOCK_STAGE,
});

export const handler = lambdaHandler(() => run(), lambdaLogger());
