import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import middy from '@middy/core';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import * as z from 'zod';
import { randomIds } from '../adapters/ids';
import { jsonLogger } from '../adapters/json-logger';
import { userApproversSetting } from '../core/identity';
import { createSlackInteractionsHandler } from './approval-flow-handlers';
import { observedS3Audit } from './audit-env';
import { controlEnv, loadEnv } from './env';
import { approvalStore, controlSwitch, secretValue } from './flow-env';

const env = loadEnv(
  z.object({
    ...controlEnv,
    APPROVAL_TABLE_NAME: z.string().min(1),
    SLACK_SIGNING_SECRET_ARN: z.string().min(1),
    SLACK_TEAM_ID: z.string().min(1),
    SLACK_APPROVER_IDS: z.string().transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    ),
    AUDIT_BUCKET_NAME: z.string().min(1),
    AUDIT_PREFIX: z.string().default('audit/'),
    AIRLOCK_STAGE: z.string().default('dev'),
    AIRLOCK_USER_APPROVERS: userApproversSetting,
  }),
);

const sfn = new SFNClient({ requestHandler: { connectionTimeout: 1000, requestTimeout: 2000 } });
const log = jsonLogger();
const control = controlSwitch(env, log);

const run = createSlackInteractionsHandler({
  approvals: approvalStore(env.APPROVAL_TABLE_NAME),
  control: () => control.read(),
  audit: observedS3Audit(env),
  signingSecret: secretValue(env.SLACK_SIGNING_SECRET_ARN, 'Slack signing secret'),
  policy: { teamId: env.SLACK_TEAM_ID, approverIds: env.SLACK_APPROVER_IDS },
  rules: { userApprovers: env.AIRLOCK_USER_APPROVERS },
  async sendDecision(taskToken, output) {
    await sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output) }));
  },
  async respond(responseUrl, text) {
    await fetch(responseUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ response_type: 'ephemeral', replace_original: false, text }),
      signal: AbortSignal.timeout(1500),
    });
  },
  clock: { now: () => Date.now() },
  ids: randomIds,
  log,
});

export const handler = middy((event: APIGatewayProxyEvent) => run(event));
