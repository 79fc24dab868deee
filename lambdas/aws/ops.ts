/**
 * The ops function (composition root): invoked by the operator's CLI, never by API Gateway.
 * It holds no secret; it reads and sets the kill switch, lists and cancels pending writes,
 * resumes their waiting executions with a denial, and invokes the HubSpot-call function's
 * probe (never a search) to confirm a rotated read token.
 */
import { randomUUID } from 'node:crypto';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SFNClient } from '@aws-sdk/client-sfn';
import { lambdaHandler, lambdaLogger } from '../adapters/aws/powertools-logger';
import { verifyIdentityUrl } from '../adapters/aws/sts-identity';
import { opsEnv } from '../config/aws';
import { observedS3Audit } from './audit-env';
import { loadEnv } from './env';
import { approvalStore, controlSwitch } from './flow-env';
import { createOpsHandler } from './ops-handler';

const env = loadEnv(opsEnv);

const log = lambdaLogger();

const run = createOpsHandler({
  control: controlSwitch(env, log),
  approvals: approvalStore(env.APPROVAL_TABLE_NAME),
  audit: observedS3Audit(env),
  sfn: new SFNClient({ requestHandler: { connectionTimeout: 1000, requestTimeout: 3000 } }),
  clock: { now: () => Date.now() },
  log,
  requestId: () => `ops-${randomUUID().replace(/-/g, '')}`,
  lambda: new LambdaClient({ requestHandler: { connectionTimeout: 1000, requestTimeout: 12_000 } }),
  hubspotCallFunctionName: env.HUBSPOT_CALL_FUNCTION_NAME,
  // The audit records name the caller STS vouches for, never the one the CLI merely says.
  verifyIdentity: (identity) => verifyIdentityUrl(identity),
});

export const handler = lambdaHandler((event: unknown) => run(event), log);
