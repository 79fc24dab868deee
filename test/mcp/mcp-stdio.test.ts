import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { ToolList } from '../../lambdas/client';
import { CATALOG } from '../../lambdas/core/catalog';
import { DEMO } from '../../lambdas/emulator/seed';
import { resolveConfig, UsageError } from '../../lambdas/mcp/main';
import { STATUS_TOOL } from '../../lambdas/mcp/server';
import { startTestApp, type TestApp } from '../helpers/local-app';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/airlock-mcp.cjs');
const USER = 'u-mcp-stdio';
const CLIENT_NAME = 'airlock-stdio-test';

const text = (result: CallToolResult) =>
  result.content.map((c) => (c.type === 'text' ? c.text : '')).join('');

describe('the MCP server over stdio, spawned as an MCP client would, against local mode', () => {
  let t: TestApp;
  let client: Client;
  let transport: StdioClientTransport;
  let gateway: ToolList;
  let stderr = '';
  const transportErrors: Error[] = [];

  beforeAll(async () => {
    t = await startTestApp();
    gateway = (await t.call('GET', '/v1/tools')).body as unknown as ToolList;
    transport = new StdioClientTransport({
      command: process.execPath,
      args: [BIN, '--local'],
      cwd: os.tmpdir(),
      env: { AIRLOCK_URL: t.app.url, AIRLOCK_API_KEY: t.app.keys.apiKey, AIRLOCK_USER_ID: USER },
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    client = new Client({ name: CLIENT_NAME, version: '1.2.3' });
    // A line on stdout that is not JSON-RPC fails to parse and lands here.
    client.onerror = (err) => transportErrors.push(err);
    await client.connect(transport);
  });

  afterAll(async () => {
    await client?.close();
    await t?.close();
  });

  const call = async (name: string, args: Record<string, unknown>) =>
    (await client.callTool({ name, arguments: args })) as CallToolResult;

  it('lists every tool of the gateway with its schema unchanged, reads read-only and writes not', async () => {
    const { tools } = await client.listTools();

    const byName = new Map(tools.map((tool) => [tool.name, tool]));
    expect([...byName.keys()].sort()).toEqual(
      [...gateway.tools.map((g) => g.function.name), STATUS_TOOL].sort(),
    );
    for (const g of gateway.tools) {
      const tool = byName.get(g.function.name) as Tool;
      expect(tool.inputSchema).toEqual(g.function.parameters);
      expect(tool.description).toBe(g.function.description);
    }
    for (const spec of CATALOG) {
      const hints = byName.get(spec.name)?.annotations;
      if (spec.kind === 'read') {
        expect(hints).toMatchObject({ readOnlyHint: true, destructiveHint: false });
      } else {
        expect(hints).toMatchObject({
          readOnlyHint: false,
          destructiveHint: false,
          idempotentHint: false,
        });
        expect(byName.get(spec.name)?.title).toMatch(/approval/);
      }
    }
    expect(byName.get(STATUS_TOOL)?.annotations).toMatchObject({ readOnlyHint: true });
    expect(byName.get(STATUS_TOOL)?.description).toMatch(/^Not a CRM action/);
  });

  it('logs the catalog hash it serves on stderr', () => {
    expect(stderr).toContain(`serving catalog ${gateway.catalog_hash}`);
  });

  it("answers a read with the emulator's data", async () => {
    const result = await call('search_company', { domain: 'acme.com', name: null, limit: null });

    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({
      status: 'completed',
      action: 'search_company',
      data: {
        companies: [{ id: DEMO.acmeCompanyId, name: 'Acme Corp', domain: 'acme.com' }],
      },
    });
    expect(JSON.parse(text(result))).toEqual(result.structuredContent);
  });

  it('holds a write for approval, says where to follow it, and the audit names the MCP client', async () => {
    const result = await call('create_note', {
      contact_id: DEMO.acmeContactId,
      company_id: null,
      body: 'Called about the Q3 renewal; follow up Friday.',
    });

    expect(result.isError).toBeFalsy();
    const pending = result.structuredContent as {
      request_id: string;
      status_url: string;
      approval: { id: string; expires_at: string };
    };
    expect(pending).toMatchObject({ status: 'pending_approval', action: 'create_note' });
    expect(pending.status_url).toBe(`${t.app.url}/v1/actions/${pending.request_id}`);
    expect(text(result)).toMatch(/^Pending approval: a person must approve this write/);
    expect(text(result)).toContain(pending.status_url);
    expect(text(result)).toContain(pending.approval.expires_at);
    const record = (await t.audit()).find((r) => r.request_id === pending.request_id);
    expect(record).toMatchObject({ outcome: 'pending_approval', user_id: USER });
    expect(record?.agent_prompt).toBe(`(via MCP client ${CLIENT_NAME} 1.2.3)`);

    const status = await call(STATUS_TOOL, { request_id: pending.request_id });
    expect(status.structuredContent).toMatchObject({
      request_id: pending.request_id,
      status: 'pending_approval',
    });
    expect(text(status)).toMatch(/still waiting for a person's decision/);
  });

  it("returns a refusal as a tool error carrying the gateway's code", async () => {
    const result = await call('search_contact', { email: null, name: null, company: null });

    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({
      error: { code: 'validation_failed', status: 400 },
    });
    expect(text(result)).toMatch(/^Refused by CRM Airlock \(validation_failed, HTTP 400\)/);
    const refused = (await t.audit()).filter((r) => r.outcome === 'rejected');
    expect(refused.at(-1)).toMatchObject({ user_id: USER, reason: 'validation_failed' });
  });

  it('refuses a tool the gateway does not serve as a protocol error', async () => {
    await expect(call('delete_contact', { contact_id: '1' })).rejects.toThrow(/Unknown tool/);
  });

  it('writes nothing but JSON-RPC on stdout', () => {
    expect(transportErrors).toEqual([]);
  });

  it('exits with a clear message, and nothing on stdout, when the catalog is not the pinned one', async () => {
    const pinned = 'f'.repeat(64);
    const child = spawn(process.execPath, [BIN, '--local'], {
      cwd: os.tmpdir(),
      env: {
        PATH: process.env.PATH,
        AIRLOCK_URL: t.app.url,
        AIRLOCK_API_KEY: t.app.keys.apiKey,
        AIRLOCK_USER_ID: USER,
        AIRLOCK_CATALOG_HASH: pinned,
      },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });

    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));

    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err).toContain('catalog_mismatch');
    expect(err).toContain(gateway.catalog_hash);
    expect(err).toContain(pinned);
  });
});

describe('the MCP server configuration', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'airlock-mcp-config-'));
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('refuses to start without AIRLOCK_USER_ID', async () => {
    await expect(resolveConfig(['--local'], { AIRLOCK_API_KEY: 'k' })).rejects.toThrow(UsageError);
    await expect(resolveConfig(['--local'], { AIRLOCK_API_KEY: 'k' })).rejects.toThrow(
      /AIRLOCK_USER_ID/,
    );
  });

  it("takes the agent key from the data directory's keys.json, as the gateway saved it", async () => {
    const t = await startTestApp({}, {});
    try {
      const config = await resolveConfig(['--local', '--data-dir', t.app.dataDir], {
        AIRLOCK_USER_ID: 'u-1',
        PORT: '9999',
      });
      expect(config.gateway).toEqual({
        kind: 'local',
        url: 'http://127.0.0.1:9999',
        apiKey: t.app.keys.apiKey,
      });
      expect(config.transport).toEqual({ kind: 'stdio' });
    } finally {
      await t.close();
    }
  });

  it('names the keys file when there is no agent key', async () => {
    await expect(
      resolveConfig(['--data-dir', dataDir], { AIRLOCK_USER_ID: 'u-1' }),
    ).rejects.toThrow(path.join(dataDir, 'keys.json'));
  });

  it('serves the deployed API with --api-url, and HTTP on the asked port', async () => {
    const config = await resolveConfig(
      [
        '--api-url',
        'https://abc123.execute-api.eu-west-1.amazonaws.com/v1',
        '--http',
        '--port',
        '9000',
      ],
      { AIRLOCK_USER_ID: 'u-1', AIRLOCK_MCP_KEY: 'm'.repeat(32) },
    );
    expect(config.gateway).toEqual({
      kind: 'aws',
      apiUrl: 'https://abc123.execute-api.eu-west-1.amazonaws.com/v1',
    });
    expect(config.transport).toEqual({ kind: 'http', port: 9000, key: 'm'.repeat(32) });
  });

  it('refuses to serve HTTP without a key of its own', async () => {
    await expect(
      resolveConfig(['--http'], { AIRLOCK_USER_ID: 'u-1', AIRLOCK_API_KEY: 'k' }),
    ).rejects.toThrow(/--http needs AIRLOCK_MCP_KEY/);
  });

  it('refuses a pin that is not a catalog hash and a short MCP key', async () => {
    const env = { AIRLOCK_USER_ID: 'u-1', AIRLOCK_API_KEY: 'k' };
    await expect(resolveConfig([], { ...env, AIRLOCK_CATALOG_HASH: 'abc' })).rejects.toThrow(
      /64 hex digits/,
    );
    await expect(resolveConfig(['--http'], { ...env, AIRLOCK_MCP_KEY: 'short' })).rejects.toThrow(
      /at least 24/,
    );
  });
});
