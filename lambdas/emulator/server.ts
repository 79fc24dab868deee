/**
 * A HubSpot CRM v3 emulator: a real HTTP server on 127.0.0.1 that speaks HubSpot's wire format
 * (paths, bodies, errors, rate limits, scopes) closely enough for the real `@hubspot/api-client`
 * to talk to it through `basePath`. It serves local mode and the tests, and can inject faults
 * (5xx, 429, latency, hangs) that the real HubSpot produces only on bad days.
 *
 * It never logs, and never echoes a bearer token: requests are recorded with a 6-hex fingerprint.
 */

import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { tokenScopes } from '../core/catalog';
import { parseSearchRequest, runSearch, type SearchDoc, SearchValidationError } from './search';
import {
  type AssociationTarget,
  type CrmObjectType,
  type CrmRecord,
  type CrmSeed,
  demoSeed,
} from './seed';

export type { CrmObjectType, CrmRecord, CrmSeed } from './seed';

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

export type RateLimitPolicy = 'TEN_SECONDLY_ROLLING' | 'SECONDLY' | 'DAILY';
export type InjectedStatus = 500 | 502 | 503 | 504;

export interface Faults {
  /** Added before every response (errors included). */
  latencyMs: number;
  /** The next `count` requests (whose path contains `pathIncludes`) fail with `status`. @default 500 */
  failNext(count: number, status?: InjectedStatus, pathIncludes?: string): void;
  /** The next `count` matching requests get a 429 for `policy`. @default 'TEN_SECONDLY_ROLLING' */
  rateLimitNext(count: number, policy?: RateLimitPolicy, pathIncludes?: string): void;
  /** The next `count` matching requests are read but never answered (until close). */
  hangNext(count: number, pathIncludes?: string): void;
  /**
   * The next `count` matching requests are held `ms` before the emulator acts on them, as a
   * slow HubSpot would: a create held this way happens only after the wait. Unlike
   * `latencyMs` (added to every answer), it is scoped to a path and composes with the faults
   * above.
   */
  delayNext(count: number, ms: number, pathIncludes?: string): void;
  clear(): void;
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

export interface NoteAssociation {
  toObjectType: 'contacts' | 'companies';
  toId: string;
  associationTypeId: number;
}

export interface NoteRecord {
  id: string;
  body: string | null;
  /** hs_timestamp, normalised to ISO 8601. */
  timestamp: string;
  associations: NoteAssociation[];
  createdAt: string;
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

export const SCOPES = {
  contactsRead: 'crm.objects.contacts.read',
  contactsWrite: 'crm.objects.contacts.write',
  companiesRead: 'crm.objects.companies.read',
  emailsRead: 'sales-email-read',
} as const;

/**
 * What the gateway's read token holds: the catalog's reads (`tokenScopes()`, the one statement
 * of each token's scopes; the emulator only enforces HubSpot's rules against them).
 */
export const READ_TOKEN_SCOPES: readonly string[] = tokenScopes().read;
/**
 * What the gateway's write token holds: the create (HubSpot has no notes-only scope) and the
 * notes search a retried write makes before it writes.
 */
export const WRITE_TOKEN_SCOPES: readonly string[] = tokenScopes().write;

/** The account every emulator token belongs to, as token introspection reports it. */
export const EMULATOR_ACCOUNT = { hubId: 20_240_601, userId: 7_700_001 } as const;
/** Private-app token introspection (HubSpot answers it for any valid token, no scope needed). */
export const TOKEN_INFO_PATH = '/oauth/v2/private-apps/get/access-token-info';

/** HubSpot-defined association type ids for notes. */
export const NOTE_ASSOCIATION_TYPES = { noteToContact: 202, noteToCompany: 190 } as const;

const DEFAULT_LIMITS = { perTenSeconds: 100, searchPerSecond: 5, daily: 250_000 };
const TEN_SECONDS_MS = 10_000;
const ONE_SECOND_MS = 1_000;
const DAY_MS = 86_400_000;
const MAX_BODY_BYTES = 1_048_576;

interface TypeSchema {
  singular: AssociationTarget;
  /** Upper-case name used in HubSpot error contexts. */
  label: 'CONTACT' | 'COMPANY' | 'EMAIL' | 'NOTE';
  readScope: string;
  createdProperty: string;
  modifiedProperty: string;
  /** Every property that exists on this type (requesting another one returns nothing for it). */
  properties: ReadonlySet<string>;
  /** Returned when the caller requests no property. */
  defaults: readonly string[];
  /** What the free-text `query` searches. */
  queryProperties: readonly string[];
}

function schema(
  singular: AssociationTarget,
  label: TypeSchema['label'],
  readScope: string,
  createdProperty: string,
  modifiedProperty: string,
  own: readonly string[],
  defaults: readonly string[],
  queryProperties: readonly string[],
): TypeSchema {
  return {
    singular,
    label,
    readScope,
    createdProperty,
    modifiedProperty,
    properties: new Set([...own, 'hs_object_id', createdProperty, modifiedProperty]),
    defaults,
    queryProperties,
  };
}

// Contacts name their modification date `lastmodifieddate`; the other objects `hs_lastmodifieddate`,
// and engagements their creation date `hs_createdate` (as HubSpot does).
const SCHEMAS: Record<CrmObjectType, TypeSchema> = {
  contacts: schema(
    'contact',
    'CONTACT',
    SCOPES.contactsRead,
    'createdate',
    'lastmodifieddate',
    [
      'firstname',
      'lastname',
      'email',
      'company',
      'phone',
      'jobtitle',
      'lifecyclestage',
      'notes_last_contacted',
      'associatedcompanyid',
      'city',
      'hubspot_owner_id',
    ],
    ['createdate', 'email', 'firstname', 'hs_object_id', 'lastmodifieddate', 'lastname'],
    ['firstname', 'lastname', 'email', 'phone', 'company'],
  ),
  companies: schema(
    'company',
    'COMPANY',
    SCOPES.companiesRead,
    'createdate',
    'hs_lastmodifieddate',
    [
      'name',
      'domain',
      'industry',
      'city',
      'phone',
      'numberofemployees',
      'lifecyclestage',
      'notes_last_contacted',
      'description',
      'hubspot_owner_id',
    ],
    ['createdate', 'domain', 'hs_lastmodifieddate', 'hs_object_id', 'name'],
    ['name', 'domain', 'phone'],
  ),
  emails: schema(
    'email',
    'EMAIL',
    SCOPES.emailsRead,
    'hs_createdate',
    'hs_lastmodifieddate',
    [
      'hs_timestamp',
      'hs_email_subject',
      'hs_email_direction',
      'hs_email_text',
      'hs_email_status',
      'hs_email_from_email',
      'hs_email_to_email',
      'hubspot_owner_id',
    ],
    ['hs_createdate', 'hs_lastmodifieddate', 'hs_object_id'],
    ['hs_email_subject'],
  ),
  notes: schema(
    'note',
    'NOTE',
    SCOPES.contactsRead,
    'hs_createdate',
    'hs_lastmodifieddate',
    ['hs_note_body', 'hs_timestamp', 'hubspot_owner_id', 'hs_attachment_ids'],
    ['hs_createdate', 'hs_lastmodifieddate', 'hs_object_id'],
    ['hs_note_body'],
  ),
};

const OBJECT_TYPES = Object.keys(SCHEMAS) as CrmObjectType[];
const PLURAL: Record<AssociationTarget, CrmObjectType> = {
  contact: 'contacts',
  company: 'companies',
  email: 'emails',
  note: 'notes',
};

type ErrorBody = Record<string, unknown> & {
  status: 'error';
  message: string;
  correlationId: string;
};

function errorBody(
  message: string,
  category: string | null,
  extra: Record<string, unknown> = {},
): ErrorBody {
  return {
    status: 'error',
    message,
    correlationId: randomUUID(),
    ...extra,
    ...(category === null ? {} : { category }),
  };
}

const RATE_LIMIT_MESSAGES: Record<RateLimitPolicy, string> = {
  TEN_SECONDLY_ROLLING: 'You have reached your ten_secondly_rolling limit.',
  SECONDLY: 'You have reached your secondly limit.',
  DAILY: 'You have reached your daily limit.',
};

function rateLimitBody(policy: RateLimitPolicy): ErrorBody {
  return {
    status: 'error',
    message: RATE_LIMIT_MESSAGES[policy],
    errorType: 'RATE_LIMIT',
    correlationId: randomUUID(),
    policyName: policy,
  };
}

const AUTH_MESSAGE =
  'Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview';

const INJECTED_MESSAGES: Record<InjectedStatus, string> = {
  500: 'internal error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function tokenFingerprint(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 6);
}

function bearerToken(headers: IncomingHttpHeaders): string | null {
  const header = headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1] ?? null;
}

type Route =
  | { kind: 'search'; type: CrmObjectType }
  | { kind: 'get'; type: CrmObjectType; id: string }
  | { kind: 'createNote' }
  | { kind: 'unknown' };

function resolveRoute(method: string, path: string): Route {
  const match = /^\/crm\/v3\/objects\/([^/]+)(?:\/([^/]+))?\/?$/.exec(path);
  if (!match) return { kind: 'unknown' };
  const type = OBJECT_TYPES.find((t) => t === match[1]);
  const rest = match[2];
  if (type === undefined) return { kind: 'unknown' };
  if (rest === undefined) {
    return method === 'POST' && type === 'notes' ? { kind: 'createNote' } : { kind: 'unknown' };
  }
  if (rest === 'search') return method === 'POST' ? { kind: 'search', type } : { kind: 'unknown' };
  if (method === 'GET') return { kind: 'get', type, id: decodeURIComponent(rest) };
  return { kind: 'unknown' };
}

function requiredScope(route: Route): string | null {
  switch (route.kind) {
    case 'search':
    case 'get':
      return SCHEMAS[route.type].readScope;
    case 'createNote':
      return SCOPES.contactsWrite;
    case 'unknown':
      return null;
  }
}

interface QueuedFault {
  remaining: number;
  pathIncludes: string | undefined;
  action:
    | { kind: 'fail'; status: InjectedStatus }
    | { kind: 'rateLimit'; policy: RateLimitPolicy }
    | { kind: 'hang' };
}

class FaultInjector implements Faults {
  latencyMs = 0;
  private queue: QueuedFault[] = [];
  private delays: { remaining: number; ms: number; pathIncludes: string | undefined }[] = [];

  failNext(count: number, status: InjectedStatus = 500, pathIncludes?: string): void {
    this.push(count, pathIncludes, { kind: 'fail', status });
  }

  rateLimitNext(
    count: number,
    policy: RateLimitPolicy = 'TEN_SECONDLY_ROLLING',
    pathIncludes?: string,
  ): void {
    this.push(count, pathIncludes, { kind: 'rateLimit', policy });
  }

  hangNext(count: number, pathIncludes?: string): void {
    this.push(count, pathIncludes, { kind: 'hang' });
  }

  delayNext(count: number, ms: number, pathIncludes?: string): void {
    if (!Number.isInteger(count) || count < 0) {
      throw new RangeError('count must be a non-negative integer');
    }
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('ms must be a non-negative number');
    if (count > 0 && ms > 0) this.delays.push({ remaining: count, ms, pathIncludes });
  }

  clear(): void {
    this.queue = [];
    this.delays = [];
    this.latencyMs = 0;
  }

  /** Consumes the first queued delay that matches the path; 0 when none does. */
  takeDelay(path: string): number {
    const delay = this.delays.find(
      (d) => d.remaining > 0 && (d.pathIncludes === undefined || path.includes(d.pathIncludes)),
    );
    if (!delay) return 0;
    delay.remaining -= 1;
    this.delays = this.delays.filter((d) => d.remaining > 0);
    return delay.ms;
  }

  /** Consumes the first queued fault that matches the path, if any (first queued, first served). */
  take(path: string): QueuedFault['action'] | null {
    const fault = this.queue.find(
      (f) => f.remaining > 0 && (f.pathIncludes === undefined || path.includes(f.pathIncludes)),
    );
    if (!fault) return null;
    fault.remaining -= 1;
    this.queue = this.queue.filter((f) => f.remaining > 0);
    return fault.action;
  }

  private push(
    count: number,
    pathIncludes: string | undefined,
    action: QueuedFault['action'],
  ): void {
    if (!Number.isInteger(count) || count < 0) {
      throw new RangeError('count must be a non-negative integer');
    }
    if (count > 0) this.queue.push({ remaining: count, pathIncludes, action });
  }
}

interface TokenWindow {
  general: number[];
  search: number[];
  day: number;
  dailyCount: number;
}

class RateLimiter {
  private windows = new Map<string, TokenWindow>();

  constructor(
    private readonly limits: { perTenSeconds: number; searchPerSecond: number; daily: number },
    private readonly now: () => number,
  ) {}

  /** Counts a request if it fits; returns the policy it breaks otherwise. */
  admit(token: string, isSearch: boolean): RateLimitPolicy | null {
    const w = this.window(token);
    const now = this.now();
    if (w.dailyCount >= this.limits.daily) return 'DAILY';
    if (isSearch) {
      if (w.search.length >= this.limits.searchPerSecond) return 'SECONDLY';
      w.search.push(now);
    } else {
      if (w.general.length >= this.limits.perTenSeconds) return 'TEN_SECONDLY_ROLLING';
      w.general.push(now);
    }
    w.dailyCount += 1;
    return null;
  }

  headers(token: string | null, exhausted: RateLimitPolicy | null): OutgoingHttpHeaders {
    const w = token === null ? null : this.window(token);
    const remaining =
      exhausted === 'TEN_SECONDLY_ROLLING'
        ? 0
        : this.limits.perTenSeconds - (w?.general.length ?? 0);
    const dailyRemaining = exhausted === 'DAILY' ? 0 : this.limits.daily - (w?.dailyCount ?? 0);
    return {
      'X-HubSpot-RateLimit-Daily': String(this.limits.daily),
      'X-HubSpot-RateLimit-Daily-Remaining': String(Math.max(0, dailyRemaining)),
      'X-HubSpot-RateLimit-Interval-Milliseconds': String(TEN_SECONDS_MS),
      'X-HubSpot-RateLimit-Max': String(this.limits.perTenSeconds),
      'X-HubSpot-RateLimit-Remaining': String(Math.max(0, remaining)),
    };
  }

  clear(): void {
    this.windows.clear();
  }

  /** The token's window, pruned to the current time. */
  private window(token: string): TokenWindow {
    const now = this.now();
    const day = Math.floor(now / DAY_MS);
    let w = this.windows.get(token);
    if (!w) {
      w = { general: [], search: [], day, dailyCount: 0 };
      this.windows.set(token, w);
    }
    if (w.day !== day) {
      w.day = day;
      w.dailyCount = 0;
    }
    w.general = w.general.filter((t) => t > now - TEN_SECONDS_MS);
    w.search = w.search.filter((t) => t > now - ONE_SECOND_MS);
    return w;
  }
}

class HttpError {
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
  ) {}
}

function validationError(message: string, extra: Record<string, unknown> = {}): HttpError {
  return new HttpError(400, errorBody(message, 'VALIDATION_ERROR', extra));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJsonBody(raw: string): unknown {
  if (raw.trim() === '') {
    throw validationError('Invalid JSON input: a request body was expected, but none found');
  }
  try {
    return JSON.parse(raw);
  } catch {
    // No parser detail: it could quote the body back.
    throw validationError('Invalid input JSON: the request body is not valid JSON.');
  }
}

const ISO_DATETIME_RE =
  /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** An ISO 8601 string for an epoch-ms or ISO 8601 value (what HubSpot accepts), else null. */
function normaliseTimestamp(value: string): string | null {
  const trimmed = value.trim();
  let ms: number;
  if (/^\d{1,15}$/.test(trimmed)) ms = Number(trimmed);
  else if (ISO_DATETIME_RE.test(trimmed)) ms = Date.parse(trimmed);
  else return null;
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}

type AssociationIndex = Map<string, Map<AssociationTarget, Set<string>>>;

/** Both directions of every association, keyed `${type}:${id}`. */
function buildAssociationIndex(store: CrmSeed): AssociationIndex {
  const index: AssociationIndex = new Map();
  const add = (type: CrmObjectType, id: string, target: AssociationTarget, targetId: string) => {
    const key = `${type}:${id}`;
    let byTarget = index.get(key);
    if (!byTarget) {
      byTarget = new Map();
      index.set(key, byTarget);
    }
    let ids = byTarget.get(target);
    if (!ids) {
      ids = new Set();
      byTarget.set(target, ids);
    }
    ids.add(targetId);
  };
  for (const type of OBJECT_TYPES) {
    for (const record of store[type]) {
      for (const [target, ids] of Object.entries(record.associations ?? {}) as [
        AssociationTarget,
        string[],
      ][]) {
        for (const targetId of ids) {
          add(type, record.id, target, targetId);
          add(PLURAL[target], targetId, SCHEMAS[type].singular, record.id);
        }
      }
    }
  }
  return index;
}

interface Doc extends SearchDoc {
  record: CrmRecord;
}

function toDoc(type: CrmObjectType, record: CrmRecord, index: AssociationIndex): Doc {
  const s = SCHEMAS[type];
  const associations: Partial<Record<string, string[]>> = {};
  for (const [target, ids] of index.get(`${type}:${record.id}`) ?? []) {
    associations[target] = [...ids].sort();
  }
  return {
    id: record.id,
    record,
    properties: {
      ...record.properties,
      hs_object_id: record.id,
      [s.createdProperty]: record.createdAt,
      [s.modifiedProperty]: record.updatedAt,
    },
    associations,
  };
}

/** Requested properties (or the defaults) that exist on the type, unset ones as null, keys sorted. */
function projectProperties(
  type: CrmObjectType,
  doc: Doc,
  requested: readonly string[] | null,
): Record<string, string | null> {
  const s = SCHEMAS[type];
  const names = new Set([
    ...(requested ?? s.defaults),
    'hs_object_id',
    s.createdProperty,
    s.modifiedProperty,
  ]);
  const out: Record<string, string | null> = {};
  for (const name of [...names].sort()) {
    if (s.properties.has(name)) out[name] = doc.properties[name] ?? null;
  }
  return out;
}

function publicObject(type: CrmObjectType, doc: Doc, requested: readonly string[] | null) {
  return {
    id: doc.id,
    properties: projectProperties(type, doc, requested),
    createdAt: doc.record.createdAt,
    updatedAt: doc.record.updatedAt,
    archived: false,
  };
}

function parseListParam(url: URL, name: string): string[] | null {
  const values = url.searchParams
    .getAll(name)
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  return values.length > 0 ? values : null;
}

function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Starts an emulator on 127.0.0.1. */
export async function startEmulator(options: EmulatorOptions): Promise<Emulator> {
  const now = options.now ?? Date.now;
  const limits = {
    perTenSeconds: options.rateLimits?.perTenSeconds ?? DEFAULT_LIMITS.perTenSeconds,
    searchPerSecond: options.rateLimits?.searchPerSecond ?? DEFAULT_LIMITS.searchPerSecond,
    daily: options.rateLimits?.daily ?? DEFAULT_LIMITS.daily,
  };
  const store: CrmSeed = structuredClone(options.seed ?? demoSeed());
  let tokens = new Map<string, ReadonlySet<string>>();
  // Each token of a table is its own private app; a minted token shares its original's app.
  let apps = new Map<string, number>();
  const setTokens = (table: Record<string, string[]>) => {
    tokens = new Map(Object.entries(table).map(([token, scopes]) => [token, new Set(scopes)]));
    apps = new Map([...tokens.keys()].map((token, i) => [token, 3_000_001 + i]));
  };
  setTokens(options.tokens);
  const mintToken = (likeToken: string): string => {
    const scopes = tokens.get(likeToken);
    if (scopes === undefined) throw new Error('mintToken: the emulator does not know that token');
    const token = `emu-${randomBytes(24).toString('hex')}`;
    tokens.set(token, scopes);
    apps.set(token, apps.get(likeToken) ?? 3_000_000);
    return token;
  };
  const revokeToken = (token: string): void => {
    tokens.delete(token);
    apps.delete(token);
  };

  /** `POST /oauth/v2/private-apps/get/access-token-info` with `{"tokenKey": "..."}`. */
  function handleTokenInfo(raw: string | null): { status: number; body: unknown } {
    if (raw === null)
      throw new HttpError(413, errorBody('Request body too large.', 'VALIDATION_ERROR'));
    const body = parseJsonBody(raw);
    const tokenKey = isRecord(body) ? body.tokenKey : undefined;
    if (typeof tokenKey !== 'string' || tokenKey.trim() === '') {
      throw validationError('Invalid input JSON: "tokenKey" must be a non-empty string.');
    }
    const scopes = tokens.get(tokenKey);
    if (scopes === undefined) {
      throw new HttpError(401, errorBody(AUTH_MESSAGE, 'INVALID_AUTHENTICATION'));
    }
    return {
      status: 200,
      body: {
        userId: EMULATOR_ACCOUNT.userId,
        hubId: EMULATOR_ACCOUNT.hubId,
        appId: apps.get(tokenKey) ?? 3_000_000,
        scopes: [...scopes],
      },
    };
  }

  const faults = new FaultInjector();
  const limiter = new RateLimiter(limits, now);
  const requests: RecordedRequest[] = [];
  const createdNotes: NoteRecord[] = [];
  const pendingTimers = new Set<NodeJS.Timeout>();
  let nextNoteId =
    store.notes.reduce(
      (max, n) => (/^\d+$/.test(n.id) && BigInt(n.id) > max ? BigInt(n.id) : max),
      5_400_000_000n,
    ) + 1n;

  // Searchable documents per type, rebuilt only when the data changes (a note is created).
  let docCache: Partial<Record<CrmObjectType, Doc[]>> = {};
  function docsOf(type: CrmObjectType): Doc[] {
    let docs = docCache[type];
    if (!docs) {
      const index = buildAssociationIndex(store);
      docs = store[type].map((record) => toDoc(type, record, index));
      docCache[type] = docs;
    }
    return docs;
  }

  function handleSearch(type: CrmObjectType, body: unknown): { status: number; body: unknown } {
    const s = SCHEMAS[type];
    try {
      const request = parseSearchRequest(body);
      const result = runSearch(docsOf(type), request, {
        isKnownProperty: (name) => s.properties.has(name),
        queryProperties: s.queryProperties,
      });
      return {
        status: 200,
        body: {
          total: result.total,
          results: result.results.map((doc) => publicObject(type, doc, request.properties)),
          ...(result.nextAfter === null ? {} : { paging: { next: { after: result.nextAfter } } }),
        },
      };
    } catch (error) {
      if (error instanceof SearchValidationError) {
        throw validationError(error.message, { errors: [{ message: error.message }] });
      }
      throw error;
    }
  }

  function handleGet(type: CrmObjectType, id: string, url: URL): { status: number; body: unknown } {
    const doc = docsOf(type).find((d) => d.id === id);
    if (!doc) {
      throw new HttpError(
        404,
        errorBody('Object not found.  objectId are usually numeric.', 'OBJECT_NOT_FOUND', {
          context: { id: [id] },
        }),
      );
    }
    const out: Record<string, unknown> = publicObject(type, doc, parseListParam(url, 'properties'));
    const wanted = parseListParam(url, 'associations');
    if (wanted) {
      const associations: Record<string, unknown> = {};
      for (const name of wanted) {
        const target = (Object.keys(PLURAL) as AssociationTarget[]).find(
          (t) => t === name || PLURAL[t] === name,
        );
        if (!target) continue;
        const ids = doc.associations?.[target] ?? [];
        if (ids.length > 0) {
          associations[PLURAL[target]] = {
            results: ids.map((toId) => ({
              id: toId,
              type: `${SCHEMAS[type].singular}_to_${target}`,
            })),
          };
        }
      }
      if (Object.keys(associations).length > 0) out.associations = associations;
    }
    return { status: 200, body: out };
  }

  function handleCreateNote(body: unknown): { status: number; body: unknown } {
    if (!isRecord(body) || !isRecord(body.properties)) {
      throw validationError('Invalid input JSON: "properties" must be an object.');
    }
    const properties: Record<string, string> = {};
    const invalid: Record<string, unknown>[] = [];
    for (const [name, value] of Object.entries(body.properties)) {
      if (!SCHEMAS.notes.properties.has(name)) {
        invalid.push({
          isValid: false,
          message: `Property "${name}" does not exist`,
          error: 'PROPERTY_DOESNT_EXIST',
          name,
        });
        continue;
      }
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
        properties[name] = String(value);
      } else if (value !== null) {
        invalid.push({
          isValid: false,
          message: `${name} must be a string`,
          error: 'INVALID_VALUE',
          name,
        });
      }
    }
    const rawTimestamp = properties.hs_timestamp;
    let timestamp: string | null = null;
    if (rawTimestamp === undefined || rawTimestamp.trim() === '') {
      invalid.push({
        isValid: false,
        message: 'hs_timestamp is required',
        error: 'REQUIRED_FIELD',
        name: 'hs_timestamp',
      });
    } else {
      timestamp = normaliseTimestamp(rawTimestamp);
      if (timestamp === null) {
        invalid.push({
          isValid: false,
          message: `${JSON.stringify(rawTimestamp.slice(0, 40))} is not a valid datetime (ISO 8601 or epoch milliseconds)`,
          error: 'INVALID_DATE',
          name: 'hs_timestamp',
        });
      }
    }
    if (invalid.length > 0 || timestamp === null) {
      throw validationError(`Property values were not valid: ${JSON.stringify(invalid)}`, {
        errors: invalid.map((i) => ({
          message: String(i.message),
          context: { propertyName: [String(i.name)] },
        })),
      });
    }

    const rawAssociations = body.associations ?? [];
    if (!Array.isArray(rawAssociations)) {
      throw validationError('Invalid input JSON: "associations" must be an array.');
    }
    const associations: NoteAssociation[] = [];
    for (const [i, raw] of rawAssociations.entries()) {
      if (
        !isRecord(raw) ||
        !isRecord(raw.to) ||
        !Array.isArray(raw.types) ||
        raw.types.length === 0
      ) {
        throw validationError(
          `Invalid input JSON: associations[${i}] must be {to: {id}, types: [{associationCategory, associationTypeId}]}.`,
        );
      }
      const toId = typeof raw.to.id === 'number' ? String(raw.to.id) : raw.to.id;
      if (typeof toId !== 'string' || toId === '') {
        throw validationError(`Invalid input JSON: associations[${i}].to.id is required.`);
      }
      for (const spec of raw.types) {
        const category = isRecord(spec) ? spec.associationCategory : undefined;
        const typeId = isRecord(spec) ? spec.associationTypeId : undefined;
        const target: CrmObjectType | null =
          category === 'HUBSPOT_DEFINED' && typeId === NOTE_ASSOCIATION_TYPES.noteToContact
            ? 'contacts'
            : category === 'HUBSPOT_DEFINED' && typeId === NOTE_ASSOCIATION_TYPES.noteToCompany
              ? 'companies'
              : null;
        if (target === null) {
          throw validationError('One or more associations are invalid', {
            context: {
              INVALID_ASSOCIATION_TYPE: [
                `${String(category)} ${String(typeId)} is not a valid association type from NOTE`,
              ],
            },
          });
        }
        if (!store[target].some((r) => r.id === toId)) {
          const label = SCHEMAS[target].label;
          throw validationError('One or more associations are invalid', {
            context: {
              INVALID_OBJECT_IDS: [`${label}=${toId} is not valid`],
              objectId: [toId],
              objectType: [label],
            },
          });
        }
        associations.push({ toObjectType: target, toId, associationTypeId: typeId as number });
      }
    }

    const id = String(nextNoteId);
    nextNoteId += 1n;
    const createdAt = new Date(now()).toISOString();
    const record: CrmRecord = {
      id,
      properties: { ...properties, hs_timestamp: timestamp },
      createdAt,
      updatedAt: createdAt,
      associations: {
        contact: associations.filter((a) => a.toObjectType === 'contacts').map((a) => a.toId),
        company: associations.filter((a) => a.toObjectType === 'companies').map((a) => a.toId),
      },
    };
    store.notes.push(record);
    createdNotes.push({
      id,
      body: properties.hs_note_body ?? null,
      timestamp,
      associations,
      createdAt,
    });
    docCache = {};
    const doc = toDoc('notes', record, buildAssociationIndex(store));
    return { status: 201, body: publicObject('notes', doc, Object.keys(record.properties)) };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = now();
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
    requests.push(entry);
    const latency = faults.latencyMs;

    const send = (status: number, body: unknown, headers: OutgoingHttpHeaders = {}) => {
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
      if (latency <= 0) {
        write();
        return;
      }
      const timer = setTimeout(() => {
        pendingTimers.delete(timer);
        write();
      }, latency);
      pendingTimers.add(timer);
    };

    const raw = await readBody(req);
    const delay = faults.takeDelay(url.pathname);
    if (delay > 0) {
      // Held before anything happens; close() clears the timer and destroys the socket.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          pendingTimers.delete(timer);
          resolve();
        }, delay);
        pendingTimers.add(timer);
      });
      if (res.destroyed) return;
    }
    const fault = faults.take(url.pathname);
    if (fault?.kind === 'hang') return; // accepted, never answered; close() destroys the socket
    if (fault?.kind === 'fail') {
      send(fault.status, errorBody(INJECTED_MESSAGES[fault.status], null));
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
      try {
        const result = handleTokenInfo(raw);
        send(result.status, result.body);
      } catch (error) {
        if (error instanceof HttpError) send(error.status, error.body);
        else send(500, errorBody('internal error', null));
      }
      return;
    }

    const scopes = token === null ? undefined : tokens.get(token);
    if (token === null || scopes === undefined) {
      send(401, errorBody(AUTH_MESSAGE, 'INVALID_AUTHENTICATION'));
      return;
    }

    const route = resolveRoute(method, url.pathname);
    const isSearch = route.kind === 'search';
    const broken = limiter.admit(token, isSearch);
    if (broken !== null) {
      send(429, rateLimitBody(broken), isSearch ? {} : limiter.headers(token, broken));
      return;
    }
    // Search responses carry no rate-limit headers, as on HubSpot.
    const headers = isSearch ? {} : limiter.headers(token, null);

    try {
      const scope = requiredScope(route);
      if (route.kind === 'unknown' || scope === null) {
        throw new HttpError(
          404,
          errorBody(
            'Resource not found. This emulator serves POST /crm/v3/objects/{contacts|companies|emails|notes}/search, GET /crm/v3/objects/{type}/{id}, POST /crm/v3/objects/notes and POST /oauth/v2/private-apps/get/access-token-info.',
            'OBJECT_NOT_FOUND',
          ),
        );
      }
      if (!scopes.has(scope)) {
        throw new HttpError(
          403,
          errorBody(
            "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
            'MISSING_SCOPES',
            {
              errors: [
                {
                  message: 'One or more of the following scopes are required.',
                  context: { requiredGranularScopes: [scope] },
                },
              ],
              links: { scopes: 'https://developers.hubspot.com/scopes' },
            },
          ),
        );
      }
      if (raw === null) {
        throw new HttpError(413, errorBody('Request body too large.', 'VALIDATION_ERROR'));
      }
      let result: { status: number; body: unknown };
      switch (route.kind) {
        case 'search':
          result = handleSearch(route.type, parseJsonBody(raw));
          break;
        case 'get':
          result = handleGet(route.type, route.id, url);
          break;
        case 'createNote':
          result = handleCreateNote(parseJsonBody(raw));
          break;
      }
      send(result.status, result.body, headers);
    } catch (error) {
      if (error instanceof HttpError) send(error.status, error.body, headers);
      else send(500, errorBody('internal error', null));
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'Content-Type': 'application/json;charset=utf-8' });
        res.end(JSON.stringify(errorBody('internal error', null)));
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | null = null;
  return {
    url: `http://127.0.0.1:${port}`,
    faults,
    requests,
    notes: () =>
      createdNotes.map((n) => ({ ...n, associations: n.associations.map((a) => ({ ...a })) })),
    setTokens,
    mintToken,
    revokeToken,
    reset: () => {
      faults.clear();
      requests.length = 0;
      limiter.clear();
    },
    close: () => {
      closing ??= new Promise<void>((resolve, reject) => {
        for (const timer of pendingTimers) clearTimeout(timer);
        pendingTimers.clear();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
