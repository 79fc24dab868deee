import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { LambdaHubSpot } from '../../lambdas/adapters/aws/lambda-hubspot';
import { S3AuditSink } from '../../lambdas/adapters/aws/s3-audit-sink';
import { SecretsTokenProvider } from '../../lambdas/adapters/aws/secrets-token-provider';
import { HubSpotAdapter } from '../../lambdas/adapters/hubspot/hubspot-adapter';
import { randomIds } from '../../lambdas/adapters/ids';
import { jsonLogger } from '../../lambdas/adapters/json-logger';
import { createHubSpotCallHandler } from '../../lambdas/aws/hubspot-call-handler';
import { createValidationHandler } from '../../lambdas/aws/validation-handler';
import { startEmulator } from '../../lambdas/emulator/server';
import { invokePayload, startS3 } from '../helpers/aws-stand-ins';
import { startDynaliteApprovals } from '../helpers/dynalite';
import { describeContract } from './cases';

const READ = 'pat-na1-contract-read-token';
const WRITE = 'pat-na1-contract-write-token';

/**
 * The Lambda deployment in one process: API Gateway events into the validation handler, whose
 * Lambda invocations of the HubSpot-call handler go through a mocked Lambda client (JSON in and
 * out, as on AWS), the HubSpot-call handler's token from a mocked Secrets Manager, HubSpot from
 * the emulator over HTTP, and the audit records into s3rver through the real S3 client.
 */
describeContract('the contract, served by the Lambda handlers', async () => {
  const emulator = await startEmulator({
    tokens: {
      [READ]: ['crm.objects.contacts.read', 'crm.objects.companies.read', 'sales-email-read'],
      [WRITE]: ['crm.objects.contacts.write'],
    },
    rateLimits: { perTenSeconds: 1e6, searchPerSecond: 1e6 },
  });
  const s3 = await startS3('audit-bucket');
  const db = await startDynaliteApprovals();
  const { DynamoApprovalStore } = await import('../../lambdas/adapters/aws/dynamo-approval-store');
  const sm = mockClient(SecretsManagerClient);
  sm.on(GetSecretValueCommand).resolves({ SecretString: READ });
  const log = jsonLogger(() => undefined);
  const hubspotCall = createHubSpotCallHandler({
    hubspot: new HubSpotAdapter({
      tokens: new SecretsTokenProvider({
        client: new SecretsManagerClient({ region: 'eu-west-1' }),
        secretIds: { read: 'read-secret' },
      }),
      basePath: emulator.url,
    }),
    log,
    now: Date.now,
  });
  const lambda = mockClient(LambdaClient);
  lambda.on(InvokeCommand).callsFake(async (input: { Payload: Uint8Array }) => {
    const result = await hubspotCall(
      JSON.parse(Buffer.from(input.Payload).toString('utf8')),
      10_000,
    );
    return { StatusCode: 200, Payload: invokePayload(result) };
  });
  const handler = createValidationHandler({
    hubspot: new LambdaHubSpot(new LambdaClient({ region: 'eu-west-1' }), 'hubspot-call'),
    audit: new S3AuditSink(s3.client, 'audit-bucket'),
    approvals: new DynamoApprovalStore(db.client, db.tableName),
    // The state machine's start is the entry point's (tested there); here the write waits.
    workflow: { start: async () => undefined },
    control: { read: async () => ({ contained: false, readOnly: false }) },
    clock: { now: () => Date.now() },
    ids: randomIds,
    log,
    config: {
      promptMode: 'block',
      allowedActions: [
        'search_contact',
        'search_company',
        'get_last_email_interaction',
        'create_note',
      ],
      requestDeadlineMs: 1500,
      approvalTtlMs: 3600_000,
    },
  });
  return {
    emulator,
    readToken: READ,
    writeToken: WRITE,
    async send(req) {
      const statusPath = /^\/v1\/actions\/([^/]+)$/.exec(req.path);
      const event = {
        httpMethod: req.method,
        resource: statusPath ? '/v1/actions/{request_id}' : req.path,
        path: req.path,
        pathParameters: statusPath ? { request_id: statusPath[1] } : null,
        headers:
          req.body !== undefined ? { 'Content-Type': req.contentType ?? 'application/json' } : {},
        body: req.body ?? null,
        isBase64Encoded: false,
        requestContext: {
          requestId: 'api-gw-request-id',
          domainName: 'abc123.execute-api.eu-west-1.amazonaws.com',
          stage: 'dev',
          identity: { userArn: 'arn:aws:sts::123456789012:assumed-role/agent-backend/session' },
        },
      } as unknown as APIGatewayProxyEvent;
      const res = await handler(event);
      return {
        status: res.statusCode,
        headers: Object.fromEntries(
          Object.entries(res.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]),
        ),
        body: JSON.parse(res.body) as Record<string, unknown>,
      };
    },
    async auditCount() {
      const listed = await s3.client.send(
        new ListObjectsV2Command({ Bucket: 'audit-bucket', Prefix: 'audit/' }),
      );
      return listed.KeyCount ?? 0;
    },
    async close() {
      lambda.restore();
      sm.restore();
      await s3.close();
      await db.close();
      await emulator.close();
    },
  };
});
