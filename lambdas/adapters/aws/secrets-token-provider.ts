import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AirlockError } from '../../core/errors';
import type { TokenProvider } from '../../core/ports';

export interface SecretsTokenProviderOptions {
  client: SecretsManagerClient;
  /** Secret ARN or name per token kind; a function without the write secret has no write token. */
  secretIds: { read?: string; write?: string };
  /** How long a fetched token is used before it is fetched again. @default 60000 */
  maxAgeMs?: number;
  now?: () => number;
  /** What the secret is, for messages. @default 'HubSpot credential' */
  label?: string;
}

/**
 * HubSpot tokens from Secrets Manager, cached for at most `maxAgeMs` (so a rotated token is
 * picked up within a minute), refetched at once when the caller asks (after a HubSpot 401).
 * Any failure answers `secrets_unavailable` (503): without a token, no HubSpot call is made.
 */
export class SecretsTokenProvider implements TokenProvider {
  private readonly cache = new Map<string, { token: string; at: number }>();
  private readonly maxAgeMs: number;
  private readonly now: () => number;

  constructor(private readonly options: SecretsTokenProviderOptions) {
    this.maxAgeMs = options.maxAgeMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  async get(kind: 'read' | 'write', options: { refresh?: boolean } = {}): Promise<string> {
    const secretId = this.options.secretIds[kind];
    if (!secretId) {
      throw new AirlockError('secrets_unavailable', `This function holds no ${kind} token.`);
    }
    const cached = this.cache.get(secretId);
    if (cached && !options.refresh && this.now() - cached.at < this.maxAgeMs) return cached.token;
    let value: string | undefined;
    try {
      const out = await this.options.client.send(new GetSecretValueCommand({ SecretId: secretId }));
      value = out.SecretString;
    } catch (cause) {
      this.cache.delete(secretId);
      throw new AirlockError(
        'secrets_unavailable',
        `The ${this.options.label ?? 'HubSpot credential'} could not be read; nothing was sent. Retry later.`,
        { cause },
      );
    }
    const token = parseToken(value);
    if (!token) {
      throw new AirlockError(
        'secrets_unavailable',
        `The ${this.options.label ?? 'HubSpot credential'} is not set; the operator must store it. Nothing was sent.`,
      );
    }
    this.cache.set(secretId, { token, at: this.now() });
    return token;
  }
}

/** The secret holds the token itself, or JSON `{"token": "..."}`. */
function parseToken(value: string | undefined): string | null {
  const text = value?.trim();
  if (!text) return null;
  if (text.startsWith('{')) {
    try {
      const token = (JSON.parse(text) as { token?: unknown }).token;
      return typeof token === 'string' && token.trim() ? token.trim() : null;
    } catch {
      return null;
    }
  }
  return /^[\x21-\x7e]+$/.test(text) ? text : null;
}
