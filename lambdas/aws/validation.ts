/**
 * The validation function (composition root): the gateway core behind API Gateway. It holds
 * no HubSpot credential and no write path; reads go through the HubSpot-call function.
 * Clients are built once per container, outside the handler.
 */

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import middy from '@middy/core';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import * as z from 'zod';
import { DynamoRateLimiter } from '../adapters/aws/dynamo-rate-limiter';
import { LambdaHubSpot } from '../adapters/aws/lambda-hubspot';
import { randomIds } from '../adapters/ids';
import { jsonLogger } from '../adapters/json-logger';
import { CATALOG } from '../core/catalog';
import { observedS3Audit } from './audit-env';
import { controlEnv, loadEnv } from './env';
import { approvalStore, controlSwitch } from './flow-env';
import { createValidationHandler } from './validation-handler';

const names = CATALOG.map((a) => a.name) as [string, ...string[]];

const env = loadEnv(
  z.object({
    HUBSPOT_CALL_FUNCTION_NAME: z.string().min(1),
    AUDIT_BUCKET_NAME: z.string().min(1),
    AUDIT_PREFIX: z.string().default('audit/'),
    AIRLOCK_PROMPT_POLICY: z.enum(['block', 'flag']).default('block'),
    AIRLOCK_REQUEST_DEADLINE_MS: z.coerce.number().int().min(100).max(12_000).default(8000),
    APPROVAL_TABLE_NAME: z.string().min(1),
    STATE_MACHINE_ARN: z.string().min(1),
    AIRLOCK_APPROVAL_TTL_SECONDS: z.coerce.number().int().min(60).max(604_800).default(3600),
    AIRLOCK_REQUIRED_APPROVALS: z
      .string()
      .default('{}')
      .transform((s) => JSON.parse(s) as unknown)
      .pipe(z.record(z.string(), z.number().int().min(1).max(5))),
    AIRLOCK_ALLOWED_ACTIONS: z
      .string()
      .default('search_contact,search_company,get_last_email_interaction,create_note')
      .transform((s) =>
        s
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.enum(names))),
    ...controlEnv,
    AIRLOCK_STAGE: z.string().default('dev'),
    RATE_LIMIT_TABLE_NAME: z.string().min(1),
    AIRLOCK_READS_PER_MINUTE: z.coerce.number().int().min(1).default(30),
    AIRLOCK_READS_PER_HOUR: z.coerce.number().int().min(1).default(300),
    AIRLOCK_DISTINCT_RECORDS_PER_HOUR: z.coerce.number().int().min(1).default(200),
    AIRLOCK_HUBSPOT_SEARCH_PER_SECOND: z.coerce.number().int().min(1).default(4),
    AIRLOCK_HUBSPOT_CALLS_PER_TEN_SECONDS: z.coerce.number().int().min(1).default(90),
  }),
);

const log = jsonLogger();
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
    limits: {
      readsPerMinute: env.AIRLOCK_READS_PER_MINUTE,
      readsPerHour: env.AIRLOCK_READS_PER_HOUR,
      distinctRecordsPerHour: env.AIRLOCK_DISTINCT_RECORDS_PER_HOUR,
      hubspotSearchPerSecond: env.AIRLOCK_HUBSPOT_SEARCH_PER_SECOND,
      hubspotCallsPerTenSeconds: env.AIRLOCK_HUBSPOT_CALLS_PER_TEN_SECONDS,
    },
  },
});

export const handler = middy((event: APIGatewayProxyEvent) => run(event));
