/**
 * The HubSpot-call function (composition root). It alone can read the HubSpot read token;
 * clients are built once per container, outside the handler. Besides the catalog's searches it
 * answers the operator's `probe` after a token rotation (no CRM data, only HubSpot's verdict).
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import { lambdaHandler, lambdaLogger } from '../adapters/aws/powertools-logger';
import { SecretsTokenProvider } from '../adapters/aws/secrets-token-provider';
import { HubSpotAdapter } from '../adapters/hubspot/hubspot-adapter';
import { hubspotCallEnv } from '../config/aws';
import { loadEnv } from './env';
import { createHubSpotCallHandler } from './hubspot-call-handler';

const env = loadEnv(hubspotCallEnv);

const tokens = new SecretsTokenProvider({
  client: new SecretsManagerClient({}),
  secretIds: { read: env.HUBSPOT_READ_SECRET_ARN },
  maxAgeMs: env.SECRET_TTL_SECONDS * 1000,
});

const log = lambdaLogger();

const run = createHubSpotCallHandler({
  hubspot: new HubSpotAdapter({ tokens, basePath: env.HUBSPOT_BASE_URL }),
  tokens,
  log,
  now: Date.now,
});

export const handler = lambdaHandler(
  (event: unknown, context: Context) => run(event, context.getRemainingTimeInMillis()),
  log,
);
