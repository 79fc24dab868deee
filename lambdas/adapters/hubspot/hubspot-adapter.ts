/**
 * HubSpot through the official client's CRM modules only. Loading `@hubspot/api-client` whole
 * costs ~400 ms (it does not tree-shake); the contacts, companies, emails and notes modules are
 * all the gateway uses. Each call gets a fresh, cheap configuration carrying the current token
 * and a transport bound to the request's deadline, so the gateway, not the client, owns
 * retries and timeouts (the client's own 429 retry sleeps 10 s per attempt).
 */
import http from 'node:http';
import https from 'node:https';
import type * as Codegen from '@hubspot/api-client/lib/codegen/crm/contacts';
import { HUBSPOT_API } from '../../config/shared';
import { AirlockError } from '../../core/errors';
import type {
  CallContext,
  CrmRecord,
  HubSpotPort,
  NoteInput,
  SearchableObject,
  SearchRequest,
  TokenProvider,
} from '../../core/ports';

/** HubSpot's API, the default base path (stated once, in `lambdas/config/shared.ts`). */
export { HUBSPOT_API };

/**
 * Each CRM module of the client is loaded on first use, not at start: a cold start pays only
 * for the modules its first request needs (a contact search loads one of four), and the read
 * function never loads the notes module. The modules share one shape (each declares its own
 * copy of the same generated classes), so one type serves for all of them.
 */
const MODULES = {
  contacts: () => require('@hubspot/api-client/lib/codegen/crm/contacts'),
  companies: () => require('@hubspot/api-client/lib/codegen/crm/companies'),
  emails: () => require('@hubspot/api-client/lib/codegen/crm/objects/emails'),
  notes: () => require('@hubspot/api-client/lib/codegen/crm/objects/notes'),
} as const;
const loaded = new Map<keyof typeof MODULES, typeof Codegen>();
function codegen(name: keyof typeof MODULES): typeof Codegen {
  let mod = loaded.get(name);
  if (!mod) {
    mod = MODULES[name]() as typeof Codegen;
    loaded.set(name, mod);
  }
  return mod;
}

/** HubSpot's association type ids for a note (docs/ARCHITECTURE.md, "Ports and adapters"). */
const NOTE_ASSOCIATION = { contact: 202, company: 190 } as const;

export interface HubSpotAdapterOptions {
  tokens: TokenProvider;
  /** @default {@link HUBSPOT_API} */
  basePath?: string;
  /** Retries after a 5xx or a network error, for reads. @default 3 */
  maxRetries?: number;
  /** First back-off after a 5xx, doubled each time, with jitter. @default 200 */
  backoffMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
}

/**
 * Keep-alive agents shared by every call: one TLS handshake per connection, not per request.
 * node:http rather than fetch: on the same search it costs about a quarter of fetch's CPU.
 */
const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 32 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 32 }),
};

/** Sends one request; rejects with an AbortError when `signal` fires (the request deadline). */
function send(
  url: string,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  signal: AbortSignal,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const secure = target.protocol === 'https:';
    const outgoing: Record<string, string | number> = { ...headers };
    if (body !== undefined) outgoing['content-length'] = Buffer.byteLength(body);
    const req = (secure ? https : http).request(
      target,
      { method, headers: outgoing, agent: secure ? agents.https : agents.http, signal },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const flat: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) {
            if (v !== undefined) flat[k] = Array.isArray(v) ? v.join(', ') : v;
          }
          resolve({
            status: res.statusCode ?? 0,
            headers: flat,
            text: Buffer.concat(chunks).toString('utf8'),
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The codegen's transport interface, bound to one attempt's abort signal. */
function transport(mod: typeof Codegen, signal: AbortSignal, seen: { last?: RawResponse }) {
  return mod.wrapHttpLibrary({
    async send(request) {
      const res = await send(
        request.getUrl(),
        request.getHttpMethod(),
        request.getHeaders(),
        request.getBody() as string | undefined,
        signal,
      );
      seen.last = res;
      return new mod.ResponseContext(res.status, res.headers, {
        text: async () => res.text,
        binary: async () => Buffer.from(res.text, 'utf8'),
      });
    },
  });
}

/** A configuration of `mod` carrying the token and a transport bound to `signal`. */
function configure(
  mod: typeof Codegen,
  basePath: string,
  token: string,
  signal: AbortSignal,
  seen: { last?: RawResponse },
) {
  return mod.createConfiguration({
    baseServer: new mod.ServerConfiguration(basePath, {}),
    authMethods: { oauth2: { accessToken: token } },
    httpApi: transport(mod, signal, seen),
  });
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class HubSpotAdapter implements HubSpotPort {
  private readonly basePath: string;
  private readonly maxRetries: number;
  private readonly backoffMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;

  constructor(private readonly options: HubSpotAdapterOptions) {
    this.basePath = (options.basePath ?? HUBSPOT_API).replace(/\/+$/, '');
    this.maxRetries = options.maxRetries ?? 3;
    this.backoffMs = options.backoffMs ?? 200;
    this.sleep = options.sleep ?? defaultSleep;
    this.now = options.now ?? Date.now;
  }

  async search(
    object: SearchableObject,
    request: SearchRequest,
    ctx: CallContext,
  ): Promise<CrmRecord[]> {
    const endpoint = `POST /crm/v3/objects/${object}/search`;
    // Our filter operators are a subset of the codegen's FilterOperatorEnum string values.
    const body = {
      filterGroups: request.filterGroups,
      properties: request.properties,
      sorts: request.sorts ?? [],
      limit: request.limit,
    } as never;
    const mod = codegen(object);
    const page = await this.call('read', endpoint, ctx, true, (token, signal, seen) =>
      new mod.SearchApi(configure(mod, this.basePath, token, signal, seen)).doSearch(body),
    );
    return page.results
      .slice(0, request.limit)
      .map((r) => ({ id: r.id, properties: r.properties }));
  }

  async findNote(input: NoteInput, ctx: CallContext): Promise<string | null> {
    const endpoint = 'POST /crm/v3/objects/notes/search';
    const mod = codegen('notes');
    const body = {
      filterGroups: [
        {
          filters: [
            {
              propertyName: `associations.${input.target.type}`,
              operator: 'EQ',
              value: input.target.id,
            },
            { propertyName: 'hs_timestamp', operator: 'EQ', value: input.timestamp },
          ],
        },
      ],
      properties: ['hs_note_body', 'hs_timestamp'],
      limit: 10,
    } as never;
    const page = await this.call('write', endpoint, ctx, true, (token, signal, seen) =>
      new mod.SearchApi(configure(mod, this.basePath, token, signal, seen)).doSearch(body),
    );
    const html = noteBodyHtml(input.body);
    return page.results.find((r) => r.properties.hs_note_body === html)?.id ?? null;
  }

  async createNote(input: NoteInput, ctx: CallContext): Promise<string> {
    const endpoint = 'POST /crm/v3/objects/notes';
    const mod = codegen('notes');
    const note = await this.call('write', endpoint, ctx, false, (token, signal, seen) =>
      new mod.BasicApi(configure(mod, this.basePath, token, signal, seen)).create({
        properties: { hs_note_body: noteBodyHtml(input.body), hs_timestamp: input.timestamp },
        associations: [
          {
            to: { id: input.target.id },
            types: [
              {
                associationCategory: mod.AssociationSpecAssociationCategoryEnum.HubspotDefined,
                associationTypeId: NOTE_ASSOCIATION[input.target.type],
              },
            ],
          },
        ],
      }),
    );
    return note.id;
  }

  /**
   * One HubSpot operation under the gateway's retry policy, within `ctx.deadline`:
   * 401 refetches the token once; 429 waits as HubSpot says when the wait fits the deadline;
   * 5xx and network errors back off, for idempotent calls only (a create that may have
   * happened is never sent twice); running out of time answers 504. A call that is not
   * idempotent awaits `ctx.beforeWrite` right before each attempt (the token in hand, nothing
   * left to wait for but HubSpot): when it throws, nothing is sent.
   */
  private async call<T>(
    kind: 'read' | 'write',
    endpoint: string,
    ctx: CallContext,
    idempotent: boolean,
    op: (token: string, signal: AbortSignal, seen: { last?: RawResponse }) => Promise<T>,
  ): Promise<T> {
    const started = this.now();
    let attempts = 0;
    let refreshed = false;
    let failures = 0;
    let throttled = 0;
    /** The status of the last attempt HubSpot answered, for a call stopped before a retry. */
    let lastStatus: number | null = null;
    const finish = (status: number | null) =>
      ctx.calls.push({
        endpoint,
        status,
        attempts,
        duration_ms: this.now() - started,
        ...(throttled > 0 ? { throttled } : {}),
      });

    for (;;) {
      const remaining = ctx.deadline - this.now();
      if (remaining <= 0) {
        finish(null);
        throw timeout();
      }
      const token = await this.options.tokens.get(kind, { refresh: refreshed });
      if (!idempotent && ctx.beforeWrite) {
        try {
          await ctx.beforeWrite();
        } catch (err) {
          // Recorded only when an earlier attempt was sent: a write never sent is no call.
          if (attempts > 0) finish(lastStatus);
          throw err;
        }
      }
      const seen: { last?: RawResponse } = {};
      const signal = AbortSignal.timeout(Math.max(1, ctx.deadline - this.now()));
      attempts += 1;
      try {
        const result = await op(token, signal, seen);
        finish(seen.last?.status ?? 200);
        return result;
      } catch (err) {
        const res = seen.last;
        if (!res || res.status < 300) {
          // No HTTP answer: the deadline fired, or the network failed.
          if (signal.aborted) {
            finish(null);
            throw timeout();
          }
          const refused = isConnectionRefused(err);
          failures += 1;
          if ((idempotent || refused) && failures <= this.maxRetries) {
            if (await this.backoff(failures, ctx)) continue;
            finish(null);
            throw timeout();
          }
          finish(null);
          throw new AirlockError('hubspot_error', 'HubSpot could not be reached. Retry later.', {
            cause: err,
          });
        }
        const status = res.status;
        lastStatus = status;
        if (status === 401 && !refreshed) {
          refreshed = true;
          continue;
        }
        if (status === 429) {
          throttled += 1;
          const wait = rateLimitWait(res);
          if (wait.daily || this.now() + wait.ms >= ctx.deadline) {
            finish(status);
            throw new AirlockError(
              'rate_limited',
              wait.daily
                ? "HubSpot's daily API limit for this account is reached; retry tomorrow."
                : "HubSpot's rate limit is reached; retry after the Retry-After delay.",
              { retryAfterSeconds: Math.ceil(wait.ms / 1000), hubspotStatus: status },
            );
          }
          await this.sleep(wait.ms);
          continue;
        }
        if (status >= 500) {
          failures += 1;
          if (idempotent && failures <= this.maxRetries) {
            if (await this.backoff(failures, ctx)) continue;
            finish(status);
            throw timeout();
          }
          finish(status);
          throw new AirlockError('hubspot_error', `HubSpot failed (HTTP ${status}). Retry later.`, {
            hubspotStatus: status,
          });
        }
        finish(status);
        throw mapClientError(res);
      }
    }
  }

  /** Sleeps before retry n; false when the wait would pass the deadline. */
  private async backoff(n: number, ctx: CallContext): Promise<boolean> {
    const base = this.backoffMs * 2 ** (n - 1);
    const wait = base / 2 + Math.random() * (base / 2);
    if (this.now() + wait >= ctx.deadline) return false;
    await this.sleep(wait);
    return true;
  }
}

/**
 * HubSpot renders `hs_note_body` as HTML. The approver approved plain text, so the note is sent
 * as that text, escaped, with its line breaks: markup an agent slips in (a link, a tracking
 * image) shows in HubSpot as the literal characters the approver saw, never as HTML.
 */
export function noteBodyHtml(text: string): string {
  const escaped = text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
  return escaped.replace(/\r\n|\r|\n/g, '<br>');
}

function timeout(): AirlockError {
  return new AirlockError(
    'hubspot_timeout',
    'HubSpot did not answer within the request deadline. Retry later.',
  );
}

function isConnectionRefused(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } } | undefined;
  return e?.code === 'ECONNREFUSED' || e?.cause?.code === 'ECONNREFUSED';
}

function parseBody(res: RawResponse): Record<string, unknown> {
  try {
    const body = JSON.parse(res.text) as unknown;
    return body && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** How long HubSpot asks us to wait after a 429. */
function rateLimitWait(res: RawResponse): { ms: number; daily: boolean } {
  const body = parseBody(res);
  if (body.policyName === 'DAILY') return { ms: 3600_000, daily: true };
  const retryAfter = Number(res.headers['retry-after']);
  if (Number.isFinite(retryAfter) && retryAfter > 0) return { ms: retryAfter * 1000, daily: false };
  if (body.policyName === 'SECONDLY') return { ms: 1000, daily: false };
  // Rolling window: HubSpot does not say when a slot frees; a tenth of the window is a fair wait.
  const interval = Number(res.headers['x-hubspot-ratelimit-interval-milliseconds']);
  return { ms: Number.isFinite(interval) && interval > 0 ? interval / 10 : 1000, daily: false };
}

/** A HubSpot 4xx other than 429: what it means for the caller. HubSpot's text is not echoed. */
function mapClientError(res: RawResponse): AirlockError {
  const body = parseBody(res);
  const status = res.status;
  if (status === 401) {
    return new AirlockError(
      'hubspot_unauthorized',
      "HubSpot refused the gateway's token (missing, invalid or revoked). The operator must set a valid token.",
      { hubspotStatus: status },
    );
  }
  if (status === 403 && body.category === 'MISSING_SCOPES') {
    const scopes = missingScopes(body);
    return new AirlockError(
      'hubspot_missing_scopes',
      `HubSpot refused the call: the token lacks the scope ${scopes.join(' or ') || '(not named)'}. The operator must grant it to the HubSpot credential.`,
      { hubspotStatus: status, details: { missing_scopes: scopes } },
    );
  }
  const category = typeof body.category === 'string' ? body.category : 'unknown';
  if ([400, 404, 409, 422].includes(status)) {
    // HubSpot refused what was asked (a record that does not exist, a value it does not take):
    // the request's fault, not an outage, so a 4xx; nothing was written.
    return new AirlockError(
      'hubspot_rejected',
      `HubSpot refused the request as invalid (HTTP ${status}, ${category.replace(/[^A-Z_]/gi, '')}): the record it names may not exist, or a value is not accepted. Nothing was written.`,
      { hubspotStatus: status },
    );
  }
  return new AirlockError(
    'hubspot_error',
    `HubSpot refused the request (HTTP ${status}, ${category.replace(/[^A-Z_]/gi, '')}).`,
    { hubspotStatus: status },
  );
}

function missingScopes(body: Record<string, unknown>): string[] {
  const errors = Array.isArray(body.errors) ? body.errors : [];
  const scopes: string[] = [];
  for (const e of errors) {
    const context = (e as { context?: Record<string, unknown> }).context ?? {};
    for (const key of ['requiredGranularScopes', 'requiredScopes']) {
      const list = context[key];
      if (Array.isArray(list)) for (const s of list) if (typeof s === 'string') scopes.push(s);
    }
  }
  return [...new Set(scopes)].map((s) => s.replace(/[^\w.-]/g, '').slice(0, 80));
}
