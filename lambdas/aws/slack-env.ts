/**
 * Slack for the approval flow: the Web API with the bot token, and the Slack secrets (the bot
 * token, the signing secret) from Secrets Manager. Only the functions that talk to Slack import
 * it (Notify, Finish, the Slack callback).
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { WebClient } from '@slack/web-api';
import { SecretsTokenProvider } from '../adapters/aws/secrets-token-provider';
import type { SlackApi } from './approval-flow-handlers';

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
