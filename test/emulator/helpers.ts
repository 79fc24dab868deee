import { Client } from '@hubspot/api-client';
import { READ_TOKEN_SCOPES, WRITE_TOKEN_SCOPES } from '../../lambdas/emulator/server';

/** Test tokens: obviously fake, distinct, never printed by the emulator. */
export const READ_TOKEN = 'pat-na1-test-read-0000-1111-2222';
export const WRITE_TOKEN = 'pat-na1-test-write-3333-4444-5555';
export const NO_SCOPE_TOKEN = 'pat-na1-test-noscope-6666-7777';

export const TOKENS: Record<string, string[]> = {
  [READ_TOKEN]: [...READ_TOKEN_SCOPES],
  [WRITE_TOKEN]: [...WRITE_TOKEN_SCOPES],
  [NO_SCOPE_TOKEN]: [],
};

/** The real client, pointed at the emulator, with its own retries off. */
export function client(url: string, accessToken: string): Client {
  return new Client({ accessToken, basePath: url, numberOfApiCallRetries: 0 });
}

export interface CaughtApiError {
  code: number;
  body: Record<string, unknown>;
  headers: Record<string, string>;
  message: string;
}

/** Awaits a client call that must fail with an ApiException (each codegen module has its own class). */
export async function apiError(call: Promise<unknown>): Promise<CaughtApiError> {
  try {
    await call;
  } catch (error) {
    const e = error as Partial<CaughtApiError>;
    if (typeof e.code !== 'number') throw error;
    return {
      code: e.code,
      body: (e.body ?? {}) as Record<string, unknown>,
      headers: (e.headers ?? {}) as Record<string, string>,
      message: e.message ?? '',
    };
  }
  throw new Error('expected the call to fail');
}

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A raw JSON request (for what the client cannot send: bad JSON, odd paths, aborts). */
export async function rawRequest(
  url: string,
  init: { method?: string; path: string; token?: string; body?: string; signal?: AbortSignal },
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(`${url}${init.path}`, {
    method: init.method ?? 'GET',
    headers: {
      'Content-Type': 'application/json',
      ...(init.token === undefined ? {} : { Authorization: `Bearer ${init.token}` }),
    },
    ...(init.body === undefined ? {} : { body: init.body }),
    ...(init.signal === undefined ? {} : { signal: init.signal }),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
    headers: response.headers,
  };
}
