/**
 * What the approval-flow functions share: the approval table, Slack, secrets. Built once per
 * container by each entry file.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { WebClient } from '@slack/web-api';
import { DynamoApprovalStore } from '../adapters/aws/dynamo-approval-store';
import { DynamoControlState } from '../adapters/aws/dynamo-control-state';
import { SecretsTokenProvider } from '../adapters/aws/secrets-token-provider';
import type { Logger } from '../core/ports';
import type { SlackApi } from './approval-flow-handlers';

export function approvalStore(tableName: string): DynamoApprovalStore {
  const client = DynamoDBDocumentClient.from(
    new DynamoDBClient({ requestHandler: { connectionTimeout: 1000, requestTimeout: 3000 } }),
  );
  return new DynamoApprovalStore(client, tableName);
}

/**
 * A secret's value (the token, or JSON `{"token": ...}`), cached for a minute; `refresh` reads
 * it again at once (after a check that a rotated value would pass).
 */
export function secretValue(
  secretId: string,
  label: string,
): (options?: { refresh?: boolean }) => Promise<string> {
  const provider = new SecretsTokenProvider({
    client: new SecretsManagerClient({}),
    secretIds: { read: secretId },
    label,
  });
  return (options) => provider.get('read', options);
}

/**
 * The kill switch as the gateway functions read it: the control table (cached 5 s, fail closed)
 * with the deploy-time flags ORed in. Short timeouts and two attempts: the read sits on the
 * request path, and a table that cannot answer quickly is treated as down.
 */
export function controlSwitch(
  env: { CONTROL_TABLE_NAME: string; AIRLOCK_CONTAINED: boolean; AIRLOCK_READ_ONLY: boolean },
  log?: Logger,
): DynamoControlState {
  const client = DynamoDBDocumentClient.from(
    new DynamoDBClient({
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 1000, requestTimeout: 1000 },
    }),
  );
  return new DynamoControlState({
    client,
    tableName: env.CONTROL_TABLE_NAME,
    forced: { contained: env.AIRLOCK_CONTAINED, readOnly: env.AIRLOCK_READ_ONLY },
    ...(log ? { log } : {}),
  });
}

/** Slack's Web API with the bot token from Secrets Manager; links are never unfurled. */
export function slackApi(botToken: () => Promise<string>): SlackApi {
  let client: { token: string; web: WebClient } | undefined;
  const web = async () => {
    const token = await botToken();
    if (client?.token !== token)
      client = { token, web: new WebClient(token, { retryConfig: { retries: 2 } }) };
    return client.web;
  };
  return {
    async post(channel, message) {
      const out = await (await web()).chat.postMessage({
        channel,
        text: message.text,
        blocks: message.blocks as never,
        unfurl_links: false,
        unfurl_media: false,
      });
      if (!out.ok || !out.ts || !out.channel)
        throw new Error(`Slack refused the message: ${out.error ?? 'unknown'}`);
      return { channel: out.channel, ts: out.ts };
    },
    async update(channel, ts, message) {
      await (await web()).chat.update({
        channel,
        ts,
        text: message.text,
        blocks: message.blocks as never,
      });
    },
  };
}
