import http from 'node:http';
import net from 'node:net';
import { randomIds } from '../../lambdas/adapters/ids';
import { jsonLogger } from '../../lambdas/adapters/json-logger';
import type { AuditSink } from '../../lambdas/core/ports';
import { containsSecret } from '../../lambdas/core/redact';
import type { operatorRoutes } from '../../lambdas/local/operator-routes';
import { createLocalServer } from '../../lambdas/local/server';
import { startTestApp, type TestApp } from '../helpers/local-app';

/**
 * Issue 11, items 8 and 9: every request the gateway's process sees is audited, including the
 * ones Node's HTTP parser refuses before any route runs, and only origin-form request targets
 * are routed. Everything here goes over raw TCP to 127.0.0.1, because fetch would repair or
 * refuse these requests before they left the test.
 */

interface RawAnswer {
  statusLine: string;
  status: number;
  headers: Record<string, string>;
  text: string;
  body: Record<string, unknown>;
}

/** One connection: writes each part (pausing `pauseMs` between parts), reads until the server closes it. */
function exchange(
  url: string,
  parts: (string | Buffer)[],
  options: { timeoutMs?: number; pauseMs?: number } = {},
): Promise<{ raw: Buffer; closedByServer: boolean }> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let closedByServer = false;
    const socket = net.connect(Number(port), '127.0.0.1');
    const timer = setTimeout(() => socket.destroy(), options.timeoutMs ?? 5000);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('end', () => {
      closedByServer = true;
      socket.end();
    });
    // The server may close while a large request is still being written: EPIPE/ECONNRESET
    // here are expected, what was answered is in `chunks`.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ raw: Buffer.concat(chunks), closedByServer });
    });
    socket.on('connect', async () => {
      for (const [i, part] of parts.entries()) {
        if (socket.destroyed) return;
        if (i > 0 && options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
        socket.write(part);
      }
    });
  });
}

/** One connection: writes the request, half-closes its side at once, reads until the server closes. */
function halfClose(
  url: string,
  request: string,
): Promise<{ raw: Buffer; closedByServer: boolean }> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let closedByServer = false;
    const socket = net.connect(Number(port), '127.0.0.1', () => {
      socket.write(request);
      socket.end();
    });
    const timer = setTimeout(() => socket.destroy(), 5000);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('end', () => {
      closedByServer = true;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ raw: Buffer.concat(chunks), closedByServer });
    });
  });
}

/** Splits a byte stream into HTTP/1.1 responses (Content-Length framed, as the gateway answers). */
function parseAnswers(raw: Buffer): RawAnswer[] {
  const out: RawAnswer[] = [];
  let rest = raw;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) throw new Error(`not an HTTP response: ${JSON.stringify(rest.toString())}`);
    const [statusLine = '', ...lines] = rest.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    const text = rest.subarray(end + 4, end + 4 + length).toString('utf8');
    rest = rest.subarray(end + 4 + length);
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      body = {};
    }
    out.push({ statusLine, status: Number(statusLine.split(' ')[1]), headers, text, body });
  }
  return out;
}

/** A refusal as the gateway writes it: well-formed, JSON, with its request id, closing. */
function expectRefusal(answer: RawAnswer | undefined, status: number, code: string): string {
  if (!answer) throw new Error('no answer');
  expect(answer.statusLine).toMatch(new RegExp(`^HTTP/1\\.1 ${status} [A-Za-z ]+$`));
  const id = answer.headers['x-request-id'];
  expect(id).toMatch(/^req_[0-9a-f]{32}$/);
  expect(answer.headers.connection).toBe('close');
  expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
  expect(Number(answer.headers['content-length'])).toBe(Buffer.byteLength(answer.text));
  expect(answer.body).toEqual({
    request_id: id,
    error: { code, message: expect.any(String) },
  });
  return id ?? '';
}

const KEY = '__KEY__';
const withKey = (text: string, key: string) => text.split(KEY).join(key);

describe('requests Node’s HTTP parser refuses', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  const big = (n: number) => 'a'.repeat(n);
  const cases: [string, string, number, string][] = [
    [
      'a header with a bad byte',
      `GET /v1/tools HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\nX-Bad: a\x01b\r\n\r\n`,
      400,
      'malformed_request',
    ],
    [
      'a header name with a bad byte',
      `GET /v1/tools HTTP/1.1\r\nHost: 127.0.0.1\r\nX\x7fBad: 1\r\n\r\n`,
      400,
      'malformed_request',
    ],
    [
      'a header of 20 KB',
      `GET /v1/tools HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\nX-Big: ${big(20 * 1024)}\r\n\r\n`,
      431,
      'headers_too_large',
    ],
    [
      'a header of 100 KB',
      `GET /v1/tools HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${big(100 * 1024)}\r\n\r\n`,
      431,
      'headers_too_large',
    ],
    [
      'Content-Length and Transfer-Encoding together',
      `POST /v1/actions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /v1/tools HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
      400,
      'malformed_request',
    ],
    [
      'two different Content-Length headers',
      `POST /v1/actions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}`,
      400,
      'malformed_request',
    ],
    [
      'an invalid method token',
      `G(E)T /v1/tools HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\n\r\n`,
      400,
      'malformed_request',
    ],
    ['a bare LF-only garbage line', 'hello there\n', 400, 'malformed_request'],
    [
      'LF-only line endings',
      'GET /v1/tools HTTP/1.1\nHost: 127.0.0.1\n\n',
      400,
      'malformed_request',
    ],
    [
      'binary garbage (a TLS hello)',
      '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03',
      400,
      'malformed_request',
    ],
    ['100 KB of garbage', `${'\x00\xff'.repeat(50 * 1024)}`, 400, 'malformed_request'],
    [
      'a NUL byte in the request target',
      `GET /v1\x00/tools HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\n\r\n`,
      400,
      'invalid_request_target',
    ],
    [
      'a backslash target (\\v1\\tools)',
      `GET \\v1\\tools HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\n\r\n`,
      400,
      'invalid_request_target',
    ],
  ];

  it.each(cases)(
    '%s: answered, with a request id in exactly one audit record',
    async (_what, request, status, code) => {
      const before = (await t.audit()).length;
      const { raw, closedByServer } = await exchange(t.app.url, [
        Buffer.from(withKey(request, t.app.keys.apiKey), 'latin1'),
      ]);
      const answers = parseAnswers(raw);
      expect(answers).toHaveLength(1);
      const id = expectRefusal(answers[0], status, code);
      expect(closedByServer).toBe(true);

      const records = await t.audit();
      expect(records).toHaveLength(before + 1);
      const mine = records.filter((r) => r.request_id === id);
      expect(mine).toHaveLength(1);
      expect(mine[0]).toMatchObject({
        event: 'request',
        route: '(unparsed)',
        outcome: 'rejected',
        reason: code,
        response_status: status,
        caller: null,
        hubspot_calls: [],
        structured_action: {
          received: expect.any(String),
          received_bytes: expect.any(Number),
          parser_error: expect.stringMatching(/^HPE_/),
        },
      });
      const rendering = mine[0]?.structured_action as { received: string; received_bytes: number };
      expect(rendering.received_bytes).toBeGreaterThan(0);
      // At most 4 KB as written in the log (JSON doubles each backslash of an escape).
      expect(JSON.stringify(rendering.received).length).toBeLessThanOrEqual(4096 + 2);
      expect(JSON.stringify(mine[0]?.structured_action).length).toBeLessThanOrEqual(4200);
      // Only printable ASCII in the rendering: every other byte is escaped.
      expect(rendering.received).toMatch(/^[\x20-\x7e]*$/);
      // The rendering never keeps a credential, even a truncated one.
      expect(JSON.stringify(records)).not.toContain(t.app.keys.apiKey);
      expect(JSON.stringify(records)).not.toContain(t.app.keys.apiKey.slice(0, 12));
    },
  );

  it('records what was received, with the bytes that are not printable escaped', async () => {
    const sent = Buffer.from(
      'GET /v1/tools HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bad: a\x01\\b\r\n\r\n',
      'latin1',
    );
    const { raw } = await exchange(t.app.url, [sent]);
    const id = expectRefusal(parseAnswers(raw)[0], 400, 'malformed_request');
    const record = (await t.audit()).find((r) => r.request_id === id);
    expect(record?.structured_action).toEqual({
      received: 'GET /v1/tools HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nX-Bad: a\\x01\\\\b\\r\\n\\r\\n',
      received_bytes: sent.length,
      parser_error: 'HPE_INVALID_HEADER_TOKEN',
    });
  });

  it('an invalid chunk size in a body a route is reading: one record, the route’s, and one answer', async () => {
    const before = (await t.audit()).length;
    const emulator = t.app.emulator;
    const calls = emulator?.requests.length;
    const { raw, closedByServer } = await exchange(
      t.app.url,
      [
        `POST /v1/actions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t.app.keys.apiKey}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
        '5\r\n{"a":\r\nzz\r\n{}\r\n0\r\n\r\n',
      ],
      { pauseMs: 50 },
    );
    const answers = parseAnswers(raw);
    expect(answers).toHaveLength(1);
    const id = expectRefusal(answers[0], 400, 'malformed_request');
    expect(closedByServer).toBe(true);
    const records = await t.audit();
    expect(records).toHaveLength(before + 1);
    expect(records.filter((r) => r.request_id === id)).toEqual([
      expect.objectContaining({
        route: 'POST /v1/actions',
        caller: 'local-agent-key',
        outcome: 'rejected',
        reason: 'malformed_request',
        response_status: 400,
        structured_action: expect.objectContaining({ parser_error: 'HPE_INVALID_CHUNK_SIZE' }),
      }),
    ]);
    expect(emulator?.requests.length).toBe(calls);
  });

  it('an invalid chunk size sent in one packet with the headers is refused the same way', async () => {
    const before = (await t.audit()).length;
    const { raw } = await exchange(t.app.url, [
      `POST /v1/actions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t.app.keys.apiKey}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
    ]);
    const answers = parseAnswers(raw);
    expect(answers).toHaveLength(1);
    const id = expectRefusal(answers[0], 400, 'malformed_request');
    const records = await t.audit();
    expect(records).toHaveLength(before + 1);
    expect(records.filter((r) => r.request_id === id)).toEqual([
      expect.objectContaining({
        route: 'POST /v1/actions',
        reason: 'malformed_request',
        structured_action: expect.objectContaining({
          received: expect.stringContaining('Authorization: [REDACTED]\\r\\n'),
          parser_error: 'HPE_INVALID_CHUNK_SIZE',
        }),
      }),
    ]);
    expect(JSON.stringify(records)).not.toContain(t.app.keys.apiKey.slice(0, 12));
  });

  it('a broken request pipelined after a good one: both answered in order, each audited once', async () => {
    const before = (await t.audit()).length;
    const { raw } = await exchange(t.app.url, [
      `GET /v1/tools HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t.app.keys.apiKey}\r\n\r\nG(E)T / HTTP/1.1\r\n\r\n`,
    ]);
    const answers = parseAnswers(raw);
    expect(answers.map((a) => a.status)).toEqual([200, 400]);
    expect(answers[0]?.body.catalog_hash).toEqual(expect.any(String));
    const id = expectRefusal(answers[1], 400, 'malformed_request');
    const records = await t.audit();
    expect(records).toHaveLength(before + 2);
    expect(
      records.filter((r) => r.request_id === answers[0]?.headers['x-request-id']),
    ).toHaveLength(1);
    expect(records.filter((r) => r.request_id === id)).toHaveLength(1);
  });

  it('a connection reset before any byte leaves no record and breaks nothing', async () => {
    const before = (await t.audit()).length;
    const { port } = new URL(t.app.url);
    await new Promise<void>((resolve) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => socket.resetAndDestroy());
      socket.on('error', () => undefined);
      socket.on('close', () => resolve());
    });
    await new Promise((r) => setTimeout(r, 100));
    expect((await t.audit()).length).toBe(before);
  });

  it('answers a HEAD request the parser refused with headers only, so the client reads it whole', async () => {
    const res = await new Promise<{ status: number; id: unknown }>((resolve, reject) => {
      const req = http.request(
        `${t.app.url}/v1/tools`,
        { method: 'HEAD', headers: { 'x-big': 'a'.repeat(17_000) } },
        (r) => {
          r.resume();
          r.on('end', () => resolve({ status: r.statusCode ?? 0, id: r.headers['x-request-id'] }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(res.status).toBe(431);
    expect((await t.audit()).filter((r) => r.request_id === res.id)).toHaveLength(1);
  });

  it('answers a request whose client half-closes its side right after sending it', async () => {
    const { port } = new URL(t.app.url);
    const raw = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      const socket = net.connect(Number(port), '127.0.0.1', () => {
        socket.end(
          `GET /v1/tools HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t.app.keys.apiKey}\r\n\r\n`,
        );
      });
      const timer = setTimeout(() => socket.destroy(), 5000);
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks));
      });
    });
    const [answer] = parseAnswers(raw);
    expect(answer?.status).toBe(200);
    const id = answer?.headers['x-request-id'];
    expect((await t.audit()).filter((r) => r.request_id === id)).toHaveLength(1);
  });

  it('a client that half-closes right after its request: each request answered, audited once', async () => {
    // Node ends a connection on the client's FIN when no response of its own is pending; a
    // refusal is written on the raw socket after its audit record, so the FIN must not end the
    // socket first. Concurrent, several rounds: the FIN usually wins the race with the record.
    const key = t.app.keys.apiKey;
    const body = '{"user_id":"u-42"}';
    const cases: [request: string, status: number, route: string, code?: string][] = [
      // The parser fails on the head (over 16 KB), the FIN comes after it.
      [
        `GET /approvals HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Large: ${big(17_000)}\r\n\r\n`,
        431,
        '(unparsed)',
        'headers_too_large',
      ],
      // A head cut short by the FIN.
      [
        'GET /v1/tools HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Cut: a',
        400,
        '(unparsed)',
        'malformed_request',
      ],
      // A body cut short by the FIN, while the route reads it: the route's record.
      [
        `POST /v1/actions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"user_id":`,
        400,
        'POST /v1/actions',
        'malformed_request',
      ],
      // A complete request: its FIN makes no second, (unparsed), record.
      [
        `POST /v1/actions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        400,
        'POST /v1/actions',
      ],
    ];
    for (let round = 0; round < 5; round += 1) {
      const before = (await t.audit()).length;
      const ids = await Promise.all(
        cases.map(async ([request, status, route, code]) => {
          const { raw, closedByServer } = await halfClose(t.app.url, request);
          const answers = parseAnswers(raw);
          expect(answers).toHaveLength(1);
          const answer = answers[0];
          if (code) expectRefusal(answer, status, code);
          expect(answer?.status).toBe(status);
          expect(closedByServer).toBe(true);
          const id = answer?.headers['x-request-id'];
          return { id, status, route };
        }),
      );
      const records = (await t.audit()).slice(before);
      // Exactly one record per request, each the one its answer names: none without an answer.
      expect(records.map((r) => [r.request_id, r.route, r.response_status]).sort()).toEqual(
        ids.map(({ id, route, status }) => [id, route, status]).sort(),
      );
    }
  });

  it('keeps serving ordinary requests afterwards', async () => {
    const res = await t.call('GET', '/v1/tools');
    expect(res.status).toBe(200);
    expect(res.body.catalog_hash).toEqual(expect.any(String));
  });
});

describe('request targets that are not origin-form', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  const request = (method: string, target: string, key: string) =>
    `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\nConnection: close\r\n\r\n`;

  it.each([
    ['GET', '//host/v1/tools'],
    ['GET', '//v1/tools'],
    ['GET', 'http://evil/v1/tools'],
    ['GET', 'http://127.0.0.1/v1/tools'],
    ['GET', '/v1/./tools'],
    ['GET', '/v1/%2e%2e/v1/tools'],
    ['GET', '/v1/%2E/tools'],
    ['GET', '/v1/.%2e/v1/tools'],
    ['GET', '/x/../v1/tools'],
    ['GET', '/v1/tools/.'],
    ['GET', '/v1/tools/x/..'],
    ['GET', '/v1//tools'],
    ['GET', '/v1%2ftools'],
    ['GET', '/v1%2Ftools'],
    ['GET', '/v1%5ctools'],
    ['GET', '/v1/tools#frag'],
    ['OPTIONS', '*'],
    ['GET', '//approvals'],
    ['GET', '/approvals/./'],
    ['GET', '/dashboard/../approvals'],
    ['POST', '//v1/actions'],
  ])(
    '%s %s: 400 invalid_request_target, one audit record, no HubSpot call',
    async (method, target) => {
      const emulator = t.app.emulator;
      const calls = emulator?.requests.length;
      const before = (await t.audit()).length;
      const { raw } = await exchange(t.app.url, [request(method, target, t.app.keys.apiKey)]);
      const answers = parseAnswers(raw);
      expect(answers).toHaveLength(1);
      const answer = answers[0];
      expect(answer?.status).toBe(400);
      expect(answer?.text).not.toContain('catalog_hash');
      expect(answer?.text).not.toContain('<html');
      const id = answer?.headers['x-request-id'];
      expect(id).toMatch(/^req_/);
      expect(answer?.body).toEqual({
        request_id: id,
        error: { code: 'invalid_request_target', message: expect.stringContaining('origin-form') },
      });
      const records = await t.audit();
      expect(records).toHaveLength(before + 1);
      expect(records.filter((r) => r.request_id === id)).toEqual([
        expect.objectContaining({
          route: `${method} (invalid target)`,
          outcome: 'rejected',
          reason: 'invalid_request_target',
          response_status: 400,
          caller: 'local-agent-key',
          structured_action: { request_target: target },
        }),
      ]);
      expect(emulator?.requests.length).toBe(calls);
    },
  );

  it('CONNECT (authority-form): 400 invalid_request_target, audited', async () => {
    const before = (await t.audit()).length;
    const { raw, closedByServer } = await exchange(t.app.url, [
      `CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\nAuthorization: Bearer ${t.app.keys.apiKey}\r\n\r\n`,
    ]);
    const answers = parseAnswers(raw);
    expect(answers).toHaveLength(1);
    const id = expectRefusal(answers[0], 400, 'invalid_request_target');
    expect(closedByServer).toBe(true);
    const records = await t.audit();
    expect(records).toHaveLength(before + 1);
    expect(records.filter((r) => r.request_id === id)).toEqual([
      expect.objectContaining({
        route: 'CONNECT (invalid target)',
        reason: 'invalid_request_target',
        response_status: 400,
        structured_action: { request_target: 'evil.example:443' },
      }),
    ]);
  });

  it('routes the raw path exactly as sent: origin-form targets still work', async () => {
    const key = t.app.keys.apiKey;
    const tools = parseAnswers((await exchange(t.app.url, [request('GET', '/v1/tools', key)])).raw);
    expect(tools[0]?.status).toBe(200);
    expect(tools[0]?.body.catalog_hash).toEqual(expect.any(String));
    const query = parseAnswers(
      (await exchange(t.app.url, [request('GET', '/v1/tools?x=1', key)])).raw,
    );
    expect(query[0]?.status).toBe(200);
    // A segment with an encoded dot that is not a dot segment is just an unknown route.
    const dotted = parseAnswers(
      (await exchange(t.app.url, [request('GET', '/v1/actions/a%2eb', key)])).raw,
    );
    expect(dotted[0]?.status).toBe(404);
    // A trailing slash is another path, not the same route.
    const slash = parseAnswers(
      (await exchange(t.app.url, [request('GET', '/v1/tools/', key)])).raw,
    );
    expect(slash[0]?.status).toBe(404);
    const page = parseAnswers((await exchange(t.app.url, [request('GET', '/approvals', key)])).raw);
    expect(page[0]?.status).toBe(200);
    expect(page[0]?.headers['content-type']).toBe('text/html; charset=utf-8');
    const favicon = parseAnswers(
      (await exchange(t.app.url, [request('GET', '/favicon.ico', key)])).raw,
    );
    expect(favicon[0]?.status).toBe(204);
  });

  it('audits a request with an Expect it cannot meet instead of letting Node answer 417 unseen', async () => {
    const before = (await t.audit()).length;
    const { raw } = await exchange(t.app.url, [
      `GET /v1/tools HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t.app.keys.apiKey}\r\nExpect: something-else\r\nConnection: close\r\n\r\n`,
    ]);
    const answers = parseAnswers(raw);
    expect(answers).toHaveLength(1);
    const id = answers[0]?.headers['x-request-id'];
    expect(id).toMatch(/^req_/);
    const records = await t.audit();
    expect(records).toHaveLength(before + 1);
    expect(records.filter((r) => r.request_id === id)).toHaveLength(1);
  });
});

describe('refusals at the edge when the audit log fails', () => {
  let t: TestApp;
  let auditFails = false;
  beforeAll(async () => {
    t = await startTestApp(
      {},
      {
        wrapAudit: (sink: AuditSink): AuditSink => ({
          append: (r) => (auditFails ? Promise.reject(new Error('disk full')) : sink.append(r)),
        }),
      },
    );
  });
  afterEach(() => {
    auditFails = false;
  });
  afterAll(() => t.close());

  it.each([
    ['a request the parser refuses', 'G(E)T / HTTP/1.1\r\n\r\n'],
    [
      'a target that is not origin-form',
      'GET //host/v1/tools HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n',
    ],
  ])('%s answers 503 audit_unavailable', async (_what, request) => {
    auditFails = true;
    const { raw } = await exchange(t.app.url, [request]);
    const answers = parseAnswers(raw);
    expect(answers[0]?.status).toBe(503);
    expect(answers[0]?.body).toEqual({
      request_id: answers[0]?.headers['x-request-id'],
      error: { code: 'audit_unavailable', message: expect.any(String) },
    });
    auditFails = false;
    expect((await t.call('GET', '/v1/tools')).status).toBe(200);
  });
});

describe('a request that is not received in time', () => {
  let t: TestApp;
  let server: ReturnType<typeof createLocalServer>;
  let url: string;
  beforeAll(async () => {
    t = await startTestApp();
    // The app's own server waits 10 s for headers; this one, around the same gateway and
    // audit log, waits 300 ms, so that Node's own timeout fires within the test.
    server = createLocalServer({
      gateway: t.app.gateway,
      dashboard: async () => ({}),
      keys: t.app.keys,
      operator: {} as ReturnType<typeof operatorRoutes>,
      ids: randomIds,
      clock: { now: () => Date.now() },
      log: jsonLogger(() => undefined),
      timeouts: { headersMs: 300, requestMs: 600, checkIntervalMs: 100 },
    });
    await new Promise<void>((resolve) => server.server.listen(0, '127.0.0.1', () => resolve()));
    const address = server.server.address() as net.AddressInfo;
    url = `http://127.0.0.1:${address.port}`;
  });
  afterAll(async () => {
    await server.close();
    await t.close();
  });

  it('headers that never end: 408 request_timeout, audited once', async () => {
    const before = (await t.audit()).length;
    const { raw, closedByServer } = await exchange(url, ['GET /v1/tools HTTP/1.1\r\nHost: 1'], {
      timeoutMs: 5000,
    });
    const answers = parseAnswers(raw);
    expect(answers).toHaveLength(1);
    const id = expectRefusal(answers[0], 408, 'request_timeout');
    expect(closedByServer).toBe(true);
    const records = await t.audit();
    expect(records).toHaveLength(before + 1);
    expect(records.filter((r) => r.request_id === id)).toEqual([
      expect.objectContaining({
        route: '(unparsed)',
        reason: 'request_timeout',
        response_status: 408,
        structured_action: expect.objectContaining({ parser_error: 'ERR_HTTP_REQUEST_TIMEOUT' }),
      }),
    ]);
  });

  it('a body that never ends, while a route reads it: the route’s one record, 408', async () => {
    const before = (await t.audit()).length;
    const { raw } = await exchange(url, [
      `POST /v1/actions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t.app.keys.apiKey}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"user_id":`,
    ]);
    const answers = parseAnswers(raw);
    expect(answers).toHaveLength(1);
    const id = expectRefusal(answers[0], 408, 'request_timeout');
    const records = await t.audit();
    expect(records).toHaveLength(before + 1);
    expect(records.filter((r) => r.request_id === id)).toEqual([
      expect.objectContaining({
        route: 'POST /v1/actions',
        reason: 'request_timeout',
        response_status: 408,
      }),
    ]);
  });
});

describe('Host headers and bodies thrown away', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it.each([
    ['no Host', 'GET /v1/tools HTTP/1.1\r\nConnection: close\r\n\r\n'],
    ['two Hosts', 'GET /v1/tools HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n'],
  ])('an HTTP/1.1 request with %s: 400 with its request id and one record', async (_what, raw) => {
    const { raw: received } = await exchange(t.app.url, [raw]);
    const [answer] = parseAnswers(received);
    const id = expectRefusal(answer, 400, 'malformed_request');
    expect((await t.audit()).filter((r) => r.request_id === id)).toHaveLength(1);
  });

  it('a bad chunk in a body the gateway throws away leaves that request its one record and answer', async () => {
    const before = (await t.audit()).length;
    const { raw } = await exchange(
      t.app.url,
      [
        'GET /v1/tools HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n',
        'zz\r\nnot a chunk\r\n',
      ],
      { pauseMs: 100 },
    );
    const answers = parseAnswers(raw);
    expect(answers.map((a) => a.status)).toEqual([401]);
    const records = (await t.audit()).slice(before);
    expect(records.map((r) => r.request_id)).toEqual([answers[0]?.headers['x-request-id']]);
  });
});

describe('what the record of a refused request keeps of a key', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('a deployment key broken up by bytes that do not print is still redacted from the record', async () => {
    const key = t.app.keys.operatorKey;
    const broken = key.replace(/(.{7})/g, '$1\x01');
    const { raw } = await exchange(t.app.url, [
      `GET /v1/tools HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Foo: ${broken}\r\n\r\n`,
    ]);
    const [answer] = parseAnswers(raw);
    const id = expectRefusal(answer, 400, 'malformed_request');
    const records = (await t.audit()).filter((r) => r.request_id === id);
    expect(records).toHaveLength(1);
    expect(containsSecret(JSON.stringify(records[0]), [key])).toBe(false);
  });
});
