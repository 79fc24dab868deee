/**
 * The environment contract between the CDK app and the functions: every function the stack
 * synthesizes has its environment parsed with that function's own schema
 * (`FUNCTION_ENVIRONMENTS` in lambdas/config/aws.ts, keyed by the handler entry), in the default
 * deployment (Slack not set up) and in one with Slack configured. CloudFormation references are
 * resolved to placeholder values of the shape the function receives at run time (a table's
 * name, a secret's ARN, ...), so a schema check on the value's form also runs.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { type CfnElement, Stack } from 'aws-cdk-lib';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import * as awsConfig from '../../lambdas/config/aws';
import { FUNCTION_ENVIRONMENTS, type FunctionEntry } from '../../lambdas/config/aws';
import { AirlockFunction } from '../../lib/function-factory';
import { ROOT, type Synthesized, synthAirlock } from '../cdk/helpers';

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';

/** What a `Ref` to a resource of each type resolves to at deploy time. */
const REF_OF: Record<string, (id: string) => string> = {
  'AWS::DynamoDB::Table': (id) => `CrmAirlock-dev-${id}-1A2B3C4D5E6F`,
  'AWS::S3::Bucket': (id) => `crmairlock-dev-${id.toLowerCase()}-1a2b3c4d5e6f`,
  'AWS::Lambda::Function': (id) => `CrmAirlock-dev-${id}-AbCdEf123456`,
  'AWS::SecretsManager::Secret': (id) =>
    `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${id}-AbCdEf`,
  'AWS::StepFunctions::StateMachine': (id) =>
    `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${id}-AbCdEf123456`,
};

/** What `Fn::GetAtt [id, 'Arn']` resolves to, by resource type. */
const ARN_OF: Record<string, (id: string) => string> = {
  'AWS::DynamoDB::Table': (id) => `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${id}`,
  'AWS::S3::Bucket': (id) => `arn:aws:s3:::${id.toLowerCase()}`,
  'AWS::Lambda::Function': (id) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${id}`,
};

const PSEUDO: Record<string, string> = {
  'AWS::Region': REGION,
  'AWS::AccountId': ACCOUNT,
  'AWS::Partition': 'aws',
  'AWS::URLSuffix': 'amazonaws.com',
};

/** A template value as the function sees it; an intrinsic this does not know fails the test. */
function resolve(value: unknown, resources: Synthesized['json']['Resources']): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const [[fn, arg]] = Object.entries(value) as [[string, unknown]];
    if (fn === 'Ref' && typeof arg === 'string') {
      if (PSEUDO[arg]) return PSEUDO[arg];
      const type = resources[arg]?.Type ?? '(missing)';
      const ref = REF_OF[type];
      if (!ref) throw new Error(`no placeholder for a Ref to ${arg} (${type})`);
      return ref(arg);
    }
    if (fn === 'Fn::GetAtt' && Array.isArray(arg) && arg[1] === 'Arn') {
      const type = resources[String(arg[0])]?.Type ?? '(missing)';
      const arn = ARN_OF[type];
      if (!arn) throw new Error(`no placeholder for the Arn of ${arg[0]} (${type})`);
      return arn(String(arg[0]));
    }
    if (fn === 'Fn::Join' && Array.isArray(arg)) {
      const [sep, parts] = arg as [string, unknown[]];
      return parts.map((p) => resolve(p, resources)).join(sep);
    }
  }
  throw new Error(`no placeholder for ${JSON.stringify(value)}`);
}

interface FoundFunction {
  logicalId: string;
  entry: FunctionEntry | undefined;
  variables: Record<string, string>;
}

/** Every Lambda function of the template, with the entry of the construct that made it. */
function functionsOf(s: Synthesized): FoundFunction[] {
  const stack = Stack.of(s.stack);
  const entryById = new Map<string, FunctionEntry>();
  for (const c of stack.node.findAll()) {
    if (c instanceof AirlockFunction) {
      entryById.set(stack.getLogicalId(c.function.node.defaultChild as CfnElement), c.entry);
    }
  }
  return Object.entries(s.json.Resources)
    .filter(([, r]) => r.Type === 'AWS::Lambda::Function')
    .map(([logicalId, r]) => {
      const raw =
        (r.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)
          ?.Variables ?? {};
      const variables = Object.fromEntries(
        Object.entries(raw).map(([k, v]) => [k, resolve(v, s.json.Resources)]),
      );
      return { logicalId, entry: entryById.get(logicalId), variables };
    });
}

/** The schema's problems with an environment, one line each (empty when it parses). */
function problems(entry: FunctionEntry, variables: Record<string, string>): string[] {
  const parsed = FUNCTION_ENVIRONMENTS[entry].safeParse(variables);
  return parsed.success
    ? []
    : parsed.error.issues.map((i) => `${entry}: ${i.path.join('.')}: ${i.message}`);
}

const SLACK = {
  approval: {
    slackChannelId: 'C0123456789',
    slackTeamId: 'T0123456789',
    approverSlackIds: ['U0123456789', 'U0987654321'],
    requiredApprovals: { create_note: 2 },
  },
};

const deployments: [string, () => Synthesized][] = [
  ['the default deployment (Slack not set up)', () => synthAirlock()],
  ['a deployment with Slack configured', () => synthAirlock(SLACK)],
];

describe.each(deployments)('in %s', (_name, synth) => {
  let found: FoundFunction[];
  beforeAll(() => {
    found = functionsOf(synth());
  });

  it('every function is one the schemas know, and every schema has its function', () => {
    expect(found.length).toBeGreaterThan(0);
    expect(found.filter((f) => f.entry === undefined).map((f) => f.logicalId)).toEqual([]);
    expect(new Set(found.map((f) => f.entry))).toEqual(new Set(Object.keys(FUNCTION_ENVIRONMENTS)));
  });

  it("every function's environment parses with its own schema", () => {
    expect(found.flatMap((f) => problems(f.entry as FunctionEntry, f.variables))).toEqual([]);
  });

  it('the check can fail: a required variable taken away is named', () => {
    const validation = found.find((f) => f.entry === 'lambdas/aws/validation.ts');
    const { APPROVAL_TABLE_NAME: _dropped, ...rest } = validation?.variables ?? {};
    expect(problems('lambdas/aws/validation.ts', rest)).toEqual([
      'lambdas/aws/validation.ts: APPROVAL_TABLE_NAME: Invalid input: expected string, received undefined',
    ]);
  });
});

describe('the Slack functions in the default deployment', () => {
  it('get empty Slack ids, which their schemas accept (they start, and refuse what needs Slack)', () => {
    const found = functionsOf(synthAirlock());
    const env = (entry: FunctionEntry) => found.find((f) => f.entry === entry)?.variables;
    expect(env('lambdas/aws/approval-notify.ts')?.SLACK_CHANNEL_ID).toBe('');
    expect(env('lambdas/aws/slack-interactions.ts')?.SLACK_TEAM_ID).toBe('');
    // A schema that insisted on a channel would throw at start-up in this deployment.
    const strict = awsConfig.approvalNotifyEnv.extend({
      SLACK_CHANNEL_ID: awsConfig.approvalNotifyEnv.shape.HUBSPOT_CALL_FUNCTION_NAME,
    });
    expect(strict.safeParse(env('lambdas/aws/approval-notify.ts')).success).toBe(false);
    expect(
      awsConfig.approvalNotifyEnv.safeParse(env('lambdas/aws/approval-notify.ts')).success,
    ).toBe(true);
  });
});

describe('the entry files', () => {
  it.each(Object.keys(FUNCTION_ENVIRONMENTS) as FunctionEntry[])(
    '%s parses its environment with its own schema',
    (entry) => {
      const [name] = Object.entries(awsConfig).find(
        ([, v]) => v === FUNCTION_ENVIRONMENTS[entry],
      ) as [string, unknown];
      const text = readFileSync(path.join(ROOT, entry), 'utf8');
      expect(text).toContain(`loadEnv(${name})`);
    },
  );
});

describe('the Slack functions start in the default deployment and refuse clearly', () => {
  const sm = mockClient(SecretsManagerClient);
  const s3 = mockClient(S3Client);
  const dynamo = mockClient(DynamoDBDocumentClient);
  const saved = { ...process.env };
  let env: (entry: FunctionEntry) => Record<string, string>;
  beforeAll(() => {
    const found = functionsOf(synthAirlock());
    env = (entry) => found.find((f) => f.entry === entry)?.variables ?? {};
  });
  afterAll(() => {
    process.env = saved;
    sm.restore();
    s3.restore();
    dynamo.restore();
  });

  it('the Notify task fails with an error that says Slack is not configured', async () => {
    process.env = { ...saved, AWS_REGION: REGION, ...env('lambdas/aws/approval-notify.ts') };
    const { handler } = await import('../../lambdas/aws/approval-notify');
    await expect(
      handler({ approval_id: 'apr_1', action_hash: 'h', task_token: 't' }, {} as never),
    ).rejects.toMatchObject({
      name: 'Airlock.SlackNotConfigured',
      message: expect.stringContaining('SLACK_CHANNEL_ID is empty'),
    });
  });

  it('the Slack callback refuses a signed click (no workspace accepted) with an audit record', async () => {
    const secret = 'signing-secret-of-the-env-contract-test';
    sm.on(GetSecretValueCommand).resolves({ SecretString: secret });
    s3.on(PutObjectCommand).resolves({});
    dynamo.on(GetCommand).resolves({});
    process.env = { ...saved, AWS_REGION: REGION, ...env('lambdas/aws/slack-interactions.ts') };
    const { handler } = await import('../../lambdas/aws/slack-interactions');
    const body = `payload=${encodeURIComponent(
      JSON.stringify({
        type: 'block_actions',
        team: { id: 'T0123456789' },
        user: { id: 'U0123456789', username: 'u' },
        actions: [{ action_id: 'airlock_approve', value: 'apr_1' }],
      }),
    )}`;
    const ts = String(Math.floor(Date.now() / 1000));
    const mac = createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex');
    const res = (await handler(
      {
        httpMethod: 'POST',
        resource: '/slack/interactions',
        headers: { 'X-Slack-Request-Timestamp': ts, 'X-Slack-Signature': `v0=${mac}` },
        body,
        isBase64Encoded: false,
      } as unknown as APIGatewayProxyEvent,
      {} as never,
    )) as APIGatewayProxyResult;
    expect(res.statusCode).toBe(200);
    const record = JSON.parse(String(s3.commandCalls(PutObjectCommand)[0]?.args[0].input.Body));
    expect(record).toMatchObject({ outcome: 'rejected', reason: 'unauthorized' });
  });
});
