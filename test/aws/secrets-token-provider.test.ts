import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { SecretsTokenProvider } from '../../lambdas/adapters/aws/secrets-token-provider';
import { AirlockError } from '../../lambdas/core/errors';

const sm = mockClient(SecretsManagerClient);
const READ_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:hubspot-read-AbCdEf';

describe('HubSpot tokens from Secrets Manager', () => {
  let now = 0;
  const provider = () =>
    new SecretsTokenProvider({
      client: new SecretsManagerClient({ region: 'eu-west-1' }),
      secretIds: { read: READ_ARN },
      maxAgeMs: 60_000,
      now: () => now,
    });
  beforeEach(() => {
    sm.reset();
    now = 1_000_000;
  });

  it('fetches once and serves from the cache within the TTL', async () => {
    sm.on(GetSecretValueCommand, { SecretId: READ_ARN }).resolves({ SecretString: 'pat-token-1' });
    const p = provider();
    expect(await p.get('read')).toBe('pat-token-1');
    now += 59_000;
    expect(await p.get('read')).toBe('pat-token-1');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('fetches again once the TTL has passed, picking up a rotated token', async () => {
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: 'old' })
      .resolves({ SecretString: 'new' });
    const p = provider();
    expect(await p.get('read')).toBe('old');
    now += 60_000;
    expect(await p.get('read')).toBe('new');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('refetches at once when asked to refresh (after a HubSpot 401)', async () => {
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: 'old' })
      .resolves({ SecretString: 'new' });
    const p = provider();
    await p.get('read');
    expect(await p.get('read', { refresh: true })).toBe('new');
  });

  it('accepts JSON {"token": ...} and trims', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: ' {"token": "pat-json"} ' });
    expect(await provider().get('read')).toBe('pat-json');
  });

  it.each([
    [
      'a Secrets Manager error',
      () => sm.on(GetSecretValueCommand).rejects(new Error('AccessDenied')),
    ],
    ['an empty secret', () => sm.on(GetSecretValueCommand).resolves({ SecretString: '' })],
    [
      'a value that is not a token',
      () => sm.on(GetSecretValueCommand).resolves({ SecretString: 'two words' }),
    ],
  ])('fails closed with 503 secrets_unavailable on %s', async (_what, arrange) => {
    arrange();
    const err = await provider()
      .get('read')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AirlockError);
    expect((err as AirlockError).code).toBe('secrets_unavailable');
    expect((err as AirlockError).status).toBe(503);
    expect((err as AirlockError).message).not.toContain('AccessDenied');
  });

  it('does not keep serving a cached token after a failed refresh', async () => {
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: 'old' })
      .rejects(new Error('throttled'));
    const p = provider();
    await p.get('read');
    await expect(p.get('read', { refresh: true })).rejects.toMatchObject({
      code: 'secrets_unavailable',
    });
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('holds no write token in a function given only the read secret', async () => {
    await expect(provider().get('write')).rejects.toMatchObject({ code: 'secrets_unavailable' });
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(0);
  });
});
