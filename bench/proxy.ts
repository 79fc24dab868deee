import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BareProxy {
  url: string;
  close(): Promise<void>;
}

/**
 * The baseline: a bare pass-through HTTP proxy. Every request, whatever its path, is forwarded
 * to `upstream` + `path` with the proxy's own bearer token (so the caller holds no HubSpot
 * credential, as with the gateway), and the answer is piped back. Nothing is parsed.
 */
export async function startBareProxy(options: {
  upstream: string;
  path: string;
  token: string;
  /** Keep-alive connections to the upstream. */
  sockets: number;
}): Promise<BareProxy> {
  const target = new URL(options.path, options.upstream);
  const agent = new http.Agent({
    keepAlive: true,
    maxSockets: options.sockets,
    maxFreeSockets: options.sockets,
  });
  const server = http.createServer((req, res) => {
    const headers: http.OutgoingHttpHeaders = {
      authorization: `Bearer ${options.token}`,
      'content-type': req.headers['content-type'] ?? 'application/json',
    };
    if (req.headers['content-length']) headers['content-length'] = req.headers['content-length'];
    const upstream = http.request(
      target,
      { agent, method: req.method ?? 'POST', headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('upstream failed');
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}
