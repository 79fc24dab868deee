/**
 * What the gateway's functions share: the approval table and the kill switch. Built once per
 * container by each entry file. Slack and its secrets are in `slack-env.ts`, so a function that
 * never calls Slack does not bundle its client.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoApprovalStore } from '../adapters/aws/dynamo-approval-store';
import { DynamoControlState } from '../adapters/aws/dynamo-control-state';
import type { Logger } from '../core/ports';

export function approvalStore(tableName: string): DynamoApprovalStore {
  const client = DynamoDBDocumentClient.from(
    new DynamoDBClient({ requestHandler: { connectionTimeout: 1000, requestTimeout: 3000 } }),
  );
  return new DynamoApprovalStore(client, tableName);
}

/**
 * The kill switch as the gateway functions read it: the control table (cached 5 s, fail closed)
 * with the deploy-time flags ORed in. Short timeouts and two attempts: the read sits on the
 * request path, and a table that cannot answer quickly is treated as down.
 */
export function controlSwitch(
  env: { CONTROL_TABLE_NAME: string; AIRLOCK_CONTAINED: boolean; AIRLOCK_READ_ONLY: boolean },
  log?: Logger,
): DynamoControlState {
  const client = DynamoDBDocumentClient.from(
    new DynamoDBClient({
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 1000, requestTimeout: 1000 },
    }),
  );
  return new DynamoControlState({
    client,
    tableName: env.CONTROL_TABLE_NAME,
    forced: { contained: env.AIRLOCK_CONTAINED, readOnly: env.AIRLOCK_READ_ONLY },
    ...(log ? { log } : {}),
  });
}
