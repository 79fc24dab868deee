/**
 * The validation function (composition root): the gateway core behind API Gateway. It holds
 * no HubSpot credential and no write path; reads go through the HubSpot-call function.
 * Clients are built once per container, outside the handler.
 */
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import middy from '@middy/core';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import * as z from 'zod';
import { LambdaHubSpot } from '../adapters/aws/lambda-hubspot';
import { NoApprovalStore } from '../adapters/aws/no-approvals';
import { S3AuditSink } from '../adapters/aws/s3-audit-sink';
import { randomIds } from '../adapters/ids';
import { jsonLogger } from '../adapters/json-logger';
import { CATALOG } from '../core/catalog';
import { loadEnv } from './env';
import { createValidationHandler } from './validation-handler';

const flag = z
  .enum(['true', 'false'])
  .default('false')
  .transform((v) => v === 'true');
const names = CATALOG.map((a) => a.name) as [string, ...string[]];

const env = loadEnv(
  z.object({
    HUBSPOT_CALL_FUNCTION_NAME: z.string().min(1),
    AUDIT_BUCKET_NAME: z.string().min(1),
    AUDIT_PREFIX: z.string().default('audit/'),
    AIRLOCK_PROMPT_POLICY: z.enum(['block', 'flag']).default('block'),
    AIRLOCK_REQUEST_DEADLINE_MS: z.coerce.number().int().min(100).max(12_000).default(8000),
    AIRLOCK_ALLOWED_ACTIONS: z
      .string()
      .default('search_contact,search_company,get_last_email_interaction')
      .transform((s) =>
        s
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.enum(names))),
    AIRLOCK_CONTAINED: flag,
    AIRLOCK_READ_ONLY: flag,
  }),
);

const log = jsonLogger();
const control = { contained: env.AIRLOCK_CONTAINED, readOnly: env.AIRLOCK_READ_ONLY };

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
  audit: new S3AuditSink(
    new S3Client({ requestHandler: { connectionTimeout: 1000, requestTimeout: 3000 } }),
    env.AUDIT_BUCKET_NAME,
    env.AUDIT_PREFIX,
  ),
  approvals: new NoApprovalStore(),
  control: { read: async () => control },
  clock: { now: () => Date.now() },
  ids: randomIds,
  log,
  config: {
    promptMode: env.AIRLOCK_PROMPT_POLICY,
    allowedActions: env.AIRLOCK_ALLOWED_ACTIONS,
    requestDeadlineMs: env.AIRLOCK_REQUEST_DEADLINE_MS,
    // Writes are held for approval by the approval flow; its TTL comes with it.
    approvalTtlMs: 3600_000,
  },
});

export const handler = middy((event: APIGatewayProxyEvent) => run(event));
