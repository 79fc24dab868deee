/**
 * `npm run token:set -- --which read|write|slack-bot|slack-signing [--stage dev] [--secret-id ID]`:
 * stores a HubSpot token, the Slack bot token or the Slack signing secret
 * token in the stack's secret. The token is read from standard input (a pipe, or the terminal
 * with echo off), never from an argument (arguments show in `ps` and shell history), and never
 * printed. The functions pick it up within a minute (their cache TTL).
 */
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

export interface SetTokenOptions {
  which: Which;
  stage: string;
  secretId?: string;
  client: SecretsManagerClient;
  input: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  write: (text: string) => void;
}

const SECRET_NAMES = {
  read: 'hubspot-read-token',
  write: 'hubspot-write-token',
  'slack-bot': 'slack-bot-token',
  'slack-signing': 'slack-signing-secret',
} as const;
export type Which = keyof typeof SECRET_NAMES;

export function secretIdFor(stage: string, which: Which): string {
  return `crm-airlock/${stage}/${SECRET_NAMES[which]}`;
}

const CTRL_C = String.fromCharCode(3);

/** Reads one line; on a terminal, with echo off. */
async function readSecretLine(
  input: SetTokenOptions['input'],
  write: (t: string) => void,
): Promise<string> {
  const tty = input.isTTY === true && typeof input.setRawMode === 'function';
  if (tty) {
    write('HubSpot token (input hidden): ');
    input.setRawMode?.(true);
  }
  let text = '';
  try {
    for await (const chunk of input) {
      text += chunk.toString();
      // Enter, or Ctrl-C (ETX), ends a line typed at the terminal.
      if (tty && (/[\r\n]/.test(text) || text.includes(CTRL_C))) break;
    }
  } finally {
    if (tty) {
      input.setRawMode?.(false);
      write('\n');
    }
  }
  if (text.includes(CTRL_C)) throw new Error('cancelled');
  return text.replace(/\r?\n$/, '').replace(/\r$/, '');
}

export async function setToken(options: SetTokenOptions): Promise<string> {
  const token = (await readSecretLine(options.input, options.write)).trim();
  if (!/^[\x21-\x7e]{8,1024}$/.test(token)) {
    throw new Error(
      'That is not a token: expected one line of 8 to 1024 printable characters without spaces. Nothing was stored.',
    );
  }
  const secretId = options.secretId ?? secretIdFor(options.stage, options.which);
  let versionId: string | undefined;
  try {
    const out = await options.client.send(
      new PutSecretValueCommand({ SecretId: secretId, SecretString: token }),
    );
    versionId = out.VersionId;
  } catch (err) {
    const name = err instanceof Error ? err.name : 'Error';
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
  if (!which || !(which in SECRET_NAMES)) {
    throw new Error(
      'usage: npm run token:set -- --which read|write|slack-bot|slack-signing [--stage dev] [--secret-id ID]',
    );
  }
  return { which: which as Which, stage: get('--stage') ?? 'dev', secretId: get('--secret-id') };
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
