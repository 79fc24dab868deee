import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { lambdaHandler, lambdaLogger } from '../adapters/aws/powertools-logger';
import { randomIds } from '../adapters/ids';
import { slackInteractionsEnv } from '../config/aws';
import { createSlackInteractionsHandler } from './approval-flow-handlers';
import { observedS3Audit } from './audit-env';
import { loadEnv } from './env';
import { approvalStore, controlSwitch } from './flow-env';
import { secretValue } from './slack-env';

const env = loadEnv(slackInteractionsEnv);

const sfn = new SFNClient({ requestHandler: { connectionTimeout: 1000, requestTimeout: 2000 } });
const log = lambdaLogger();
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

export const handler = lambdaHandler((event: APIGatewayProxyEvent) => run(event), log);
