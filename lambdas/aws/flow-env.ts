/**
 * What the approval-flow functions share: the approval table, Slack, secrets. Built once per
 * container by each entry file.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { WebClient } from '@slack/web-api';
import { DynamoApprovalStore } from '../adapters/aws/dynamo-approval-store';
import { SecretsTokenProvider } from '../adapters/aws/secrets-token-provider';
import type { SlackApi } from './approval-flow-handlers';

export function approvalStore(tableName: string): DynamoApprovalStore {
  const client = DynamoDBDocumentClient.from(
    new DynamoDBClient({ requestHandler: { connectionTimeout: 1000, requestTimeout: 3000 } }),
  );
  return new DynamoApprovalStore(client, tableName);
}

/** A secret's value (the token, or JSON `{"token": ...}`), cached for a minute. */
export function secretValue(secretId: string, label: string): () => Promise<string> {
  const provider = new SecretsTokenProvider({
    client: new SecretsManagerClient({}),
    secretIds: { read: secretId },
    label,
  });
  return () => provider.get('read');
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
