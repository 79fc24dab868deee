import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { checkBodySize, checkContentType, notFound, UNAUTHORIZED_MESSAGE } from '../core/edge';
import { AirlockError, type HttpAnswer } from '../core/errors';
import type { Caller, Gateway, RequestMeta } from '../core/gateway';
import type { Clock, IdSource, Logger } from '../core/ports';
import { keyMatches } from './keys';
import type { operatorRoutes } from './operator-routes';

/** A body larger than this is not even drained: the connection is closed. */
const DRAIN_LIMIT = 1024 * 1024;

export interface LocalServerOptions {
  gateway: Gateway;
  /** The dashboard's data (metrics of the last hour, alarm states). */
  dashboard: () => Promise<Record<string, unknown>>;
  keys: { apiKey: string; approverKey: string; operatorKey: string };
  /** The operator's routes (kill switch, read-only mode, rotation, status). */
  operator: ReturnType<typeof operatorRoutes>;
  ids: IdSource;
  clock: Clock;
  log: Logger;
}

const STATIC: Record<string, { file: string; type: string }> = {
  '/approvals': { file: 'approval-page/index.html', type: 'text/html; charset=utf-8' },
  '/approvals/app.js': { file: 'approval-page/app.js', type: 'text/javascript; charset=utf-8' },
  '/approvals/style.css': { file: 'approval-page/style.css', type: 'text/css; charset=utf-8' },
  '/pages/base.css': { file: 'pages/base.css', type: 'text/css; charset=utf-8' },
  '/pages/gateway-client.js': {
    file: 'pages/gateway-client.js',
    type: 'text/javascript; charset=utf-8',
  },
  '/dashboard': { file: 'dashboard-page/index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/app.js': { file: 'dashboard-page/app.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/style.css': { file: 'dashboard-page/style.css', type: 'text/css; charset=utf-8' },
};

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

type Handler = (
  meta: RequestMeta,
  caller: Caller,
  params: string[],
  body: string,
) => Promise<HttpAnswer>;

interface Route {
  method: string;
  pattern: RegExp;
  name: string;
  /** Routes that take a JSON body. */
  body?: boolean;
  handler: Handler;
}

/**
 * The local edge: node:http around the gateway core. It authenticates the caller, enforces
 * the content type and the body size, and hands everything else to the core. Every answer,
 * including every refusal here, is audited by the core.
 */
export function createLocalServer(options: LocalServerOptions) {
  const { gateway, keys, ids, clock, log, dashboard, operator } = options;
  const pages = new Map<string, { body: Buffer; type: string }>();
  for (const [route, { file, type }] of Object.entries(STATIC)) {
    pages.set(route, { body: readFileSync(path.join(__dirname, file)), type });
  }

  const routes: Route[] = [
    {
      method: 'POST',
      pattern: /^\/v1\/actions$/,
      name: 'POST /v1/actions',
      body: true,
      handler: (m, c, _p, b) => gateway.handleAction(m, c, b),
    },
    {
      method: 'GET',
      pattern: /^\/v1\/actions\/([A-Za-z0-9_-]{1,128})$/,
      name: 'GET /v1/actions/{request_id}',
      handler: (m, c, p) => gateway.getStatus(m, c, p[0] ?? ''),
    },
    {
      method: 'GET',
      pattern: /^\/v1\/tools$/,
      name: 'GET /v1/tools',
      handler: (m, c) => gateway.listTools(m, c),
    },
    {
      method: 'GET',
      pattern: /^\/dashboard\/data$/,
      name: 'GET /dashboard/data',
      handler: (m, c) => gateway.operatorData(m, c, dashboard),
    },
    {
      method: 'GET',
      pattern: /^\/approvals\/pending$/,
      name: 'GET /approvals/pending',
      handler: (m, c) => gateway.listPending(m, c),
    },
    {
      method: 'POST',
      pattern: /^\/approvals\/([A-Za-z0-9_-]{1,128})\/(approve|deny)$/,
      name: 'POST /approvals/{approval_id}/{decision}',
      body: true,
      handler: (m, c, p, b) =>
        gateway.decide(m, c, p[0] ?? '', p[1] === 'approve' ? 'approve' : 'deny', b),
    },
    {
      method: 'GET',
      pattern: /^\/operator\/status$/,
      name: 'GET /operator/status',
      handler: (m, c) => operator.status(m, c),
    },
    {
      method: 'POST',
      pattern: /^\/operator\/control$/,
      name: 'POST /operator/control',
      body: true,
      handler: (m, c, _p, b) => operator.control(m, c, b),
    },
    {
      method: 'POST',
      pattern: /^\/operator\/rotate$/,
      name: 'POST /operator/rotate',
      body: true,
      handler: (m, c, _p, b) => operator.rotate(m, c, b),
    },
    {
      method: 'POST',
      pattern: /^\/operator\/emulator-token$/,
      name: 'POST /operator/emulator-token',
      body: true,
      handler: (m, c, _p, b) => operator.emulatorToken(m, c, b),
    },
  ];

  const authenticate = (req: http.IncomingMessage): Caller | null => {
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer ([\x21-\x7e]{1,512})$/.exec(header) : null;
    if (!match?.[1]) return null;
    // Every comparison always runs, so timing tells nothing about which key was close.
    const isAgent = keyMatches(match[1], keys.apiKey);
    const isApprover = keyMatches(match[1], keys.approverKey);
    const isOperator = keyMatches(match[1], keys.operatorKey);
    if (isAgent) return { id: 'local-agent-key', role: 'agent' };
    if (isApprover) return { id: 'local-approver-key', role: 'approver' };
    if (isOperator) return { id: 'local-operator-key', role: 'operator' };
    return null;
  };

  const inFlight = new Set<Promise<void>>();

  const send = (res: http.ServerResponse, requestId: string, answer: HttpAnswer, close = false) => {
    const body = JSON.stringify(answer.body);
    res.writeHead(answer.status, {
      ...SECURITY_HEADERS,
      ...answer.headers,
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-request-id': requestId,
      ...(close ? { connection: 'close' } : {}),
    });
    res.end(body);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const startedAt = clock.now();
    const requestId = ids.requestId();
    const method = req.method ?? 'GET';
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      // A request-target no URL parser accepts: refused like any unknown route, and audited.
      drain(req);
      const meta: RequestMeta = { requestId, route: `${method} (malformed)`, startedAt };
      send(res, requestId, await gateway.refuseAtEdge(meta, authenticate(req), notFound()));
      return;
    }
    const page = method === 'GET' ? pages.get(url.pathname) : undefined;
    if (method === 'GET' && url.pathname === '/favicon.ico') {
      // Browsers ask for it on their own; answering keeps the audit log to real requests.
      res.writeHead(204, SECURITY_HEADERS);
      res.end();
      return;
    }
    if (page) {
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        'content-type': page.type,
        'content-security-policy': PAGE_CSP,
        'content-length': page.body.length,
      });
      res.end(page.body);
      return;
    }
    const route = routes.find((r) => r.pattern.test(url.pathname) && r.method === method);
    const pathMatch = routes.find((r) => r.pattern.test(url.pathname));
    const meta: RequestMeta = {
      requestId,
      route: route?.name ?? `${method} ${url.pathname.slice(0, 200)}`,
      startedAt,
    };
    const caller = authenticate(req);
    let answer: HttpAnswer;
    let close = false;
    if (!route) {
      drain(req);
      answer = await gateway.refuseAtEdge(
        meta,
        caller,
        pathMatch
          ? new AirlockError(
              'method_not_allowed',
              `Use ${pathMatch.method} ${pathMatch.name.split(' ')[1]}.`,
            )
          : notFound(),
      );
    } else if (!caller) {
      drain(req);
      answer = await gateway.refuseAtEdge(
        meta,
        null,
        new AirlockError('unauthorized', UNAUTHORIZED_MESSAGE.local),
      );
    } else if (route.body) {
      const read = await readBody(req, req.headers['content-type']);
      if (read.error) close = read.error.code === 'payload_too_large';
      answer = read.error
        ? await gateway.refuseAtEdge(meta, caller, read.error, read.body)
        : await route.handler(meta, caller, paramsOf(route, url.pathname), read.body ?? '');
    } else {
      drain(req);
      answer = await route.handler(meta, caller, paramsOf(route, url.pathname), '');
    }
    send(res, requestId, answer, close);
    log.info('request', {
      request_id: requestId,
      route: meta.route,
      status: answer.status,
      caller: caller?.id ?? null,
      duration_ms: clock.now() - startedAt,
    });
  };

  const server = http.createServer((req, res) => {
    const p = handle(req, res).catch((err: unknown) => {
      log.error('unhandled error in the local server', {
        error: err instanceof Error ? err.message : String(err),
      });
      if (!res.headersSent) {
        res.writeHead(500, {
          ...SECURITY_HEADERS,
          'content-type': 'application/json; charset=utf-8',
        });
        res.end(JSON.stringify({ error: { code: 'internal_error', message: 'internal error' } }));
      }
    });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  return {
    server,
    /** Stops accepting connections and waits for every request in flight to finish. */
    async close(): Promise<void> {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      server.closeAllConnections();
      await closed;
    },
  };
}

function paramsOf(route: Route, pathname: string): string[] {
  return (route.pattern.exec(pathname) ?? []).slice(1).map((s) => s ?? '');
}

function drain(req: http.IncomingMessage): void {
  let seen = 0;
  req.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > DRAIN_LIMIT) req.destroy();
  });
  req.resume();
}

/** Reads a JSON body within the size limit (413 above it); refuses other content types (415). */
async function readBody(
  req: http.IncomingMessage,
  contentType: string | undefined,
): Promise<{ body?: string; error?: AirlockError }> {
  const typeError = checkContentType(contentType);
  if (typeError) {
    drain(req);
    return { error: typeError };
  }
  const declared = Number(req.headers['content-length']);
  const declaredError = Number.isFinite(declared) ? checkBodySize(declared) : null;
  if (declaredError) {
    drain(req);
    return { error: declaredError };
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      const sizeError = checkBodySize(size);
      if (sizeError) {
        done = true;
        drain(req);
        resolve({ error: sizeError });
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve({ body: Buffer.concat(chunks).toString('utf8') });
    });
    req.on('error', () => {
      if (done) return;
      done = true;
      resolve({
        error: new AirlockError('validation_failed', 'The request body could not be read.'),
      });
    });
  });
}
