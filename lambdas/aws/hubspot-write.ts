/**
 * The approval state machine's Write task: the only function that holds the HubSpot write
 * token, and only the state machine may invoke it.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { lambdaHandler, lambdaLogger } from '../adapters/aws/powertools-logger';
import { SecretsTokenProvider } from '../adapters/aws/secrets-token-provider';
import { HubSpotAdapter } from '../adapters/hubspot/hubspot-adapter';
import { hubspotWriteEnv } from '../config/aws';
import { REQUEST_DEADLINE_MS } from '../config/shared';
import { createWriteHandler, FlowError } from './approval-flow-handlers';
import { loadEnv } from './env';
import { approvalStore, controlSwitch } from './flow-env';

const env = loadEnv(hubspotWriteEnv);

const log = lambdaLogger();
const control = controlSwitch(env, log);

/**
 * The switch as stored now, read uncached: a `contain` stops the next write at once, never
 * after a cached "open". The write handler reads it when the task starts and again right
 * before the POST (after a retried write's lookup), so a `contain` that lands while the write
 * is under way stops it before anything is sent (two GetItems per approved write). A read that
 * fails is retried by the state machine, never answered from an older read.
 */
async function currentSwitch(): Promise<{ contained: boolean; readOnly: boolean }> {
  try {
    const { contained, readOnly } = await control.snapshot();
    return { contained, readOnly };
  } catch {
    throw new FlowError('Airlock.Retryable', 'The kill switch cannot be read; trying again.');
  }
}

const run = createWriteHandler({
  approvals: approvalStore(env.APPROVAL_TABLE_NAME),
  control: currentSwitch,
  hubspot: new HubSpotAdapter({
    tokens: new SecretsTokenProvider({
      client: new SecretsManagerClient({}),
      secretIds: { write: env.HUBSPOT_WRITE_SECRET_ARN },
      maxAgeMs: env.SECRET_TTL_SECONDS * 1000,
    }),
    basePath: env.HUBSPOT_BASE_URL,
  }),
  clock: { now: () => Date.now() },
  deadlineMs: REQUEST_DEADLINE_MS.default,
});

export const handler = lambdaHandler(run, log);
