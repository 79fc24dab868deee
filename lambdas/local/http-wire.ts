/**
 * The local server's wire: answers written on a response or on a raw socket, the security
 * headers, the static pages, and the reading (or draining) of a request's body within the
 * bounds, with what the server tracks of each connection. No rule of the gateway is here.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { readBoundedBody } from '../adapters/http-kit';
import { checkBodySize, checkContentType, MAX_BODY_BYTES } from '../core/edge';
import { AirlockError, type HttpAnswer } from '../core/errors';

/** A body larger than this is not even drained: the connection is closed. */
const DRAIN_LIMIT = 1024 * 1024;

/** How long a refused connection may stay open after its answer before it is destroyed. */
const LINGER_MS = 2000;

/** A request Node's parser refused: its refusal and what the audit record keeps of it. */
export interface ParserFailure {
  error: AirlockError;
  received: Record<string, unknown>;
}

/** What the server tracks of one connection, beyond Node's own state. */
export interface ConnectionState {
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

/** The connections' state, kept as long as their sockets live. */
export function connectionStates(): (socket: Duplex) => ConnectionState {
  const connections = new WeakMap<Duplex, ConnectionState>();
  return (socket) => {
    let state = connections.get(socket);
    if (!state) {
      state = { pending: new Set(), refused: false };
      connections.set(socket, state);
    }
    return state;
  };
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

export const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The static pages, read once, by their route. */
export function loadPages(): Map<string, { body: Buffer; type: string }> {
  const pages = new Map<string, { body: Buffer; type: string }>();
  for (const [route, { file, type }] of Object.entries(STATIC)) {
    pages.set(route, { body: readFileSync(path.join(__dirname, file)), type });
  }
  return pages;
}

/** Writes `answer` as JSON with the security headers and the request id. */
export function sendJson(
  res: http.ServerResponse,
  requestId: string,
  answer: HttpAnswer,
  close = false,
): void {
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
}

/**
 * Ends a connection Node's HTTP stack no longer drives (its parser failed, or a CONNECT):
 * the answer, well-formed, then the end; destroyed if the peer does not close it soon.
 */
export function answerRaw(
  socket: Duplex,
  requestId: string,
  answer: HttpAnswer,
  headOnly = false,
): void {
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
}

/**
 * An HTTP/1.1 request must carry exactly one Host (RFC 9112 §3.2); two are a smuggling shape.
 * Refused here rather than by Node, so that the request keeps its id and its record.
 */
export function checkHost(req: http.IncomingMessage): AirlockError | null {
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

export function drain(req: http.IncomingMessage, connection?: ConnectionState): void {
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
export async function readBody(
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
