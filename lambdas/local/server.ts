import http from 'node:http';
import type { Duplex } from 'node:stream';
import { checkRequestTarget, notFound, renderTarget, UNAUTHORIZED_MESSAGE } from '../core/edge';
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
import {
  type ConnectionState,
  checkHost,
  connectionStates,
  drain,
  loadPages,
  PAGE_CSP,
  readBody,
  SECURITY_HEADERS,
  sendJson,
} from './http-wire';
import { callerOf } from './keys';
import { rawRefusals } from './raw-refusals';

/** The route of the kill-switch commands. */
const CONTROL_ROUTE = ROUTES.operatorControl.name;
/** The longest a kill-switch command waits for the requests in flight (past any deadline). */
const SETTLE_BOUND_MS = 15_000;

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
  const pages = loadPages();
  const connectionOf = connectionStates();
  const authenticate = (req: http.IncomingMessage) => callerOf(req.headers.authorization, keys);

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

  const inFlight = new Set<Promise<void>>();
  const track = (p: Promise<void>) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
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
    // A target that is not origin-form, or not exactly one Host: refused before any route.
    const early = [
      { error: checkRequestTarget(target), route: 'invalid target', close: false },
      { error: checkHost(req), route: 'no single Host', close: true },
    ].find((c) => c.error !== null);
    if (early?.error) {
      drain(req, connection);
      const meta: RequestMeta = { requestId, route: `${method} (${early.route})`, startedAt };
      const caller = authenticate(req);
      const answer = await gateway.refuseAtEdge(meta, caller, early.error, undefined, {
        request_target: renderTarget(target),
      });
      sendJson(res, requestId, answer, early.close);
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
    sendJson(res, requestId, answer, close);
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
  const { refuseUnparsed, refuseConnect } = rawRefusals({
    gateway,
    ids,
    clock,
    authenticate,
    logRequest,
    connectionOf,
  });
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
