/** The approval state machine's Notify task: posts the approval to Slack and waits. */
import { LambdaClient } from '@aws-sdk/client-lambda';
import { LambdaHubSpot } from '../adapters/aws/lambda-hubspot';
import { lambdaHandler, lambdaLogger } from '../adapters/aws/powertools-logger';
import { approvalNotifyEnv } from '../config/aws';
import { companyName, contactName } from '../core/projection';
import { createNotifyHandler } from './approval-flow-handlers';
import { loadEnv } from './env';
import { approvalStore } from './flow-env';
import { secretValue, slackApi } from './slack-env';

const env = loadEnv(approvalNotifyEnv);

const hubspot = new LambdaHubSpot(new LambdaClient({}), env.HUBSPOT_CALL_FUNCTION_NAME);

const log = lambdaLogger();

const notify = createNotifyHandler({
  approvals: approvalStore(env.APPROVAL_TABLE_NAME),
  slack: slackApi(secretValue(env.SLACK_BOT_TOKEN_SECRET_ARN, 'Slack bot token')),
  channel: env.SLACK_CHANNEL_ID,
  async lookupName(target) {
    const object = target.type === 'contact' ? 'contacts' : 'companies';
    const [record] = await hubspot.search(
      object,
      {
        filterGroups: [
          { filters: [{ propertyName: 'hs_object_id', operator: 'EQ', value: target.id }] },
        ],
        properties: target.type === 'contact' ? ['firstname', 'lastname'] : ['name'],
        limit: 1,
      },
      { deadline: Date.now() + 4000, calls: [] },
    );
    if (!record) return null;
    return target.type === 'contact' ? contactName(record) : companyName(record);
  },
  log,
});

/**
 * Until Slack is set up (the default deploy leaves the channel empty) the function still
 * starts, and fails each task with an error that says why: the state machine then records the
 * approval as failed (writes are not even offered then; see `allowedActions` in lib/).
 */
async function slackNotConfigured(): Promise<never> {
  throw Object.assign(
    new Error(
      'Slack is not configured: SLACK_CHANNEL_ID is empty, so the approval cannot be posted. ' +
        'Set approval.slackChannelId (and the team and approvers) and deploy again.',
    ),
    { name: 'Airlock.SlackNotConfigured' },
  );
}

const run = env.SLACK_CHANNEL_ID === '' ? slackNotConfigured : notify;

export const handler = lambdaHandler(run, log);
