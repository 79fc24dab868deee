import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { AirlockClient } from '../../lambdas/client';
import { CATALOG } from '../../lambdas/core/catalog';
import { DEMO } from '../../lambdas/emulator/seed';
import { type McpHttp, STATUS_TOOL, startMcpHttp } from '../../lambdas/mcp/server';
import { startTestApp, type TestApp } from '../helpers/local-app';

const USER = 'u-mcp-http';
const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'raw-http', version: '0' },
  },
});

/** A raw POST, so the Host header can be set to anything (fetch would not let us). */
function post(
  url: string,
  headers: Record<string, string>,
  /** The request target exactly as sent (a URL string would have its dot segments removed). */
  path?: string,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        ...(path === undefined ? {} : { path }),
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
        },
      },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => {
          body += chunk.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(INITIALIZE);
  });
}

describe('the MCP server over Streamable HTTP, in process, against local mode', () => {
  let t: TestApp;
  let mcp: McpHttp;
  let client: Client;
  const key = `mk_${randomBytes(24).toString('base64url')}`;
  const logs: string[] = [];

  beforeAll(async () => {
    t = await startTestApp();
    const airlock = AirlockClient.local({ apiKey: t.app.keys.apiKey, url: t.app.url });
    mcp = await startMcpHttp({
      client: airlock,
      userId: USER,
      catalog: await airlock.listTools(),
      port: 0,
      key,
      log: (line) => logs.push(line),
    });
    client = new Client({ name: 'airlock-http-test', version: '2.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(mcp.url), {
        requestInit: { headers: { authorization: `Bearer ${key}` } },
      }),
    );
  });

  afterAll(async () => {
    await client?.close();
    await mcp?.close();
    await t?.close();
  });

  it('serves on the loopback at /mcp', () => {
    expect(mcp.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
  });

  it('lists the gateway tools and its own status tool', async () => {
    const { tools } = await client.listTools();

    expect(tools.map((tool) => tool.name).sort()).toEqual(
      [...CATALOG.map((a) => a.name), STATUS_TOOL].sort(),
    );
  });

  it('answers a read and holds a write, naming the client that made the calls', async () => {
    const read = (await client.callTool({
      name: 'search_contact',
      arguments: { email: DEMO.acmeContactEmail },
    })) as CallToolResult;
    const write = (await client.callTool({
      name: 'create_note',
      arguments: { company_id: DEMO.acmeCompanyId, body: 'Renewal call booked.' },
    })) as CallToolResult;

    expect(read.structuredContent).toMatchObject({
      status: 'completed',
      data: { contacts: [{ id: DEMO.acmeContactId, email: DEMO.acmeContactEmail }] },
    });
    const pending = write.structuredContent as { request_id: string; status_url: string };
    expect(pending).toMatchObject({ status: 'pending_approval' });
    const records = await t.audit();
    const writeRecord = records.find((r) => r.request_id === pending.request_id);
    expect(writeRecord).toMatchObject({
      user_id: USER,
      agent_prompt: '(via MCP client airlock-http-test 2.0.0)',
      outcome: 'pending_approval',
    });
    expect(logs).toContain(`create_note ${pending.request_id}: pending_approval`);
  });

  it('refuses a request whose Host is not the loopback (DNS rebinding)', async () => {
    const res = await post(mcp.url, {
      host: 'attacker.example:80',
      authorization: `Bearer ${key}`,
    });

    expect(res.status).toBe(403);
    expect(res.body).toContain('attacker.example');
  });

  it('refuses a request from a foreign Origin', async () => {
    const res = await post(mcp.url, {
      origin: 'https://attacker.example',
      authorization: `Bearer ${key}`,
    });

    expect(res.status).toBe(403);
  });

  it('answers 401 without the MCP key or with another one', async () => {
    const without = await post(mcp.url, {});
    const wrong = await post(mcp.url, { authorization: `Bearer ${key}x` });

    expect(without.status).toBe(401);
    expect(without.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(wrong.status).toBe(401);
  });

  it.each(['//attacker.example/mcp', '/x/../mcp', '/./mcp', '/%2e/mcp', '//mcp'])(
    'refuses the request target %s instead of reading it as /mcp',
    async (target) => {
      const res = await post(mcp.url, { authorization: `Bearer ${key}` }, target);

      expect(res.status).toBe(400);
      expect(res.headers['mcp-session-id']).toBeUndefined();
    },
  );

  it('opens a session for a loopback request with the key', async () => {
    const res = await post(mcp.url, {
      host: `localhost:${new URL(mcp.url).port}`,
      authorization: `Bearer ${key}`,
      origin: 'http://localhost:6274',
    });

    expect(res.status).toBe(200);
    expect(res.headers['mcp-session-id']).toEqual(expect.any(String));
    expect(JSON.parse(res.body)).toMatchObject({ result: { serverInfo: { name: 'crm-airlock' } } });
  });
});

describe('the MCP server over Streamable HTTP, sessions', () => {
  it('closes a session nobody used for its idle time, so a client that left holds none', async () => {
    const t = await startTestApp();
    const airlock = AirlockClient.local({ apiKey: t.app.keys.apiKey, url: t.app.url });
    const key = `mk_${randomBytes(24).toString('base64url')}`;
    const mcp = await startMcpHttp({
      client: airlock,
      userId: USER,
      catalog: await airlock.listTools(),
      port: 0,
      key,
      idleMs: 50,
      log: () => undefined,
    });
    try {
      const opened = await post(mcp.url, { authorization: `Bearer ${key}` });
      const session = String(opened.headers['mcp-session-id']);
      expect(opened.status).toBe(200);

      // Each check uses the session (and so keeps it alive): checks come 200 ms apart, four idle
      // times, while the sweep runs every 25 ms. 5 s is only a bound.
      let status = 0;
      for (const started = Date.now(); status !== 404 && Date.now() - started < 5000; ) {
        await new Promise((r) => setTimeout(r, 200));
        status = (
          await post(mcp.url, { authorization: `Bearer ${key}`, 'mcp-session-id': session })
        ).status;
      }

      expect(status).toBe(404);
    } finally {
      await mcp.close();
      await t.close();
    }
  });
});
