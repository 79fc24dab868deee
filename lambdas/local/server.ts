import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { readBoundedBody } from '../adapters/http-kit';
import {
  checkBodySize,
  checkContentType,
  checkRequestTarget,
  invalidRequestTarget,
  MAX_BODY_BYTES,
  notFound,
  parserRefusal,
  renderReceived,
  renderTarget,
  UNAUTHORIZED_MESSAGE,
} from '../core/edge';
import { AirlockError, type HttpAnswer } from '../core/errors';
import type { Caller, Gateway, RequestMeta } from '../core/gateway';
import type { Clock, IdSource, Logger } from '../core/ports';
import {
  type LocalRouteKey,
  type OperatorRouteKey,
  ROUTES,
  routeMatcher,
  routesOn,
} from '../core/routes';
import { keyMatches } from './keys';

/** The route of the kill-switch commands. */
const CONTROL_ROUTE = ROUTES.operatorControl.name;
/** The longest a kill-switch command waits for the requests in flight (past any deadline). */
const SETTLE_BOUND_MS = 15_000;

/** A body larger than this is not even drained: the connection is closed. */
const DRAIN_LIMIT = 1024 * 1024;

/** How long a refused connection may stay open after its answer before it is destroyed. */
const LINGER_MS = 2000;

export interface LocalServerOptions {
  gateway: Gateway;
  /** The dashboard's data (metrics of the last hour, alarm states). */
  dashboard: () => Promise<Record<string, unknown>>;
  keys: { apiKey: string; approverKey: string; operatorKey: string };
  /** The operator's routes (kill switch, read-only mode, rotation, status): `operatorRoutes`. */
  operator: { [K in OperatorRouteKey]: LocalRouteHandler };
  ids: IdSource;
  clock: Clock;
  log: Logger;
  /**
   * Node's request timeouts: the request head, the whole request, and how often Node checks
   * them (tests shorten them). @default 10 s, 30 s, checked every 30 s
   */
  timeouts?: { headersMs: number; requestMs: number; checkIntervalMs?: number };
}

/** A request Node's parser refused: its refusal and what the audit record keeps of it. */
interface ParserFailure {
  error: AirlockError;
  received: Record<string, unknown>;
}

/** What the server tracks of one connection, beyond Node's own state. */
interface ConnectionState {
  /** Answers still being written on this connection (pipelined requests go in order). */
  pending: Set<Promise<void>>;
  /**
   * Set while a route reads a request body here: a parser failure before that request is
   * complete is in its body, so it is that request's.
   */
  reading?: { req: http.IncomingMessage; fail: (failure: ParserFailure) => void };
  /** Set once the connection is refused: Node reports the failure again for every later read. */
  refused: boolean;
  /**
   * A request whose body is being read only to be thrown away (it was refused, or takes none):
   * a parser failure before it is complete is in that body, so it is that request's, which has
   * its own record and answer already.
   */
  draining?: http.IncomingMessage;
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

/** What serves one route of the table: its path parameters by name, its body ('' if none). */
export type LocalRouteHandler = (
  meta: RequestMeta,
  caller: Caller,
  params: Readonly<Record<string, string>>,
  body: string,
) => Promise<HttpAnswer>;

/** The local routes of the table (`core/routes.ts`), matched on the raw path. */
const matchRoute = routeMatcher(
  routesOn('local') as [LocalRouteKey, (typeof ROUTES)[LocalRouteKey]][],
);

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

  const handlers: { [K in LocalRouteKey]: LocalRouteHandler } = {
    submitAction: (m, c, _p, b) => gateway.handleAction(m, c, b),
    actionStatus: (m, c, p) => gateway.getStatus(m, c, p.request_id ?? ''),
    listTools: (m, c) => gateway.listTools(m, c),
    dashboardData: (m, c) => gateway.operatorData(m, c, dashboard),
    pendingApprovals: (m, c) => gateway.listPending(m, c),
    decide: (m, c, p, b) =>
      gateway.decide(m, c, p.approval_id ?? '', p.decision === 'approve' ? 'approve' : 'deny', b),
    ...operator,
  };

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
  const track = (p: Promise<void>) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  const connections = new WeakMap<Duplex, ConnectionState>();
  const connectionOf = (socket: Duplex): ConnectionState => {
    let state = connections.get(socket);
    if (!state) {
      state = { pending: new Set(), refused: false };
      connections.set(socket, state);
    }
    return state;
  };

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

  /**
   * Ends a connection Node's HTTP stack no longer drives (its parser failed, or a CONNECT):
   * the answer, well-formed, then the end; destroyed if the peer does not close it soon.
   */
  const answerRaw = (socket: Duplex, requestId: string, answer: HttpAnswer, headOnly = false) => {
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify(answer.body);
    const headers: Record<string, string | number> = {
      ...SECURITY_HEADERS,
      ...answer.headers,
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-request-id': requestId,
      connection: 'close',
    };
    const head = [
      `HTTP/1.1 ${answer.status} ${http.STATUS_CODES[answer.status] ?? 'Error'}`,
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    ].join('\r\n');
    socket.end(`${head}\r\n\r\n${headOnly ? '' : body}`);
    // Reads on (refuseUnparsed paused them), so the peer's FIN closes the connection.
    socket.resume();
  };

  const logRequest = (meta: RequestMeta, status: number, caller: Caller | null) => {
    log.info('request', {
      request_id: meta.requestId,
      route: meta.route,
      status,
      caller: caller?.id ?? null,
      duration_ms: clock.now() - meta.startedAt,
    });
  };

  const handle = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    connection: ConnectionState,
  ) => {
    const startedAt = clock.now();
    const requestId = ids.requestId();
    const method = req.method ?? 'GET';
    // The target exactly as sent; only origin-form is routed, on the raw path (edge.ts).
    const target = req.url ?? '';
    const targetError = checkRequestTarget(target);
    if (targetError) {
      drain(req, connection);
      const meta: RequestMeta = { requestId, route: `${method} (invalid target)`, startedAt };
      const caller = authenticate(req);
      const answer = await gateway.refuseAtEdge(meta, caller, targetError, undefined, {
        request_target: renderTarget(target),
      });
      send(res, requestId, answer);
      logRequest(meta, answer.status, caller);
      return;
    }
    const hostError = checkHost(req);
    if (hostError) {
      drain(req, connection);
      const meta: RequestMeta = { requestId, route: `${method} (no single Host)`, startedAt };
      const caller = authenticate(req);
      const answer = await gateway.refuseAtEdge(meta, caller, hostError, undefined, {
        request_target: renderTarget(target),
      });
      send(res, requestId, answer, true);
      logRequest(meta, answer.status, caller);
      return;
    }
    const query = target.indexOf('?');
    const pathname = query === -1 ? target : target.slice(0, query);
    const page = method === 'GET' ? pages.get(pathname) : undefined;
    if (method === 'GET' && pathname === '/favicon.ico') {
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
    const match = matchRoute(method, pathname);
    const meta: RequestMeta = {
      requestId,
      route: match.kind === 'route' ? match.route.name : `${method} ${pathname.slice(0, 200)}`,
      startedAt,
    };
    const caller = authenticate(req);
    let answer: HttpAnswer;
    let close = false;
    if (match.kind !== 'route') {
      drain(req, connection);
      answer = await gateway.refuseAtEdge(
        meta,
        caller,
        match.kind === 'method'
          ? new AirlockError(
              'method_not_allowed',
              `Use ${match.allowed.method} ${match.allowed.path}.`,
            )
          : notFound(),
      );
    } else if (!caller) {
      drain(req, connection);
      answer = await gateway.refuseAtEdge(
        meta,
        null,
        new AirlockError('unauthorized', UNAUTHORIZED_MESSAGE.local),
      );
    } else if (match.route.jsonBody) {
      const read = await readBody(req, req.headers['content-type'], connection);
      // After a body too large or one the parser refused, the connection cannot be reused.
      if (read.error) close = read.error.code === 'payload_too_large' || !!read.received;
      answer = read.error
        ? await gateway.refuseAtEdge(meta, caller, read.error, read.body, read.received)
        : await handlers[match.key](meta, caller, match.params, read.body ?? '');
      if (match.route.name === CONTROL_ROUTE && answer.status === 200) await settleOthers(req);
    } else {
      drain(req, connection);
      answer = await handlers[match.key](meta, caller, match.params, '');
    }
    send(res, requestId, answer, close);
    logRequest(meta, answer.status, caller);
  };

  /** Each request being handled, by its message: what a kill-switch command waits for. */
  const handling = new Map<http.IncomingMessage, { control: boolean; done: Promise<void> }>();

  /**
   * A kill-switch command answers only once every request already being handled has finished:
   * those see the switch where their data would leave or their write would be sent, so once
   * `contain` has answered no CRM data and no write leaves. Bounded by the longest a request
   * may take; other switch commands are not waited for (two would wait on each other).
   */
  const settleOthers = async (self: http.IncomingMessage) => {
    const others = [...handling]
      .filter(([req, h]) => req !== self && !h.control)
      .map(([, h]) => h.done);
    if (others.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, SETTLE_BOUND_MS);
    });
    await Promise.race([Promise.allSettled(others), bound]);
    clearTimeout(timer);
  };

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const connection = connectionOf(req.socket);
    // 'close' comes once the answer is written, or once the connection is gone.
    const answered = new Promise<void>((resolve) => res.once('close', resolve));
    connection.pending.add(answered);
    void answered.then(() => connection.pending.delete(answered));
    const isControl = `${req.method} ${req.url}` === CONTROL_ROUTE;
    const done = handle(req, res, connection).finally(() => handling.delete(req));
    handling.set(req, {
      control: isControl,
      done: done.then(
        () => undefined,
        () => undefined,
      ),
    });
    track(
      done.catch((err: unknown) => {
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
      }),
    );
  };

  /**
   * A request Node's HTTP parser refused (a bad byte, headers over 16 KB, a smuggling shape,
   * an invalid chunk size, an unknown method...) or did not receive in time. No route runs,
   * yet it gets its request id and its one audit record like any other, then a well-formed
   * answer on the raw socket, and the connection is closed.
   */
  const refuseUnparsed = async (
    err: Error & { code?: unknown; rawPacket?: unknown },
    socket: Duplex,
  ) => {
    const connection = connectionOf(socket);
    // Node reports the same failure again for each later read of this connection; the first
    // report is the one request.
    if (connection.refused) return;
    const code = typeof err.code === 'string' ? err.code : 'unknown';
    const raw = Buffer.isBuffer(err.rawPacket) ? err.rawPacket : undefined;
    if (!code.startsWith('HPE_') && code !== 'ERR_HTTP_REQUEST_TIMEOUT' && !raw?.length) {
      // A connection reset or a failed write (ECONNRESET, EPIPE...) with no bytes of a new
      // request: there is no request to audit, so no record. A request a route is handling on
      // this connection still gets its own: its body read fails and is refused.
      socket.destroy();
      return;
    }
    connection.refused = true;
    const failure: ParserFailure = {
      error: parserRefusal(code),
      received: renderReceived(raw, code),
    };
    if (connection.draining && !connection.draining.complete) {
      // In the body of a request that has (or is getting) its one record and answer: no second
      // request here. The connection closes once that answer is written.
      socket.pause();
      while (connection.pending.size > 0) await Promise.allSettled([...connection.pending]);
      socket.destroy();
      return;
    }
    if (connection.reading && !connection.reading.req.complete) {
      // The failure is in the body a route is reading: that request's record and answer carry it.
      connection.reading.fail(failure);
      return;
    }
    // Node's server ends the socket itself when the client's FIN comes and no response of its
    // own is pending (httpAllowHalfOpen keeps it open only for those), which would drop this
    // answer, written after its record. Reading waits, FIN included, until it is written.
    socket.pause();
    const meta: RequestMeta = {
      requestId: ids.requestId(),
      route: '(unparsed)',
      startedAt: clock.now(),
    };
    const answer = await gateway.refuseAtEdge(
      meta,
      null,
      failure.error,
      undefined,
      failure.received,
    );
    logRequest(meta, answer.status, null);
    // Answers to earlier requests on this connection go first: bytes written now would be
    // read as theirs.
    while (connection.pending.size > 0) await Promise.allSettled([...connection.pending]);
    // An answer to HEAD has no body (the client would read the body as the next answer).
    answerRaw(socket, meta.requestId, answer, /^HEAD /i.test(raw?.toString('latin1', 0, 5) ?? ''));
  };

  /** CONNECT (authority-form): this is no proxy. Refused like any other bad target. */
  const refuseConnect = async (req: http.IncomingMessage, socket: Duplex) => {
    // Node hands the socket over without its error handler: a reset must not crash the process.
    socket.on('error', () => socket.destroy());
    socket.resume();
    const meta: RequestMeta = {
      requestId: ids.requestId(),
      route: `${req.method ?? 'CONNECT'} (invalid target)`,
      startedAt: clock.now(),
    };
    const caller = authenticate(req);
    const answer = await gateway.refuseAtEdge(meta, caller, invalidRequestTarget(), undefined, {
      request_target: renderTarget(req.url ?? ''),
    });
    logRequest(meta, answer.status, caller);
    answerRaw(socket, meta.requestId, answer);
  };

  const guard = (what: string, socket: Duplex) => (err: unknown) => {
    log.error(`unhandled error refusing ${what}`, {
      error: err instanceof Error ? err.message : String(err),
    });
    socket.destroy();
  };

  const server = http.createServer(
    {
      connectionsCheckingInterval: options.timeouts?.checkIntervalMs ?? 30_000,
      // Node would answer a missing Host itself, with no request id and no record: checkHost.
      requireHostHeader: false,
    },
    onRequest,
  );
  // A client that half-closes its side after sending a request still gets its answer (Node's
  // server would otherwise end the socket on the client's FIN and drop the answer).
  (server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  server.headersTimeout = options.timeouts?.headersMs ?? 10_000;
  server.requestTimeout = options.timeouts?.requestMs ?? 30_000;
  server.on('clientError', (err: Error, socket: Duplex) => {
    track(refuseUnparsed(err, socket).catch(guard('a request the parser refused', socket)));
  });
  server.on('connect', (req: http.IncomingMessage, socket: Duplex) => {
    track(refuseConnect(req, socket).catch(guard('a CONNECT', socket)));
  });
  // An `Expect` other than 100-continue: Node would answer 417 itself, unaudited. The request
  // is handled like any other (RFC 9110 §10.1.1 lets a server ignore what it does not meet).
  server.on('checkExpectation', onRequest);

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

/**
 * An HTTP/1.1 request must carry exactly one Host (RFC 9112 §3.2); two are a smuggling shape.
 * Refused here rather than by Node, so that the request keeps its id and its record.
 */
function checkHost(req: http.IncomingMessage): AirlockError | null {
  let hosts = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]?.toLowerCase() === 'host') hosts += 1;
  }
  if (hosts === 1 || (hosts === 0 && req.httpVersion !== '1.1')) return null;
  return new AirlockError(
    'malformed_request',
    `An HTTP/1.1 request carries exactly one Host header; this one has ${hosts}.`,
  );
}

function drain(req: http.IncomingMessage, connection?: ConnectionState): void {
  if (connection) connection.draining = req;
  let seen = 0;
  req.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > DRAIN_LIMIT) req.destroy();
  });
  req.resume();
}

/**
 * Reads a JSON body within the size limit (413 above it); refuses other content types (415).
 * While it reads, a failure of Node's parser on this connection (a bad chunk, a timeout) ends
 * the read with that refusal and what was received, so the request keeps its one record.
 */
async function readBody(
  req: http.IncomingMessage,
  contentType: string | undefined,
  connection: ConnectionState,
): Promise<{ body?: string; error?: AirlockError; received?: Record<string, unknown> }> {
  const typeError = checkContentType(contentType);
  if (typeError) {
    drain(req, connection);
    return { error: typeError };
  }
  const declared = Number(req.headers['content-length']);
  const declaredError = Number.isFinite(declared) ? checkBodySize(declared) : null;
  if (declaredError) {
    drain(req, connection);
    return { error: declaredError };
  }
  return new Promise((resolve) => {
    let done = false;
    const finish = (result: {
      body?: string;
      error?: AirlockError;
      received?: Record<string, unknown>;
    }) => {
      if (done) return;
      done = true;
      if (connection.reading === reading) connection.reading = undefined;
      resolve(result);
    };
    const reading = {
      req,
      fail: (failure: ParserFailure) =>
        finish({ error: failure.error, received: failure.received }),
    };
    connection.reading = reading;
    // 'stop': refused as soon as the cap is passed, the rest drained (bounded). Handled in the
    // tick that settles the read, so a parser failure right after it sees the drain.
    void readBoundedBody(req, {
      maxBytes: MAX_BODY_BYTES,
      overLimit: 'stop',
      onSettled: (read) => {
        if (done) return;
        if (read.kind === 'body') {
          finish({ body: read.body });
        } else if (read.kind === 'too_large') {
          finish({ error: checkBodySize(read.bytes) ?? undefined });
          drain(req, connection);
        } else {
          finish({
            error: new AirlockError('validation_failed', 'The request body could not be read.'),
          });
        }
      },
    });
  });
}
