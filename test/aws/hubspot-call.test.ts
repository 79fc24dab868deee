import { LambdaClient } from '@aws-sdk/client-lambda';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { LambdaHubSpot } from '../../lambdas/adapters/aws/lambda-hubspot';
import { SecretsTokenProvider } from '../../lambdas/adapters/aws/secrets-token-provider';
import { HubSpotAdapter } from '../../lambdas/adapters/hubspot/hubspot-adapter';
import { jsonLogger } from '../../lambdas/adapters/json-logger';
import { createHubSpotCallHandler } from '../../lambdas/aws/hubspot-call-handler';
import { companySearch } from '../../lambdas/core/reads';
import { type Emulator, startEmulator, tokenFingerprint } from '../../lambdas/emulator/server';

const OLD = 'pat-na1-old-token-000000';
const NEW = 'pat-na1-new-token-111111';
const READ_SCOPES = ['crm.objects.contacts.read', 'crm.objects.companies.read', 'sales-email-read'];

describe('the HubSpot-call function', () => {
  const sm = mockClient(SecretsManagerClient);
  let emulator: Emulator;
  const logs: string[] = [];
  const handler = () => {
    const tokens = new SecretsTokenProvider({
      client: new SecretsManagerClient({ region: 'eu-west-1' }),
      secretIds: { read: 'hubspot-read' },
    });
    return createHubSpotCallHandler({
      hubspot: new HubSpotAdapter({ tokens, basePath: emulator.url }),
      tokens,
      log: jsonLogger((l) => logs.push(l)),
      now: Date.now,
    });
  };
  const search = (extra: Record<string, unknown> = {}) => ({
    op: 'search',
    object: 'companies',
    request: companySearch({ action: 'search_company', domain: 'acme.com' }),
    deadline: Date.now() + 3000,
    ...extra,
  });

  beforeAll(async () => {
    emulator = await startEmulator({ tokens: { [NEW]: READ_SCOPES } });
  });
  beforeEach(() => {
    sm.reset();
    emulator.reset();
    emulator.setTokens({ [NEW]: READ_SCOPES });
  });
  afterAll(async () => {
    sm.restore();
    await emulator.close();
  });

  it('answers the allowlisted fields HubSpot returned, with the call recorded', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: NEW });
    const result = await handler()(search());
    expect(result.ok).toBe(true);
    expect(result.calls).toEqual([
      expect.objectContaining({
        endpoint: 'POST /crm/v3/objects/companies/search',
        status: 200,
        attempts: 1,
      }),
    ]);
  });

  it('refetches the token once after a HubSpot 401 and succeeds with the rotated one', async () => {
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: OLD })
      .resolves({ SecretString: NEW });
    const result = await handler()(search());
    expect(result.ok).toBe(true);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    expect(emulator.requests.map((r) => r.status)).toEqual([401, 200]);
  });

  it('answers hubspot_unauthorized when the refetched token is refused too', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: OLD });
    const result = await handler()(search());
    expect(result).toMatchObject({
      ok: false,
      error: { code: 'hubspot_unauthorized', hubspotStatus: 401 },
    });
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('fails closed without calling HubSpot when Secrets Manager fails', async () => {
    sm.on(GetSecretValueCommand).rejects(new Error('ServiceUnavailable'));
    const result = await handler()(search());
    expect(result).toMatchObject({ ok: false, error: { code: 'secrets_unavailable' } });
    expect(emulator.requests).toHaveLength(0);
  });

  it.each([
    ['a write', { op: 'create_note' }],
    ['another object', { object: 'deals' }],
    [
      'a bulk limit',
      {
        request: { ...companySearch({ action: 'search_company', domain: 'acme.com' }), limit: 100 },
      },
    ],
    [
      'a property outside the allowlist',
      {
        request: {
          ...companySearch({ action: 'search_company', domain: 'acme.com' }),
          properties: ['annualrevenue'],
        },
      },
    ],
    [
      'a filter outside the allowlist',
      {
        request: {
          filterGroups: [{ filters: [{ propertyName: 'phone', operator: 'EQ', value: '555' }] }],
          properties: ['name'],
          limit: 1,
        },
      },
    ],
  ])('refuses %s without calling HubSpot or reading the secret', async (_what, extra) => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: NEW });
    const result = await handler()(search(extra));
    expect(result).toMatchObject({ ok: false, error: { code: 'validation_failed' } });
    expect(emulator.requests).toHaveLength(0);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(0);
  });

  it('never logs the token', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: OLD });
    await handler()(search());
    expect(logs.join('\n')).not.toContain('pat-na1');
  });
});

describe("the HubSpot-call function's probe (after a read-token rotation)", () => {
  const sm = mockClient(SecretsManagerClient);
  let emulator: Emulator;
  const probe = () => ({ op: 'probe', deadline: Date.now() + 3000 });
  const build = () => {
    const tokens = new SecretsTokenProvider({
      client: new SecretsManagerClient({ region: 'eu-west-1' }),
      secretIds: { read: 'hubspot-read' },
    });
    return createHubSpotCallHandler({
      hubspot: new HubSpotAdapter({ tokens, basePath: emulator.url }),
      tokens,
      log: jsonLogger(() => undefined),
      now: Date.now,
    });
  };

  beforeAll(async () => {
    emulator = await startEmulator({ tokens: { [OLD]: READ_SCOPES, [NEW]: READ_SCOPES } });
  });
  beforeEach(() => {
    sm.reset();
    emulator.reset();
  });
  afterAll(async () => {
    sm.restore();
    await emulator.close();
  });

  it('fetches the token past its cache and answers only whether HubSpot accepted it', async () => {
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: OLD })
      .resolves({ SecretString: NEW });
    const run = build();
    const warm = await run({
      op: 'search',
      object: 'companies',
      request: companySearch({ action: 'search_company', domain: 'acme.com' }),
      deadline: Date.now() + 3000,
    });
    expect(warm.ok).toBe(true);

    const result = await run(probe());

    expect(result).toEqual({
      ok: true,
      status: 200,
      calls: [expect.objectContaining({ endpoint: 'POST /crm/v3/objects/contacts/search' })],
    });
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    expect(emulator.requests.at(-1)?.tokenFingerprint).toBe(tokenFingerprint(NEW));
  });

  it('returns no CRM data, even from an account full of contacts', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: NEW });
    const result = await build()(probe());
    expect(result.ok).toBe(true);
    expect(Object.keys(result).sort()).toEqual(['calls', 'ok', 'status']);
    expect(JSON.stringify(result)).not.toMatch(/@|acme|firstname|email/i);
  });

  it('answers HubSpot refusing a revoked token as 401, without a token in the answer', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: 'revoked-token-000000' });
    const result = await build()(probe());
    expect(result).toMatchObject({
      ok: false,
      status: 401,
      error: { code: 'hubspot_unauthorized' },
    });
    expect(JSON.stringify(result)).not.toContain('revoked-token');
  });

  it('fails closed without calling HubSpot when Secrets Manager fails', async () => {
    sm.on(GetSecretValueCommand).rejects(new Error('ServiceUnavailable'));
    const result = await build()(probe());
    expect(result).toMatchObject({
      ok: false,
      status: null,
      error: { code: 'secrets_unavailable' },
    });
    expect(emulator.requests).toHaveLength(0);
  });

  it('refuses a probe with anything more than a deadline', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: NEW });
    const result = await build()({ ...probe(), object: 'companies' });
    expect(result).toMatchObject({ ok: false, error: { code: 'validation_failed' } });
    expect(emulator.requests).toHaveLength(0);
  });
});

describe('the validation function', () => {
  it('has no write path: creating a note through it is refused without invoking anything', async () => {
    const lambda = mockClient(LambdaClient);
    try {
      const port = new LambdaHubSpot(new LambdaClient({ region: 'eu-west-1' }), 'hubspot-call');
      await expect(
        port.createNote(
          { body: 'x', timestamp: new Date().toISOString(), target: { type: 'contact', id: '1' } },
          { deadline: Date.now() + 1000, calls: [] },
        ),
      ).rejects.toMatchObject({ code: 'internal_error' });
      expect(lambda.calls()).toHaveLength(0);
    } finally {
      lambda.restore();
    }
  });
});
