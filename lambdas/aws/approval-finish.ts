import middy from '@middy/core';
import * as z from 'zod';
import { jsonLogger } from '../adapters/json-logger';
import { createFinishHandler } from './approval-flow-handlers';
import { observedS3Audit } from './audit-env';
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
  audit: observedS3Audit(env),
  slack: slackApi(secretValue(env.SLACK_BOT_TOKEN_SECRET_ARN, 'Slack bot token')),
  clock: { now: () => Date.now() },
  log: jsonLogger(),
});

export const handler = middy(run);
