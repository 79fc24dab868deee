/** The approval state machine's closing tasks: record the outcome, update the Slack message. */
import { S3Client } from '@aws-sdk/client-s3';
import middy from '@middy/core';
import * as z from 'zod';
import { S3AuditSink } from '../adapters/aws/s3-audit-sink';
import { jsonLogger } from '../adapters/json-logger';
import { emfMetrics, observedAudit } from '../core/metrics';
import { createFinishHandler } from './approval-flow-handlers';
import { loadEnv } from './env';
import { approvalStore, secretValue, slackApi } from './flow-env';

const env = loadEnv(
  z.object({
    APPROVAL_TABLE_NAME: z.string().min(1),
    AUDIT_BUCKET_NAME: z.string().min(1),
    AUDIT_PREFIX: z.string().default('audit/'),
    AIRLOCK_STAGE: z.string().default('dev'),
    SLACK_BOT_TOKEN_SECRET_ARN: z.string().min(1),
  }),
);

const run = createFinishHandler({
  approvals: approvalStore(env.APPROVAL_TABLE_NAME),
  audit: observedAudit(
    new S3AuditSink(new S3Client({}), env.AUDIT_BUCKET_NAME, env.AUDIT_PREFIX),
    emfMetrics(env.AIRLOCK_STAGE),
    Date.now,
  ),
  slack: slackApi(secretValue(env.SLACK_BOT_TOKEN_SECRET_ARN, 'Slack bot token')),
  clock: { now: () => Date.now() },
  log: jsonLogger(),
});

export const handler = middy(run);
