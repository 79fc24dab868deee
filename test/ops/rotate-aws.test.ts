import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { SecretsTokenProvider } from '../../lambdas/adapters/aws/secrets-token-provider';
import { HubSpotAdapter } from '../../lambdas/adapters/hubspot/hubspot-adapter';
import { randomIds } from '../../lambdas/adapters/ids';
import { jsonLogger } from '../../lambdas/adapters/json-logger';
import {
  createSlackInteractionsHandler,
  type SlackDeps,
} from '../../lambdas/aws/approval-flow-handlers';
import { createHubSpotCallHandler } from '../../lambdas/aws/hubspot-call-handler';
import type { OpsControl } from '../../lambdas/aws/ops/deps';
import { createOpsHandler } from '../../lambdas/aws/ops-handler';
import type { AuditRecord } from '../../lambdas/core/audit';
import { companySearch } from '../../lambdas/core/reads';
import {
  type Emulator,
  READ_TOKEN_SCOPES,
  startEmulator,
  tokenFingerprint,
  WRITE_TOKEN_SCOPES,
} from '../../lambdas/emulator/server';
import {
  type RotateAwsOptions,
  type RotationResult,
  rotateAws,
  rotationText,
} from '../../lambdas/ops/rotate';
import { invokePayload } from '../helpers/aws-stand-ins';
import { FAKE_SLACK_TOKEN } from '../helpers/fake-credentials';

const READ = 'test-aws-read-token-000001';
const WRITE = 'test-aws-write-token-000002';
const READ_AND_WRITE = 'test-aws-readwrite-token-000003';
const OTHER_BOT = ['xoxb', '1234567890', '1111111111', 'ZyXwVuTsRqPoNmLkJiHgFeDc'].join('-');
const REVOKED_BOT = ['xoxb', '1234567890', '2222222222', 'RevokedRevokedRevokedRev'].join('-');
const hex32 = () => randomBytes(16).toString('hex');
const OPERATOR = 'arn:aws:sts::123456789012:assumed-role/Responder/alice';

const SECRET_IDS = {
  read: 'crm-airlock/test/hubspot-read-token',
  write: 'crm-airlock/test/hubspot-write-token',
  'slack-bot': 'crm-airlock/test/slack-bot-token',
  'slack-signing': 'crm-airlock/test/slack-signing-secret',
} as const;

/** A stand-in for Slack's Web API: `auth.test` knows the bot tokens in `bots`. */
async function startSlack(
  bots: Set<string>,
): Promise<{ url: string; calls: string[]; server: Server }> {
  const calls: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      calls.push(req.url ?? '');
      const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
      const token = bearer ?? new URLSearchParams(Buffer.concat(chunks).toString()).get('token');
      const known = req.url === '/api/auth.test' && token !== null && bots.has(token ?? '');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          known
            ? {
                ok: true,
                url: 'https://airlock-test.slack.com/',
                team: 'Airlock Test',
                user: 'airlock',
                team_id: 'T0TEST',
                user_id: 'U0BOT',
                bot_id: 'B0BOT',
              }
            : { ok: false, error: 'invalid_auth' },
        ),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/`, calls, server };
}

function expectNoSecret(result: RotationResult, secrets: string[]) {
  const printed = `${JSON.stringify(result)}\n${rotationText(result)}`;
  for (const s of secrets) expect(printed).not.toContain(s);
}

describe('rotating a secret of the AWS stack', () => {
  const sm = mockClient(SecretsManagerClient);
  const lambda = mockClient(LambdaClient);
  let emulator: Emulator;
  let slack: Awaited<ReturnType<typeof startSlack>>;
  /** Secrets Manager's contents, by secret id. */
  const stored = new Map<string, string>();
  let hubspotCall: ReturnType<typeof createHubSpotCallHandler>;
  let ops: ReturnType<typeof createOpsHandler>;
  let slackInteractions: ReturnType<typeof createSlackInteractionsHandler>;
  /** The signing secret the Slack function sees: Secrets Manager's, or a stale copy. */
  let signingSource: 'secrets-manager' | { stale: string };
  const audit: AuditRecord[] = [];

  const region = { region: 'eu-west-1' };
  const secretOf = (id: string) => {
    const value = stored.get(id);
    if (value === undefined) return undefined;
    return value.startsWith('{') ? (JSON.parse(value) as { token: string }).token : value;
  };

  const rotate = (which: RotateAwsOptions['which'], token: string) =>
    rotateAws({
      which,
      token,
      secretId: SECRET_IDS[which],
      secrets: new SecretsManagerClient(region),
      lambda: new LambdaClient(region),
      hubspotBaseUrl: emulator.url,
      opsFunctionName: 'airlock-ops',
      by: OPERATOR,
      slackInteractionsFunctionName: 'airlock-slack-interactions',
      slackApiUrl: slack.url,
    });

  beforeAll(async () => {
    emulator = await startEmulator({
      tokens: {
        [READ]: [...READ_TOKEN_SCOPES],
        [WRITE]: [...WRITE_TOKEN_SCOPES],
        [READ_AND_WRITE]: [...READ_TOKEN_SCOPES, ...WRITE_TOKEN_SCOPES],
      },
    });
    slack = await startSlack(new Set([FAKE_SLACK_TOKEN, OTHER_BOT]));
  });
  afterAll(async () => {
    sm.restore();
    lambda.restore();
    await emulator.close();
    await new Promise((resolve) => slack.server.close(resolve));
  });

  beforeEach(() => {
    sm.reset();
    lambda.reset();
    emulator.reset();
    slack.calls.length = 0;
    audit.length = 0;
    stored.clear();
    signingSource = 'secrets-manager';
    sm.on(PutSecretValueCommand).callsFake((input: { SecretId: string; SecretString: string }) => {
      stored.set(input.SecretId, input.SecretString);
      return { VersionId: 'v-2' };
    });
    sm.on(GetSecretValueCommand).callsFake((input: { SecretId: string }) => {
      const value = stored.get(input.SecretId);
      if (value === undefined)
        throw Object.assign(new Error('no such secret'), { name: 'ResourceNotFoundException' });
      return { SecretString: value };
    });

    // The two functions the rotation invokes, as deployed: their real handlers, their caches.
    const readTokens = new SecretsTokenProvider({
      client: new SecretsManagerClient(region),
      secretIds: { read: SECRET_IDS.read },
    });
    hubspotCall = createHubSpotCallHandler({
      hubspot: new HubSpotAdapter({ tokens: readTokens, basePath: emulator.url }),
      tokens: readTokens,
      log: jsonLogger(() => undefined),
      now: Date.now,
    });
    const signing = new SecretsTokenProvider({
      client: new SecretsManagerClient(region),
      secretIds: { read: SECRET_IDS['slack-signing'] },
      label: 'Slack signing secret',
    });
    const never = async () => {
      throw new Error('a rotation check must not reach the approval logic');
    };
    slackInteractions = createSlackInteractionsHandler({
      approvals: { get: never } as unknown as SlackDeps['approvals'],
      control: async () => ({ contained: false, readOnly: false }),
      audit: { append: async (r) => void audit.push(r) },
      signingSecret: async (options) =>
        signingSource === 'secrets-manager' ? signing.get('read', options) : signingSource.stale,
      policy: { teamId: 'T0TEST', approverIds: ['U0ANNA'] },
      sendDecision: never,
      respond: never,
      clock: { now: () => Date.now() },
      ids: randomIds,
      log: jsonLogger(() => undefined),
    });
    // The ops function, as deployed, runs the probe; a switch command would fail here.
    const noSwitch = async (): Promise<never> => {
      throw new Error('a rotation must not touch the kill switch');
    };
    const control: OpsControl = {
      forced: { contained: false, readOnly: false },
      read: noSwitch,
      snapshot: noSwitch,
      stored: noSwitch,
      set: noSwitch,
      setStored: noSwitch,
    };
    ops = createOpsHandler({
      control,
      approvals: { listByStatus: never } as unknown as Parameters<
        typeof createOpsHandler
      >[0]['approvals'],
      audit: { append: async (r) => void audit.push(r) },
      sfn: { send: never },
      clock: { now: Date.now },
      log: jsonLogger(() => undefined),
      requestId: () => 'ops-rotation',
      lambda: new LambdaClient(region),
      hubspotCallFunctionName: 'airlock-hubspot-call',
    });
    lambda
      .on(InvokeCommand)
      .callsFake(async (input: { FunctionName: string; Payload: Uint8Array }) => {
        const event = JSON.parse(Buffer.from(input.Payload).toString('utf8'));
        const answer =
          input.FunctionName === 'airlock-ops'
            ? await ops(event)
            : input.FunctionName === 'airlock-hubspot-call'
              ? await hubspotCall(event, 10_000)
              : await slackInteractions(event as APIGatewayProxyEvent);
        return { StatusCode: 200, Payload: invokePayload(answer) };
      });
  });

  const invoked = () =>
    lambda.commandCalls(InvokeCommand).map((c) => ({
      name: c.args[0].input.FunctionName,
      payload: JSON.parse(Buffer.from(c.args[0].input.Payload as Uint8Array).toString('utf8')),
    }));

  it('read: checks with HubSpot, stores {"token"}, and the probe, run and audited by the ops function, confirms the new token', async () => {
    stored.set(SECRET_IDS.read, JSON.stringify({ token: READ }));
    // The function has the old token cached, as it would in a warm container.
    const warm = await hubspotCall({
      op: 'search',
      object: 'companies',
      request: companySearch({ action: 'search_company', domain: 'acme.com' }),
      deadline: Date.now() + 3000,
    });
    expect(warm.ok).toBe(true);
    const fresh = emulator.mintToken(READ);

    const result = await rotate('read', fresh);

    expect(result.ok).toBe(true);
    expect(result.steps.map((s) => [s.step, s.ok])).toEqual([
      ['check', true],
      ['store', true],
      ['pickup', true],
      ['confirm', true],
    ]);
    expect(sm.commandCalls(PutSecretValueCommand)[0]?.args[0].input).toEqual({
      SecretId: SECRET_IDS.read,
      SecretString: JSON.stringify({ token: fresh }),
    });
    // The CLI invokes only the ops function; the ops function invokes the probe.
    expect(invoked()).toEqual([
      { name: 'airlock-ops', payload: { command: 'probe_read_token', by: OPERATOR } },
      { name: 'airlock-hubspot-call', payload: { op: 'probe', deadline: expect.any(Number) } },
    ]);
    expect(emulator.requests.at(-1)?.tokenFingerprint).toBe(tokenFingerprint(fresh));
    expect(result.steps[3]?.detail).toMatch(/HubSpot accepted it \(HTTP 200\); no CRM data/);
    expect(audit).toEqual([
      expect.objectContaining({
        event: 'control',
        action: 'probe_read_token',
        caller: OPERATOR,
        structured_action: { ok: true, status: 200 },
      }),
    ]);
    expectNoSecret(result, [READ, fresh]);
  });

  it('read: says to deploy the current stack when the ops function does not know the probe', async () => {
    lambda.on(InvokeCommand, { FunctionName: 'airlock-ops' }).resolves({
      StatusCode: 200,
      Payload: invokePayload({
        ok: false,
        request_id: 'ops-old',
        error: { code: 'validation_failed', message: 'command: Invalid option' },
      }),
    });

    const result = await rotate('read', emulator.mintToken(READ));

    expect(result.ok).toBe(false);
    expect(result.steps.at(-1)).toMatchObject({ step: 'confirm', ok: false });
    expect(result.steps.at(-1)?.detail).toMatch(/deploy the current stack/);
    expect(invoked().map((i) => i.name)).toEqual(['airlock-ops']);
  });

  it('read: refuses a token that can also write before storing anything', async () => {
    const result = await rotate('read', READ_AND_WRITE);
    expect(result.ok).toBe(false);
    expect(result.steps.map((s) => s.step)).toEqual(['check']);
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(0);
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(0);
    expectNoSecret(result, [READ_AND_WRITE]);
  });

  it('write: stores, confirms the stored version is current and checks the new value, reading no secret and invoking no function', async () => {
    stored.set(SECRET_IDS.write, JSON.stringify({ token: WRITE }));
    const fresh = emulator.mintToken(WRITE);
    sm.on(DescribeSecretCommand).resolves({
      VersionIdsToStages: { 'v-1': ['AWSPREVIOUS'], 'v-2': ['AWSCURRENT'] },
    });

    const result = await rotate('write', fresh);

    expect(result.ok).toBe(true);
    expect(secretOf(SECRET_IDS.write)).toBe(fresh);
    expect(sm.commandCalls(DescribeSecretCommand)[0]?.args[0].input).toEqual({
      SecretId: SECRET_IDS.write,
    });
    // The write secret's policy refuses its value to the operator: the CLI never asks for it.
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(0);
    expect(result.steps.find((s) => s.step === 'confirm')?.detail).toMatch(
      /AWSCURRENT.*crm\.objects\.contacts\.write/,
    );
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(0);
    expectNoSecret(result, [WRITE, fresh]);
  });

  it('write: fails the confirmation when another version became current meanwhile', async () => {
    const fresh = emulator.mintToken(WRITE);
    sm.on(DescribeSecretCommand).resolves({
      VersionIdsToStages: { 'v-2': ['AWSPREVIOUS'], 'v-3': ['AWSCURRENT'] },
    });
    const result = await rotate('write', fresh);
    expect(result.ok).toBe(false);
    expect(result.steps.at(-1)).toMatchObject({ step: 'confirm', ok: false });
    expect(result.steps.at(-1)?.detail).toMatch(/not the current one/);
    expectNoSecret(result, [WRITE, fresh]);
  });

  it("slack-bot: Slack's auth.test accepts it before and after it is stored", async () => {
    stored.set(SECRET_IDS['slack-bot'], JSON.stringify({ token: FAKE_SLACK_TOKEN }));

    const result = await rotate('slack-bot', OTHER_BOT);

    expect(result.ok).toBe(true);
    expect(secretOf(SECRET_IDS['slack-bot'])).toBe(OTHER_BOT);
    expect(slack.calls).toEqual(['/api/auth.test', '/api/auth.test']);
    expect(result.steps[0]?.detail).toMatch(/bot B0BOT in workspace T0TEST/);
    expectNoSecret(result, [FAKE_SLACK_TOKEN, OTHER_BOT]);
  });

  it('slack-bot: refuses a token Slack does not accept, storing nothing', async () => {
    const result = await rotate('slack-bot', REVOKED_BOT);
    expect(result.ok).toBe(false);
    expect(result.message).toMatch(/Slack refused the bot token \(invalid_auth\)/);
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(0);
    expectNoSecret(result, [REVOKED_BOT]);
  });

  it('slack-signing: the function, its old secret cached, accepts a request signed with the new one', async () => {
    const old = hex32();
    const fresh = hex32();
    stored.set(SECRET_IDS['slack-signing'], JSON.stringify({ token: old }));
    // Warm the function's cache with the old secret: a request signed with it passes.
    const body = 'payload=%7B%7D';
    const ts = String(Math.floor(Date.now() / 1000));
    const warm = await slackInteractions({
      body,
      headers: {
        'X-Slack-Request-Timestamp': ts,
        'X-Slack-Signature': `v0=${createHmac('sha256', old).update(`v0:${ts}:${body}`).digest('hex')}`,
      },
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEvent);
    expect(warm.statusCode).toBe(400);

    const result = await rotate('slack-signing', fresh);

    expect(result.ok).toBe(true);
    expect(secretOf(SECRET_IDS['slack-signing'])).toBe(fresh);
    expect(invoked().map((i) => i.name)).toEqual(['airlock-slack-interactions']);
    const event = invoked()[0]?.payload as APIGatewayProxyEvent;
    expect(event.body).not.toContain(fresh);
    expect(result.steps.at(-1)?.detail).toMatch(
      /accepted a request signed with the new secret \(400/,
    );
    expect(audit.at(-1)).toMatchObject({ reason: 'validation_failed', response_status: 400 });
    expectNoSecret(result, [old, fresh]);
  });

  it('slack-signing: a function that still checks with the old secret answers 401, and the rotation says so', async () => {
    const old = hex32();
    const fresh = hex32();
    signingSource = { stale: old };

    const result = await rotate('slack-signing', fresh);

    expect(result.ok).toBe(false);
    expect(result.steps.map((s) => [s.step, s.ok])).toEqual([
      ['check', true],
      ['store', true],
      ['pickup', true],
      ['confirm', false],
    ]);
    expect(result.steps.at(-1)?.detail).toMatch(/\(401\): it does not see the new secret yet/);
    expect(result.message).toMatch(/do not revoke the old value/);
    expectNoSecret(result, [old, fresh]);
  });

  it('slack-signing: refuses a value that is not 32 hexadecimal characters', async () => {
    const result = await rotate('slack-signing', `${hex32()}zz`);
    expect(result.ok).toBe(false);
    expect(result.message).toMatch(/32 hexadecimal characters/);
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(0);
  });

  it('stores nothing and says so when Secrets Manager refuses, repeating no secret from its error', async () => {
    stored.set(SECRET_IDS.read, JSON.stringify({ token: READ }));
    const fresh = emulator.mintToken(READ);
    sm.on(PutSecretValueCommand).rejects(
      Object.assign(new Error(`User is not authorized for ${fresh}`), {
        name: 'AccessDeniedException',
      }),
    );

    const result = await rotate('read', fresh);

    expect(result.ok).toBe(false);
    expect(result.steps.map((s) => [s.step, s.ok])).toEqual([
      ['check', true],
      ['store', false],
    ]);
    expect(result.steps[1]?.detail).toBe(
      `Secrets Manager refused to store the new read token in ${SECRET_IDS.read} (AccessDeniedException).`,
    );
    expect(result.message).toMatch(/Nothing was changed/);
    expect(secretOf(SECRET_IDS.read)).toBe(READ);
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(0);
    expectNoSecret(result, [READ, fresh]);
  });
});
