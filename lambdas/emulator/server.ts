/**
 * A HubSpot CRM v3 emulator: a real HTTP server on 127.0.0.1 that speaks HubSpot's wire format
 * (paths, bodies, errors, rate limits, scopes) closely enough for the real `@hubspot/api-client`
 * to talk to it through `basePath`. It serves local mode and the tests, and can inject faults
 * (5xx, 429, latency, hangs) that the real HubSpot produces only on bad days.
 *
 * This file is the HTTP server: it records each request, reads its body, applies the injected
 * faults, then authenticates, rate-limits, checks the scope and dispatches to the route's
 * handler, in that order. Each of those has its own file: `auth.ts` (tokens and scopes),
 * `limits.ts`, `faults.ts`, `routes.ts` (the HubSpot paths), `store.ts` (the CRM records),
 * `search.ts`, `wire.ts` (the error body).
 *
 * It never logs, and never echoes a bearer token: requests are recorded with a 6-hex fingerprint.
 */

import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBoundedBody } from '../adapters/http-kit';
import {
  bearerToken,
  missingScope,
  TOKEN_INFO_PATH,
  TokenTable,
  tokenFingerprint,
  unauthenticated,
} from './auth';
import { FaultInjector, type Faults, injectedErrorBody } from './faults';
import { RateLimiter, rateLimitBody, resolveLimits } from './limits';
import { handleRoute, type RouteResult, requiredScope, resolveRoute, unknownRoute } from './routes';
import { type CrmSeed, demoSeed } from './seed';
import { CrmStore, type NoteRecord } from './store';
import { bodyTooLarge, HttpError, internalErrorBody } from './wire';

export {
  EMULATOR_ACCOUNT,
  READ_TOKEN_SCOPES,
  SCOPES,
  TOKEN_INFO_PATH,
  tokenFingerprint,
  WRITE_TOKEN_SCOPES,
} from './auth';
export type { Faults, InjectedStatus } from './faults';
export type { RateLimitPolicy } from './limits';
export type { CrmObjectType, CrmRecord, CrmSeed } from './seed';
export { NOTE_ASSOCIATION_TYPES, type NoteAssociation, type NoteRecord } from './store';

export interface EmulatorOptions {
  /** @default 0 (a random free port) */
  port?: number;
  /** Bearer token → granted scopes. */
  tokens: Record<string, string[]>;
  /** @default demoSeed() */
  seed?: CrmSeed;
  /** Per token. @default { perTenSeconds: 100, searchPerSecond: 5, daily: 250000 } */
  rateLimits?: { perTenSeconds?: number; searchPerSecond?: number; daily?: number };
  /** @default Date.now */
  now?: () => number;
}

export interface RecordedRequest {
  method: string;
  /** The path without query string. */
  path: string;
  /** The status answered; 0 while unanswered (pending latency, or hung). */
  status: number;
  /** First 6 hex characters of sha256(token), or null when no bearer token was sent. */
  tokenFingerprint: string | null;
  /** Arrival time, from the emulator's clock. */
  at: number;
}

export interface Emulator {
  /** e.g. http://127.0.0.1:43121 (no trailing slash) */
  url: string;
  /** Closes the server, including hanging and delayed requests. Idempotent. */
  close(): Promise<void>;
  faults: Faults;
  /** Every request in arrival order (the same array for the emulator's lifetime). */
  requests: RecordedRequest[];
  /** Notes created through the API so far (not the seeded ones). */
  notes(): NoteRecord[];
  /** Replaces the token table (revocation / rotation). */
  setTokens(tokens: Record<string, string[]>): void;
  /**
   * A new token with the scopes (and private app) of `likeToken`, as HubSpot's "rotate" on a
   * private app makes one; `likeToken` stays valid until revoked. Throws for an unknown token.
   */
  mintToken(likeToken: string): string;
  /** The token is refused (401) everywhere from now on, as after HubSpot's "expire now". */
  revokeToken(token: string): void;
  /** Clears faults, the request log and rate-limit windows; the CRM data stays. */
  reset(): void;
}

const MAX_BODY_BYTES = 1_048_576;

/** The timers of delayed and slowed answers, all cleared when the emulator closes. */
class Timers {
  private readonly pending = new Set<NodeJS.Timeout>();

  after(ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.pending.delete(timer);
      run();
    }, ms);
    this.pending.add(timer);
  }

  hold(ms: number): Promise<void> {
    return new Promise((resolve) => this.after(ms, resolve));
  }

  clear(): void {
    for (const timer of this.pending) clearTimeout(timer);
    this.pending.clear();
  }
}

/** What a running emulator is made of. */
interface Parts {
  now: () => number;
  tokens: TokenTable;
  store: CrmStore;
  faults: FaultInjector;
  limiter: RateLimiter;
  requests: RecordedRequest[];
  timers: Timers;
}

type Send = (status: number, body: unknown, headers?: OutgoingHttpHeaders) => void;

/** Answers JSON after the latency in force when the request arrived, recording the status. */
function responder(
  res: ServerResponse,
  entry: RecordedRequest,
  latency: number,
  timers: Timers,
): Send {
  return (status, body, headers = {}) => {
    const payload = JSON.stringify(body);
    const write = () => {
      if (res.destroyed) return;
      entry.status = status;
      res.writeHead(status, {
        'Content-Type': 'application/json;charset=utf-8',
        'Content-Length': Buffer.byteLength(payload),
        ...headers,
      });
      res.end(payload);
    };
    if (latency <= 0) write();
    else timers.after(latency, write);
  };
}

/** The request body, or null when it is larger than the emulator reads (drained, discarded). */
async function readBody(req: IncomingMessage): Promise<string | null> {
  const read = await readBoundedBody(req, { maxBytes: MAX_BODY_BYTES, overLimit: 'drain' });
  if (read.kind === 'failed') throw read.error;
  return read.kind === 'body' ? read.body : null;
}

async function dispatch(parts: Parts, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { faults, limiter, tokens } = parts;
  const at = parts.now();
  const method = req.method ?? 'GET';
  const url = new URL(req.url ?? '/', 'http://emulator.invalid');
  const token = bearerToken(req.headers);
  const entry: RecordedRequest = {
    method,
    path: url.pathname,
    status: 0,
    tokenFingerprint: token === null ? null : tokenFingerprint(token),
    at,
  };
  parts.requests.push(entry);
  const send = responder(res, entry, faults.latencyMs, parts.timers);

  const raw = await readBody(req);
  const delay = faults.takeDelay(url.pathname);
  if (delay > 0) {
    // Held before anything happens; close() clears the timer and destroys the socket.
    await parts.timers.hold(delay);
    if (res.destroyed) return;
  }
  const fault = faults.take(url.pathname);
  if (fault?.kind === 'hang') return; // accepted, never answered; close() destroys the socket
  if (fault?.kind === 'fail') {
    send(fault.status, injectedErrorBody(fault.status));
    return;
  }
  if (fault?.kind === 'rateLimit') {
    const known = token !== null && tokens.has(token) ? token : null;
    send(
      429,
      rateLimitBody(fault.policy),
      fault.policy === 'SECONDLY' ? {} : limiter.headers(known, fault.policy),
    );
    return;
  }

  // Introspection authenticates by the token in its body, not by a bearer header.
  if (method === 'POST' && url.pathname === TOKEN_INFO_PATH) {
    answer(send, {}, () => tokens.tokenInfo(raw));
    return;
  }

  const scopes = token === null ? undefined : tokens.scopesOf(token);
  if (token === null || scopes === undefined) {
    const refused = unauthenticated();
    send(refused.status, refused.body);
    return;
  }

  const route = resolveRoute(method, url.pathname);
  const isSearch = route?.kind === 'search';
  const broken = limiter.admit(token, isSearch);
  if (broken !== null) {
    send(429, rateLimitBody(broken), isSearch ? {} : limiter.headers(token, broken));
    return;
  }
  // Search responses carry no rate-limit headers, as on HubSpot.
  const headers = isSearch ? {} : limiter.headers(token, null);

  answer(send, headers, () => {
    if (route === null) throw unknownRoute();
    const scope = requiredScope(route);
    if (!scopes.has(scope)) throw missingScope(scope);
    if (raw === null) throw bodyTooLarge();
    return handleRoute(parts.store, route, raw, url);
  });
}

/** Sends what `handle` answers, or the `HttpError` it throws (with `headers`), or a 500. */
function answer(send: Send, headers: OutgoingHttpHeaders, handle: () => RouteResult): void {
  try {
    const result = handle();
    send(result.status, result.body, headers);
  } catch (error) {
    if (error instanceof HttpError) send(error.status, error.body, headers);
    else send(500, internalErrorBody());
  }
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Starts an emulator on 127.0.0.1. */
export async function startEmulator(options: EmulatorOptions): Promise<Emulator> {
  const now = options.now ?? Date.now;
  const parts: Parts = {
    now,
    tokens: new TokenTable(options.tokens),
    store: new CrmStore(options.seed ?? demoSeed(), now),
    faults: new FaultInjector(),
    limiter: new RateLimiter(resolveLimits(options.rateLimits), now),
    requests: [],
    timers: new Timers(),
  };

  const server = createServer((req, res) => {
    dispatch(parts, req, res).catch(() => {
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'Content-Type': 'application/json;charset=utf-8' });
        res.end(JSON.stringify(internalErrorBody()));
      }
    });
  });
  const port = await listen(server, options.port ?? 0);

  let closing: Promise<void> | null = null;
  return {
    url: `http://127.0.0.1:${port}`,
    faults: parts.faults,
    requests: parts.requests,
    notes: () => parts.store.createdNotes(),
    setTokens: (table) => parts.tokens.set(table),
    mintToken: (likeToken) => parts.tokens.mint(likeToken),
    revokeToken: (token) => parts.tokens.revoke(token),
    reset: () => {
      parts.faults.clear();
      parts.requests.length = 0;
      parts.limiter.clear();
    },
    close: () => {
      closing ??= new Promise<void>((resolve, reject) => {
        parts.timers.clear();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
