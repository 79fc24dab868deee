import fc from 'fast-check';
import { actionBody, type Body } from './bodies';
import { clip, printable } from './harness';
import { secretShapes } from './secrets';
import { unicodeString } from './unicode';

/** Which credential a request carries, and how. */
export type KeyChoice =
  | 'agent'
  | 'approver'
  | 'operator'
  | 'none'
  | 'bogus'
  | 'agent-lowercase-scheme'
  | 'agent-two-spaces'
  | 'agent-suffixed'
  | 'basic'
  | 'long';

/** A request to the local server, as generated (before late binding). */
export interface HttpSpec {
  method: string;
  /** The request target; `{write}` and `{approval}` are bound when it is sent. */
  path: string;
  key: KeyChoice;
  /** Extra headers (never ones that change the framing). */
  headers: [string, string][];
  contentType: string | null;
  body: Body | null;
  /** A decision's body, bound when it is sent: the right hash, a wrong one, or garbage. */
  decision?: 'right' | 'wrong' | 'garbage' | 'none';
  /** Sent without content-length (chunked). */
  chunked: boolean;
  /**
   * How it is sent: by Node's HTTP client; written by hand on a socket of its own (bytes
   * Node's client would refuse go out as they are); or by hand, half-closing the socket once
   * the request is written (a client may: the answer must still come).
   */
  transport: 'client' | 'socket' | 'socket-half-close';
  /** Why it must be refused (4xx) before HubSpot whatever the state, or null. */
  invalid: string | null;
  /** Why it never calls HubSpot even when it is answered 2xx, or null. */
  noHubSpot: string | null;
  /** A page or the favicon: answered without a request id or an audit record. */
  page: boolean;
  /** Index into the writes (or approvals) seen so far, for late binding. */
  pick: number;
  note: string;
}

const JSON_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'Application/JSON',
  'application/json;charset=latin1',
  'application/json ; q=1',
];
const OTHER_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/jsonp',
  'application/json-seq',
  'json',
  '',
];

const contentType: fc.Arbitrary<string | null> = fc.oneof(
  { weight: 20, arbitrary: fc.constantFrom(...JSON_TYPES) },
  { weight: 1, arbitrary: fc.constantFrom<string | null>(...OTHER_TYPES, null) },
);

const isJsonType = (t: string | null) =>
  t !== null && (t.split(';')[0] ?? '').trim().toLowerCase() === 'application/json';

const printableAscii = fc.string({ unit: 'binary-ascii', maxLength: 60 }).map((s) =>
  // Header values: no control characters (the client refuses them), latin-1 allowed.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point
  s.replace(/[\u0000-\u001f\u007f]/g, ' '),
);

/** Headers that do not change how the body is framed. */
function extraHeaders(secrets: fc.Arbitrary<string>): fc.Arbitrary<[string, string][]> {
  const header: fc.Arbitrary<[string, string]> = fc.oneof(
    fc.tuple(
      fc.constantFrom(
        'user-agent',
        'accept',
        'accept-encoding',
        'origin',
        'referer',
        'cookie',
        'x-forwarded-for',
        'x-request-id',
        'x-api-key',
        'x-amzn-trace-id',
        'content-encoding',
        'accept-language',
      ),
      fc.oneof(printableAscii, secrets),
    ),
    fc.tuple(fc.stringMatching(/^x-[a-z0-9-]{1,20}$/), printableAscii),
    fc.constantFrom<[string, string]>(
      ['connection', 'close'],
      ['connection', 'keep-alive'],
      ['expect', '100-continue'],
      ['expect', 'the-unexpected'],
      ['upgrade', 'websocket'],
      ['content-encoding', 'gzip'],
      ['x-large', 'y'.repeat(8000)],
      ['x-large', 'y'.repeat(17_000)],
    ),
  );
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant<[string, string][]>([]) },
    { weight: 1, arbitrary: fc.array(header, { minLength: 1, maxLength: 4 }) },
  );
}

const keyChoice = (main: KeyChoice): fc.Arbitrary<KeyChoice> =>
  fc.oneof(
    { weight: 12, arbitrary: fc.constant(main) },
    {
      weight: 2,
      arbitrary: fc.constantFrom<KeyChoice>(
        'agent',
        'approver',
        'operator',
        'none',
        'bogus',
        'agent-lowercase-scheme',
        'agent-two-spaces',
        'agent-suffixed',
        'basic',
        'long',
      ),
    },
  );

/** A path segment: route words, dot segments, percent-encoded bytes, unicode. */
const segment: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    'v1',
    'actions',
    'tools',
    'approvals',
    'pending',
    'approve',
    'deny',
    'operator',
    'status',
    'dashboard',
    'data',
    'favicon.ico',
    '..',
    '.',
    '%2e%2e',
    '%00',
    '%ff',
    '%',
    '',
    'req_1',
  ),
  fc.stringMatching(/^[A-Za-z0-9._~-]{1,12}$/),
  unicodeString(6).map(percentEncode),
  fc.string({ unit: 'binary-ascii', maxLength: 6 }).map((s) =>
    // Raw latin-1 and punctuation are sent as they are; what the client refuses is encoded.
    s.replace(/[^\u0021-\u00ff]/g, (c) => percentEncode(c)),
  ),
);

/** UTF-8 percent-encoding (a lone surrogate becomes U+FFFD, as any encoder makes it). */
export function percentEncode(text: string): string {
  return [...new TextEncoder().encode(text)]
    .map((b) =>
      /[A-Za-z0-9._~-]/.test(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
}

const query: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.constant('') },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.tuple(segment, segment), { maxLength: 3 })
      .map((pairs) => `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`),
  },
);

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE'];

const PAGES = [
  '/approvals',
  '/approvals/app.js',
  '/approvals/style.css',
  '/pages/base.css',
  '/pages/gateway-client.js',
  '/dashboard',
  '/dashboard/app.js',
  '/dashboard/style.css',
  '/favicon.ico',
];

function spec(fields: Omit<HttpSpec, 'note'> & { note?: string }): HttpSpec {
  const s: HttpSpec = { ...fields, note: fields.note ?? '' };
  return printable(s, describeSpec);
}

/** A one-line description of a request, for fast-check's counterexample and violations. */
export function describeSpec(s: HttpSpec): string {
  const body = s.body
    ? ` body(${Buffer.byteLength(s.body.text)} B)=${clip(s.body.text, 200)}`
    : s.decision
      ? ` decision=${s.decision}`
      : '';
  const headers = s.headers.length
    ? ` headers=${clip(JSON.stringify(s.headers.map(([k, v]) => [k, v.slice(0, 40)])), 200)}`
    : '';
  return `${s.method} ${clip(s.path, 100)} key=${s.key} ct=${s.contentType ?? '(none)'}${
    s.chunked ? ' chunked' : ''
  }${
    s.transport === 'client' ? '' : ` via ${s.transport}`
  }${headers}${body}${s.note ? ` [${s.note}]` : ''}${s.body ? ` [${s.body.note}]` : ''}${
    s.invalid ? ` (invalid: ${s.invalid})` : ''
  }`;
}

const keyInvalid = (key: KeyChoice, wanted: KeyChoice) =>
  key === wanted ? null : `credential ${key}, not ${wanted}`;

/**
 * Requests to the local server: mostly `POST /v1/actions`, then the other `/v1` routes, the
 * approval and operator routes with wrong (and right) keys, pages, and random routes.
 * `knownSecrets` are the deployment's keys and tokens, embedded in some requests.
 */
export function httpRequest(
  knownSecrets: readonly string[],
  options: { operatorControl?: boolean } = {},
): fc.Arbitrary<HttpSpec> {
  const secrets = secretShapes(knownSecrets);
  const headers = extraHeaders(secrets);
  const chunked = fc.oneof(
    { weight: 5, arbitrary: fc.constant(false) },
    { weight: 1, arbitrary: fc.constant(true) },
  );
  const transport = fc.oneof(
    { weight: 20, arbitrary: fc.constant<HttpSpec['transport']>('client') },
    { weight: 2, arbitrary: fc.constant<HttpSpec['transport']>('socket') },
    { weight: 1, arbitrary: fc.constant<HttpSpec['transport']>('socket-half-close') },
  );
  const common = { headers, chunked, transport, pick: fc.nat() };

  const action = fc
    .record({
      ...common,
      key: keyChoice('agent'),
      method: fc.oneof(
        { weight: 30, arbitrary: fc.constant('POST') },
        { weight: 1, arbitrary: fc.constantFrom(...METHODS) },
      ),
      contentType,
      body: actionBody(knownSecrets),
      q: query,
    })
    .map((r) =>
      spec({
        ...r,
        path: `/v1/actions${r.q}`,
        page: false,
        invalid:
          (r.method !== 'POST' ? `method ${r.method}` : null) ??
          keyInvalid(r.key, 'agent') ??
          (isJsonType(r.contentType) ? null : `content type ${r.contentType ?? 'missing'}`) ??
          r.body.invalid,
        noHubSpot: null,
      }),
    );

  const tools = fc.record({ ...common, key: keyChoice('agent'), q: query }).map((r) =>
    spec({
      ...r,
      method: 'GET',
      path: `/v1/tools${r.q}`,
      contentType: null,
      body: null,
      page: false,
      invalid: keyInvalid(r.key, 'agent'),
      noHubSpot: 'GET /v1/tools never calls HubSpot',
    }),
  );

  const status = fc
    .record({
      ...common,
      key: keyChoice('agent'),
      id: fc.oneof(
        { weight: 3, arbitrary: fc.constant('{write}') },
        { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/) },
        {
          weight: 1,
          arbitrary: fc.constantFrom('a'.repeat(128), 'a'.repeat(129), 'req_', '-', '_'),
        },
        { weight: 1, arbitrary: secrets.map(percentEncode) },
      ),
    })
    .map((r) =>
      spec({
        ...r,
        method: 'GET',
        path: `/v1/actions/${r.id}`,
        contentType: null,
        body: null,
        page: false,
        invalid: keyInvalid(r.key, 'agent'),
        noHubSpot: 'a status lookup never calls HubSpot',
      }),
    );

  const approvals = fc.oneof(
    fc.record({ ...common, key: keyChoice('approver') }).map((r) =>
      spec({
        ...r,
        method: 'GET',
        path: '/approvals/pending',
        contentType: null,
        body: null,
        page: false,
        invalid: keyInvalid(r.key, 'approver'),
        noHubSpot: 'listing approvals never calls HubSpot',
      }),
    ),
    fc
      .record({
        ...common,
        key: keyChoice('approver'),
        verdict: fc.constantFrom('approve', 'deny', 'approve', 'deny', 'maybe'),
        id: fc.oneof(
          { weight: 4, arbitrary: fc.constant('{approval}') },
          { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/) },
        ),
        decision: fc.constantFrom<'right' | 'wrong' | 'garbage' | 'none'>(
          'right',
          'right',
          'right',
          'wrong',
          'garbage',
          'none',
        ),
        contentType,
      })
      .map((r) =>
        spec({
          ...r,
          method: 'POST',
          path: `/approvals/${r.id}/${r.verdict}`,
          body: null,
          page: false,
          // Bound when sent: whether the approval exists and waits is known only then.
          invalid:
            (r.verdict === 'maybe' ? 'no such decision' : null) ??
            keyInvalid(r.key, 'approver') ??
            (isJsonType(r.contentType) ? null : `content type ${r.contentType ?? 'missing'}`) ??
            (r.decision !== 'right' ? `decision with a ${r.decision} hash` : null) ??
            (r.id !== '{approval}' ? 'no such approval' : null),
          noHubSpot: r.verdict === 'deny' ? 'a denial never calls HubSpot' : null,
        }),
      ),
  );

  const operatorRoutes = fc
    .record({
      ...common,
      // The operator's key only where it cannot stop the gateway, rotate or mint tokens.
      route: fc.constantFrom<[string, string, KeyChoice | 'nobody']>(
        ['GET', '/dashboard/data', 'approver'],
        ['GET', '/operator/status', 'operator'],
        ['POST', '/operator/control', 'nobody'],
        ['POST', '/operator/rotate', 'nobody'],
        ['POST', '/operator/emulator-token', 'nobody'],
      ),
      key: fc.constantFrom<KeyChoice>('agent', 'approver', 'operator', 'none', 'bogus'),
      raw: fc.oneof(
        fc.constantFrom(
          '{}',
          '{"command":"contain"}',
          '{"which":"read"}',
          '{"which":"read","token":"x"}',
          'nope',
        ),
        secrets.map((s) => JSON.stringify({ which: 'read', token: s })),
      ),
    })
    .map((r) => {
      const [method, path, allowed] = r.route;
      const key: KeyChoice = r.key === 'operator' && allowed !== 'operator' ? 'bogus' : r.key;
      const body: Body | null =
        method === 'POST'
          ? {
              text: r.raw,
              invalid: 'operator route',
              secret: false,
              promptSecret: false,
              action: null,
              note: 'operator body',
            }
          : null;
      return spec({
        ...r,
        key,
        method: method ?? 'GET',
        path: path ?? '/',
        contentType: method === 'POST' ? 'application/json' : null,
        body,
        page: false,
        invalid: key === allowed ? null : `credential ${key} on ${path}`,
        noHubSpot: 'operator routes never call HubSpot',
      });
    });

  const control = fc
    .record({
      ...common,
      command: fc.constantFrom(
        'release',
        'release',
        'read_only_off',
        'read_only_off',
        'contain',
        'read_only_on',
      ),
    })
    .map((r) =>
      spec({
        ...r,
        method: 'POST',
        path: '/operator/control',
        key: 'operator',
        contentType: 'application/json',
        body: {
          text: JSON.stringify({ command: r.command, reason: 'fuzz' }),
          invalid: 'operator route',
          secret: false,
          promptSecret: false,
          action: null,
          note: `operator ${r.command}`,
        },
        page: false,
        invalid: null,
        noHubSpot: 'the kill switch never calls HubSpot',
      }),
    );

  const pages = fc
    .record({ ...common, key: keyChoice('none'), path: fc.constantFrom(...PAGES) })
    .map((r) =>
      spec({
        ...r,
        method: 'GET',
        contentType: null,
        body: null,
        page: true,
        invalid: null,
        noHubSpot: 'a page never calls HubSpot',
      }),
    );

  const random = fc
    .record({
      ...common,
      key: keyChoice('agent'),
      method: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(...METHODS) },
        {
          weight: 1,
          arbitrary: fc.constantFrom('PROPFIND', 'MKCOL', 'PURGE', 'SEARCH', 'FOO', 'BREW'),
        },
      ),
      target: fc.oneof(
        {
          weight: 6,
          arbitrary: fc
            .tuple(fc.array(segment, { minLength: 1, maxLength: 5 }), query)
            .map(([segs, q]) => `/${segs.join('/')}${q}`),
        },
        {
          weight: 1,
          arbitrary: fc.constantFrom(
            '*',
            '//x:99999/',
            'http://[',
            'http://localhost/v1/tools',
            '/v1/tools?%',
            '//v1/tools',
            '/v1/actions/',
            '/v1//actions',
            `/${'a'.repeat(3000)}`,
          ),
        },
      ),
      contentType,
      raw: fc.oneof(fc.constant(null), unicodeString(30)),
    })
    .map((r) =>
      spec({
        ...r,
        path: r.target,
        body:
          r.raw === null || r.method === 'GET' || r.method === 'HEAD'
            ? null
            : {
                text: r.raw,
                invalid: 'random route',
                secret: false,
                promptSecret: false,
                action: null,
                note: 'random body',
              },
        page: r.method === 'GET' && PAGES.includes(r.target),
        // Only POST /v1/actions and an approval call HubSpot; a random route is neither (the
        // generator may hit one by chance, so that case is left open).
        invalid: null,
        noHubSpot:
          /^\/v1\/actions\/?(\?|$)/.test(r.target) || /^\/approvals\//.test(r.target)
            ? null
            : 'a random route never calls HubSpot',
      }),
    );

  return fc.oneof(
    { weight: 60, arbitrary: action },
    { weight: 4, arbitrary: tools },
    { weight: 5, arbitrary: status },
    { weight: 6, arbitrary: approvals },
    { weight: 3, arbitrary: operatorRoutes },
    { weight: 2, arbitrary: pages },
    { weight: 6, arbitrary: random },
    ...(options.operatorControl ? [{ weight: 1, arbitrary: control }] : []),
  );
}
