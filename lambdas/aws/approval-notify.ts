/** The approval state machine's Notify task: posts the approval to Slack and waits. */
import { LambdaClient } from '@aws-sdk/client-lambda';
import middy from '@middy/core';
import * as z from 'zod';
import { LambdaHubSpot } from '../adapters/aws/lambda-hubspot';
import { jsonLogger } from '../adapters/json-logger';
import { companyName, contactName } from '../core/projection';
import { createNotifyHandler } from './approval-flow-handlers';
import { loadEnv } from './env';
import { approvalStore, secretValue, slackApi } from './flow-env';

const env = loadEnv(
  z.object({
    APPROVAL_TABLE_NAME: z.string().min(1),
    SLACK_BOT_TOKEN_SECRET_ARN: z.string().min(1),
    SLACK_CHANNEL_ID: z.string().min(1),
    HUBSPOT_CALL_FUNCTION_NAME: z.string().min(1),
  }),
);

const hubspot = new LambdaHubSpot(new LambdaClient({}), env.HUBSPOT_CALL_FUNCTION_NAME);

const run = createNotifyHandler({
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
  log: jsonLogger(),
});

export const handler = middy(run);
