/**
 * The HubSpot-call function (composition root). It alone can read the HubSpot read token;
 * clients are built once per container, outside the handler. Besides the catalog's searches it
 * answers the operator's `probe` after a token rotation (no CRM data, only HubSpot's verdict).
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { SecretsTokenProvider } from '../adapters/aws/secrets-token-provider';
import { HubSpotAdapter } from '../adapters/hubspot/hubspot-adapter';
import { jsonLogger } from '../adapters/json-logger';
import { loadEnv } from './env';
import { createHubSpotCallHandler } from './hubspot-call-handler';

const env = loadEnv(
  z.object({
    HUBSPOT_READ_SECRET_ARN: z.string().min(1),
    HUBSPOT_BASE_URL: z.url().default('https://api.hubapi.com'),
    SECRET_TTL_SECONDS: z.coerce.number().int().min(1).max(60).default(60),
  }),
);

const tokens = new SecretsTokenProvider({
  client: new SecretsManagerClient({}),
  secretIds: { read: env.HUBSPOT_READ_SECRET_ARN },
  maxAgeMs: env.SECRET_TTL_SECONDS * 1000,
});

const run = createHubSpotCallHandler({
  hubspot: new HubSpotAdapter({ tokens, basePath: env.HUBSPOT_BASE_URL }),
  tokens,
  log: jsonLogger(),
  now: Date.now,
});

export const handler = middy((event: unknown, context: Context) =>
  run(event, context.getRemainingTimeInMillis()),
);
