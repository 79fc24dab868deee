import { lambdaHandler, lambdaLogger } from '../adapters/aws/powertools-logger';
import { approvalFinishEnv } from '../config/aws';
import { createFinishHandler } from './approval-flow-handlers';
import { observedS3Audit } from './audit-env';
import { loadEnv } from './env';
import { approvalStore } from './flow-env';
import { secretValue, slackApi } from './slack-env';

const env = loadEnv(approvalFinishEnv);

const log = lambdaLogger();

const run = createFinishHandler({
  approvals: approvalStore(env.APPROVAL_TABLE_NAME),
  audit: observedS3Audit(env),
  slack: slackApi(secretValue(env.SLACK_BOT_TOKEN_SECRET_ARN, 'Slack bot token')),
  clock: { now: () => Date.now() },
  log,
});

export const handler = lambdaHandler(run, log);
