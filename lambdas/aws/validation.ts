/**
 * The validation function (composition root): the gateway core behind API Gateway. It holds
 * no HubSpot credential and no write path; reads go through the HubSpot-call function.
 * Clients are built once per container, outside the handler.
 */

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { DynamoRateLimiter } from '../adapters/aws/dynamo-rate-limiter';
import { LambdaHubSpot } from '../adapters/aws/lambda-hubspot';
import { lambdaHandler, lambdaLogger } from '../adapters/aws/powertools-logger';
import { randomIds } from '../adapters/ids';
import { validationEnv } from '../config/aws';
import { readLimitsOf } from '../config/shared';
import { observedS3Audit } from './audit-env';
import { loadEnv } from './env';
import { approvalStore, controlSwitch } from './flow-env';
import { createValidationHandler } from './validation-handler';

const env = loadEnv(validationEnv);

const log = lambdaLogger();
const approvals = approvalStore(env.APPROVAL_TABLE_NAME);
const sfn = new SFNClient({ requestHandler: { connectionTimeout: 1000, requestTimeout: 3000 } });

const run = createValidationHandler({
  // Bounded waits: a hung dependency answers 502/503 with an audit record, not a function timeout.
  hubspot: new LambdaHubSpot(
    new LambdaClient({
      requestHandler: {
        connectionTimeout: 1000,
        requestTimeout: env.AIRLOCK_REQUEST_DEADLINE_MS + 2000,
      },
    }),
    env.HUBSPOT_CALL_FUNCTION_NAME,
  ),
  // Metrics are the audit records counted (EMF lines in the log, no API call on the way).
  audit: observedS3Audit(env),
  limiter: new DynamoRateLimiter(
    DynamoDBDocumentClient.from(
      new DynamoDBClient({ requestHandler: { connectionTimeout: 1000, requestTimeout: 2000 } }),
    ),
    env.RATE_LIMIT_TABLE_NAME,
  ),
  approvals,
  workflow: {
    // The approval id names the execution: starting it twice is refused by Step Functions.
    async start(approval) {
      await sfn.send(
        new StartExecutionCommand({
          stateMachineArn: env.STATE_MACHINE_ARN,
          name: approval.approval_id,
          input: JSON.stringify({
            approval_id: approval.approval_id,
            request_id: approval.request_id,
            action_hash: approval.action_hash,
          }),
        }),
      );
    },
  },
  control: controlSwitch(env, log),
  clock: { now: () => Date.now() },
  ids: randomIds,
  log,
  config: {
    promptMode: env.AIRLOCK_PROMPT_POLICY,
    allowedActions: env.AIRLOCK_ALLOWED_ACTIONS,
    requestDeadlineMs: env.AIRLOCK_REQUEST_DEADLINE_MS,
    approvalTtlMs: env.AIRLOCK_APPROVAL_TTL_SECONDS * 1000,
    requiredApprovals: env.AIRLOCK_REQUIRED_APPROVALS,
    limits: readLimitsOf(env),
  },
});

export const handler = lambdaHandler((event: APIGatewayProxyEvent) => run(event), log);
