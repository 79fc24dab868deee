/**
 * What the local server answers on a raw socket: a request Node's HTTP parser refused (or did
 * not receive in time) and a CONNECT. No route runs, yet each gets its request id and its one
 * audit record, like any other request, then a well-formed answer, and the connection closes.
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { invalidRequestTarget, parserRefusal, renderReceived, renderTarget } from '../core/edge';
import type { Caller, Gateway, RequestMeta } from '../core/gateway';
import type { Clock, IdSource } from '../core/ports';
import { answerRaw, type ConnectionState, type ParserFailure } from './http-wire';

export interface RawRefusalDeps {
  gateway: Gateway;
  ids: IdSource;
  clock: Clock;
  authenticate(req: http.IncomingMessage): Caller | null;
  logRequest(meta: RequestMeta, status: number, caller: Caller | null): void;
  connectionOf(socket: Duplex): ConnectionState;
}

export function rawRefusals(deps: RawRefusalDeps) {
  const { gateway, ids, clock, authenticate, logRequest, connectionOf } = deps;
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

  return { refuseUnparsed, refuseConnect };
}
