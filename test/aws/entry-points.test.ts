import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { presignedIdentityUrl } from '../../lambdas/adapters/aws/sts-identity';
import { companySearch } from '../../lambdas/core/reads';
import { type Emulator, startEmulator } from '../../lambdas/emulator/server';
import { invokePayload } from '../helpers/aws-stand-ins';
import { FAKE_HUBSPOT_TOKEN_EU } from '../helpers/fake-credentials';

const TOKEN = 'pat-na1-entry-point-token';
const context = { getRemainingTimeInMillis: () => 10_000 } as unknown as Context;

/** An API Gateway (REST, proxy) event for the validation function. */
function apiEvent(
  httpMethod: string,
  resource: string,
  body: unknown,
  userArn: string | null = 'arn:aws:iam::1:role/agent',
): APIGatewayProxyEvent {
  return {
    httpMethod,
    resource,
    headers: body === null ? {} : { 'content-type': 'application/json' },
    body: body === null ? null : JSON.stringify(body),
    isBase64Encoded: false,
    requestContext: {
      requestId: 'r',
      domainName: 'x.example',
      stage: 'dev',
      identity: userArn ? { userArn } : {},
    },
  } as unknown as APIGatewayProxyEvent;
}

/** The composition roots as Lambda loads them: configuration from the environment, middy. */
describe('the Lambda entry points', () => {
  const sm = mockClient(SecretsManagerClient);
  const lambda = mockClient(LambdaClient);
  const s3 = mockClient(S3Client);
  const dynamo = mockClient(DynamoDBDocumentClient);
  const sfn = mockClient(SFNClient);
  let emulator: Emulator;
  const saved = { ...process.env };

  beforeAll(async () => {
    emulator = await startEmulator({
      tokens: {
        [TOKEN]: ['crm.objects.contacts.read', 'crm.objects.companies.read', 'sales-email-read'],
      },
    });
    Object.assign(process.env, {
      AWS_REGION: 'eu-west-1',
      HUBSPOT_READ_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:read',
      HUBSPOT_BASE_URL: emulator.url,
      HUBSPOT_CALL_FUNCTION_NAME: 'hubspot-call',
      AUDIT_BUCKET_NAME: 'audit-bucket',
      APPROVAL_TABLE_NAME: 'approvals',
      RATE_LIMIT_TABLE_NAME: 'limits',
      STATE_MACHINE_ARN: 'arn:aws:states:eu-west-1:123456789012:stateMachine:approvals',
      AIRLOCK_REQUIRED_APPROVALS: '{"create_note":2}',
      CONTROL_TABLE_NAME: 'control',
    });
  });

  /** The kill-switch item the gateway functions read: none, the gateway is open. */
  const openSwitch = () => dynamo.on(GetCommand, { TableName: 'control' }).resolves({});
  afterAll(async () => {
    process.env = saved;
    sm.restore();
    lambda.restore();
    s3.restore();
    dynamo.restore();
    sfn.restore();
    await emulator.close();
  });

  it('hubspot-call reads its secret and searches HubSpot', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: TOKEN });
    const { handler } = await import('../../lambdas/aws/hubspot-call');
    const result = await handler(
      {
        op: 'search',
        object: 'companies',
        request: companySearch({ action: 'search_company', domain: 'acme.com' }),
        deadline: Date.now() + 3000,
      },
      context,
    );
    expect(result).toMatchObject({ ok: true, records: [{ properties: { domain: 'acme.com' } }] });
  });

  it('validation answers an API Gateway event, invoking hubspot-call and writing the audit record to S3', async () => {
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      Payload: invokePayload({
        ok: true,
        records: [{ id: '7', properties: { name: 'Acme Corp' } }],
        calls: [],
      }),
    });
    s3.on(PutObjectCommand).resolves({});
    // The rate limiter's counters (DynamoDB): one read of one record, well under every limit.
    dynamo.on(UpdateCommand).resolves({ Attributes: { count: 1 } });
    dynamo.on(PutCommand).resolves({});
    openSwitch();
    const { handler } = await import('../../lambdas/aws/validation');
    const event = apiEvent('POST', '/v1/actions', {
      user_id: 'u',
      agent_prompt: 'find acme',
      action: { action: 'search_company', name: 'Acme' },
    });
    const res = (await handler(event, context)) as APIGatewayProxyResult;
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body).data.companies[0]).toEqual({
      id: '7',
      name: 'Acme Corp',
      domain: null,
      last_contacted: null,
    });
    expect(lambda.commandCalls(InvokeCommand)[0]?.args[0].input.FunctionName).toBe('hubspot-call');
    const put = s3.commandCalls(PutObjectCommand)[0]?.args[0].input;
    expect(put).toMatchObject({ Bucket: 'audit-bucket', ChecksumAlgorithm: 'SHA256' });
    expect(JSON.parse(String(put?.Body))).toMatchObject({
      caller: 'arn:aws:iam::1:role/agent',
      response_status: 200,
    });
  });

  it('validation holds a write for approval: stored in the table, state machine started, 202', async () => {
    s3.reset();
    s3.on(PutObjectCommand).resolves({});
    dynamo.reset();
    openSwitch();
    dynamo.on(QueryCommand).resolves({ Items: [] });
    dynamo.on(TransactWriteCommand).resolves({});
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec' });
    const { handler } = await import('../../lambdas/aws/validation');
    const event = apiEvent('POST', '/v1/actions', {
      user_id: 'u',
      agent_prompt: 'log it',
      action: { action: 'create_note', contact_id: '1', body: 'x' },
    });
    const res = (await handler(event, context)) as APIGatewayProxyResult;
    const body = JSON.parse(res.body);
    expect([res.statusCode, body.status]).toEqual([202, 'pending_approval']);
    expect(body.status_url).toBe(`https://x.example/dev/v1/actions/${body.request_id}`);
    // Stored with its slot under the pending caps, in one transaction.
    const stored = dynamo
      .commandCalls(TransactWriteCommand)[0]
      ?.args[0].input.TransactItems?.find((i) => i.Put)?.Put?.Item as Record<string, unknown>;
    expect(stored).toMatchObject({
      approval_id: body.approval.id,
      status: 'pending_approval',
      required_approvals: 2,
    });
    const start = sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input;
    expect(start?.name).toBe(body.approval.id);
    expect(JSON.parse(start?.input ?? '{}')).toEqual({
      approval_id: body.approval.id,
      request_id: body.request_id,
      action_hash: stored.action_hash,
    });
    expect(
      JSON.parse(String(s3.commandCalls(PutObjectCommand)[0]?.args[0].input.Body)).outcome,
    ).toBe('pending_approval');
  });

  it('validation answers 503 and withholds the data when S3 refuses the audit record', async () => {
    s3.reset();
    s3.on(PutObjectCommand).rejects(new Error('SlowDown'));
    const { handler } = await import('../../lambdas/aws/validation');
    const event = apiEvent('POST', '/v1/actions', {
      user_id: 'u',
      agent_prompt: 'find acme',
      action: { action: 'search_company', name: 'Acme' },
    });
    const res = (await handler(event, context)) as APIGatewayProxyResult;
    expect(res.statusCode).toBe(503);
    expect(res.body).not.toContain('Acme Corp');
  });

  it('validation refuses a pasted HubSpot token and keeps it out of the audit object', async () => {
    s3.reset();
    s3.on(PutObjectCommand).resolves({});
    const { handler } = await import('../../lambdas/aws/validation');
    const token = FAKE_HUBSPOT_TOKEN_EU;
    const event = apiEvent('POST', '/v1/actions', {
      user_id: 'u',
      agent_prompt: `my token is ${token}`,
      action: { action: 'search_company', name: 'Acme' },
    });
    const res = (await handler(event, context)) as APIGatewayProxyResult;
    expect([res.statusCode, JSON.parse(res.body).error.code]).toEqual([422, 'prompt_rejected']);
    const body = String(s3.commandCalls(PutObjectCommand)[0]?.args[0].input.Body);
    expect(body).not.toContain(token);
    expect(JSON.parse(body).agent_prompt).toBe('my token is [REDACTED]');
  });

  it('ops reads the kill switch from its table and audits the call under the identity STS proves', async () => {
    s3.reset();
    s3.on(PutObjectCommand).resolves({});
    dynamo.reset();
    dynamo.on(GetCommand, { TableName: 'control' }).resolves({
      Item: { pk: 'control', contained: true, read_only: false, changed_by: 'arn:op' },
    });
    dynamo.on(QueryCommand).resolves({ Items: [] });
    const proven = 'arn:aws:iam::123456789012:user/alice';
    // STS, as the function reaches it: the presigned request is answered with the caller's ARN.
    const sts = jest
      .spyOn(globalThis, 'fetch')
      .mockResolvedValue(
        new Response(
          `<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>${proven}</Arn></GetCallerIdentityResult></GetCallerIdentityResponse>`,
          { status: 200 },
        ),
      );
    try {
      const identity = await presignedIdentityUrl({
        region: 'eu-west-1',
        credentials: {
          accessKeyId: ['AKIA', 'TESTTESTTESTTEST'].join(''),
          secretAccessKey: 'x'.repeat(40),
        },
      });
      const { handler } = await import('../../lambdas/aws/ops');
      // `by` claims someone else: the record names whom STS vouches for.
      const result = await handler(
        { command: 'status', by: 'arn:aws:iam::1:user/mallory', identity },
        context,
      );
      const unproven = await handler(
        { command: 'status', by: 'arn:aws:iam::1:user/mallory' },
        context,
      );

      expect(String(sts.mock.calls[0]?.[0])).toMatch(
        /^https:\/\/sts\.eu-west-1\.amazonaws\.com\/\?/,
      );
      expect(result).toMatchObject({
        ok: true,
        control: { contained: true, readOnly: false, changedBy: 'arn:op' },
        pending: { count: 0 },
        forced: { contained: false, readOnly: false },
      });
      expect(unproven).toMatchObject({ ok: false, error: { code: 'unauthorized' } });
      const records = s3
        .commandCalls(PutObjectCommand)
        .map((c) => JSON.parse(String(c.args[0].input.Body)));
      expect(s3.commandCalls(PutObjectCommand)[0]?.args[0].input).toMatchObject({
        Bucket: 'audit-bucket',
        ChecksumAlgorithm: 'SHA256',
      });
      expect(records).toEqual([
        expect.objectContaining({
          event: 'control',
          action: 'status',
          caller: proven,
          request_id: expect.stringMatching(/^ops-[0-9a-f]{32}$/),
        }),
        expect.objectContaining({
          event: 'control',
          outcome: 'rejected',
          reason: 'unauthorized',
          caller: 'unverified:arn:aws:iam::1:user/mallory',
        }),
      ]);
    } finally {
      sts.mockRestore();
    }
  });

  it('validation refuses an event without a caller identity', async () => {
    s3.reset();
    s3.on(PutObjectCommand).resolves({});
    const { handler } = await import('../../lambdas/aws/validation');
    const event = apiEvent('GET', '/v1/tools', null, null);
    const res = (await handler(event, context)) as APIGatewayProxyResult;
    expect(res.statusCode).toBe(401);
  });
});
