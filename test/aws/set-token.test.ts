import { Readable } from 'node:stream';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { isWhich, setToken } from '../../lambdas/ops/set-token';

const TOKEN = 'test-only-hubspot-token-0123456789';

describe('storing a HubSpot token', () => {
  const sm = mockClient(SecretsManagerClient);
  beforeEach(() => sm.reset());
  afterAll(() => sm.restore());

  const run = (input: string, which: 'read' | 'write' = 'read') => {
    const printed: string[] = [];
    const result = setToken({
      which,
      stage: 'prod',
      client: new SecretsManagerClient({ region: 'eu-west-1' }),
      input: Readable.from([input]),
      write: (t) => printed.push(t),
    });
    return { result, printed };
  };

  it('reads the token from standard input and stores it in the stage secret, printing no secret', async () => {
    sm.on(PutSecretValueCommand).resolves({ VersionId: 'v-2' });
    const { result, printed } = run(`${TOKEN}\n`, 'write');
    const message = await result;
    expect(sm.commandCalls(PutSecretValueCommand)[0]?.args[0].input).toEqual({
      SecretId: 'crm-airlock/prod/hubspot-write-token',
      SecretString: TOKEN,
    });
    expect(message).toBe(
      'Stored the write secret in crm-airlock/prod/hubspot-write-token (version v-2). The functions use it within 60 seconds.',
    );
    expect([message, ...printed].join('')).not.toContain(TOKEN);
  });

  it('stores the Slack signing secret in its own secret', async () => {
    sm.on(PutSecretValueCommand).resolves({ VersionId: 'v-1' });
    const printed: string[] = [];
    await setToken({
      which: 'slack-signing',
      stage: 'prod',
      client: new SecretsManagerClient({ region: 'eu-west-1' }),
      input: Readable.from(['0123456789abcdef0123456789abcdef\n']),
      write: (t) => printed.push(t),
    });
    expect(sm.commandCalls(PutSecretValueCommand)[0]?.args[0].input.SecretId).toBe(
      'crm-airlock/prod/slack-signing-secret',
    );
  });

  it.each([
    ['nothing', ''],
    ['two words', 'pat na1\n'],
    ['two lines', `${TOKEN}\nsecond\n`],
  ])('refuses %s and stores nothing', async (_what, input) => {
    await expect(run(input).result).rejects.toThrow(/not a token/);
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(0);
  });

  it('says what failed without repeating the token when Secrets Manager refuses', async () => {
    const denied = Object.assign(new Error(`denied for ${TOKEN}`), {
      name: 'AccessDeniedException',
    });
    sm.on(PutSecretValueCommand).rejects(denied);
    const err = (await run(TOKEN).result.catch((e: unknown) => e)) as Error;
    expect(err.message).toBe(
      'Secrets Manager refused to store the token in crm-airlock/prod/hubspot-read-token (AccessDeniedException). Nothing was changed.',
    );
  });

  /** A terminal: raw mode is switched on for the read and off after it. */
  const terminal = (chunks: string[]) => {
    const modes: boolean[] = [];
    const input = Object.assign(Readable.from(chunks), {
      isTTY: true,
      setRawMode: (raw: boolean) => modes.push(raw),
    });
    return { input, modes };
  };

  it('reads a typed token with echo off, honouring Backspace, and prompts for the secret it stores', async () => {
    sm.on(PutSecretValueCommand).resolves({ VersionId: 'v-3' });
    const { input, modes } = terminal([
      'test-only-hubspot-tokem',
      '\x7fn-0123456789\r',
      'not read',
    ]);
    const printed: string[] = [];
    await setToken({
      which: 'read',
      stage: 'prod',
      client: new SecretsManagerClient({ region: 'eu-west-1' }),
      input,
      write: (t) => printed.push(t),
    });
    expect(sm.commandCalls(PutSecretValueCommand)[0]?.args[0].input.SecretString).toBe(TOKEN);
    expect(modes).toEqual([true, false]);
    expect(printed).toEqual(['HubSpot read token (input hidden): ', '\n']);
  });

  it('stores nothing when Ctrl-C is typed, and gives the terminal back', async () => {
    const { input, modes } = terminal(['test-only', '\u0003']);
    await expect(
      setToken({
        which: 'read',
        stage: 'prod',
        client: new SecretsManagerClient({ region: 'eu-west-1' }),
        input,
        write: () => undefined,
      }),
    ).rejects.toThrow('cancelled');
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(0);
    expect(modes).toEqual([true, false]);
  });

  it('refuses a --which that is not one of the secrets, even a name every object has', () => {
    expect(isWhich('toString')).toBe(false);
    expect(isWhich('slack-signing')).toBe(true);
  });
});
