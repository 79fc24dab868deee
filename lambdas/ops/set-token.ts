/**
 * `npm run token:set -- --which read|write|slack-bot|slack-signing [--stage dev] [--secret-id ID]`:
 * stores a HubSpot token, the Slack bot token or the Slack signing secret in the stack's secret. The token is read from standard input (a pipe, or the terminal
 * with echo off), never from an argument (arguments show in `ps` and shell history), and never
 * printed. The functions pick it up within a minute (their cache TTL).
 */
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { readTokenLine, type SecretInput } from './secret-input';

export interface SetTokenOptions {
  which: Which;
  stage: string;
  secretId?: string;
  client: SecretsManagerClient;
  input: SecretInput;
  write: (text: string) => void;
}

const SECRET_NAMES = {
  read: 'hubspot-read-token',
  write: 'hubspot-write-token',
  'slack-bot': 'slack-bot-token',
  'slack-signing': 'slack-signing-secret',
} as const;
export type Which = keyof typeof SECRET_NAMES;

/** Whether `value` names one of the stack's secrets (own keys only: `toString` is not one). */
export function isWhich(value: string | undefined): value is Which {
  return value !== undefined && Object.hasOwn(SECRET_NAMES, value);
}

/** The secret's name for a stage (the stack names them so); the CLI may pass the ARN instead. */
export function secretIdFor(stage: string, which: Which): string {
  return `crm-airlock/${stage}/${SECRET_NAMES[which]}`;
}

const PROMPTS: Record<Which, string> = {
  read: 'HubSpot read token (input hidden): ',
  write: 'HubSpot write token (input hidden): ',
  'slack-bot': 'Slack bot token (input hidden): ',
  'slack-signing': 'Slack signing secret (input hidden): ',
};

/** Reads the token from `input`, stores it, and answers a message that names no secret. */
export async function setToken(options: SetTokenOptions): Promise<string> {
  const token = await readTokenLine(options.input, options.write, PROMPTS[options.which]);
  const secretId = options.secretId ?? secretIdFor(options.stage, options.which);
  let versionId: string | undefined;
  try {
    const out = await options.client.send(
      new PutSecretValueCommand({ SecretId: secretId, SecretString: token }),
    );
    versionId = out.VersionId;
  } catch (err) {
    const name = err instanceof Error ? err.name.replace(/[^\w.-]/g, '').slice(0, 64) : 'Error';
    throw new Error(
      `Secrets Manager refused to store the token in ${secretId} (${name}). Nothing was changed.`,
    );
  }
  return `Stored the ${options.which} secret in ${secretId} (version ${versionId ?? 'unknown'}). The functions use it within 60 seconds.`;
}

function parseArgs(argv: string[]): { which: Which; stage: string; secretId?: string } {
  const get = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const which = get('--which');
  if (!isWhich(which)) {
    throw new Error(
      'usage: npm run token:set -- --which read|write|slack-bot|slack-signing [--stage dev] [--secret-id ID]',
    );
  }
  return { which, stage: get('--stage') ?? 'dev', secretId: get('--secret-id') };
}

if (require.main === module) {
  const write = (t: string) => process.stderr.write(t);
  (async () => {
    const args = parseArgs(process.argv.slice(2));
    const message = await setToken({
      ...args,
      client: new SecretsManagerClient({}),
      input: process.stdin,
      write,
    });
    process.stdout.write(`${message}\n`);
  })().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
