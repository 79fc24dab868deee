/**
 * `airlock-mcp`: CRM Airlock's tools for an MCP client (a desktop assistant, an IDE), over stdio
 * (the client starts this process) or Streamable HTTP on the loopback. It finds the gateway as
 * the operator CLI does: local mode by default, or the deployed API with `--api-url`.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { AirlockApiError, AirlockClient, type ToolList } from '../client';
import { canonicalUserId } from '../core/identity';
import { keysFile } from '../local/keys';
import { createMcpServer, STATUS_TOOL, startMcpHttp } from './server';

export const USAGE = `usage: airlock-mcp [--local] [--url URL] [--data-dir DIR] [--http [--port N]]
       airlock-mcp --api-url API_URL [--region REGION] [--http [--port N]]

Serves CRM Airlock's tools to an MCP client, over stdio unless --http is given.

  --local           the local gateway (npm start), the default. Its URL: --url, AIRLOCK_URL,
                    else http://127.0.0.1:$PORT (8787). The agent key: AIRLOCK_API_KEY, else
                    api_key in <data dir>/keys.json (--data-dir, AIRLOCK_DATA_DIR, else .airlock)
  --api-url URL     the deployed API (the stack's ApiUrl; or AIRLOCK_API_URL), signed with SigV4
                    from the AWS default credential chain; --region if not in the URL
  --http            Streamable HTTP at http://127.0.0.1:PORT/mcp instead of stdio
  --port N          the HTTP port (or AIRLOCK_MCP_PORT), default 8788

Environment:
  AIRLOCK_USER_ID       required: the person the MCP client acts for (the audit user_id)
  AIRLOCK_CATALOG_HASH  optional: refuse to start unless the gateway's catalog has this hash
  AIRLOCK_MCP_KEY       optional, --http: require Authorization: Bearer <this key>
`;

/** What the server runs against and how it is reached, checked once at start. */
export interface McpConfig {
  gateway:
    | { kind: 'local'; url: string; apiKey: string }
    | { kind: 'aws'; apiUrl: string; region?: string };
  userId: string;
  catalogHash: string | null;
  transport: { kind: 'stdio' } | { kind: 'http'; port: number; key: string };
}

/** A mistake in the arguments or environment: exit 2 with the usage. */
export class UsageError extends Error {}

const OPTIONS = {
  local: { type: 'boolean' },
  url: { type: 'string' },
  'data-dir': { type: 'string' },
  'api-url': { type: 'string' },
  region: { type: 'string' },
  http: { type: 'boolean' },
  port: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Reads the arguments and environment; throws {@link UsageError} on anything wrong. */
export async function resolveConfig(argv: string[], env: NodeJS.ProcessEnv): Promise<McpConfig> {
  let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>['values'];
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }

  const userId = env.AIRLOCK_USER_ID?.trim() ?? '';
  const canonical = canonicalUserId(userId);
  if (!canonical.ok) {
    throw new UsageError(
      `Set AIRLOCK_USER_ID to the person this MCP client acts for (1 to 128 letters, digits or . _ @ + - :, e.g. their Slack user id): the gateway records it on every call. ${userId ? canonical.problem : ''}`.trim(),
    );
  }
  const catalogHash = env.AIRLOCK_CATALOG_HASH?.trim() || null;
  if (catalogHash !== null && !/^[0-9a-f]{64}$/.test(catalogHash)) {
    throw new UsageError(
      'AIRLOCK_CATALOG_HASH must be the 64 hex digits of catalog_hash from GET /v1/tools.',
    );
  }

  const apiUrl = values['api-url'] ?? env.AIRLOCK_API_URL;
  if (values.local && values['api-url'] !== undefined) {
    throw new UsageError('Give --local or --api-url, not both.');
  }
  let gateway: McpConfig['gateway'];
  if (apiUrl && !values.local) {
    gateway = { kind: 'aws', apiUrl, ...(values.region ? { region: values.region } : {}) };
  } else {
    const dataDir = path.resolve(values['data-dir'] ?? env.AIRLOCK_DATA_DIR ?? '.airlock');
    const url = values.url ?? env.AIRLOCK_URL ?? `http://127.0.0.1:${env.PORT ?? '8787'}`;
    const apiKey = env.AIRLOCK_API_KEY || (await readAgentKey(dataDir));
    if (!apiKey) {
      throw new UsageError(
        `No agent key: set AIRLOCK_API_KEY, or start the gateway once (npm start) so it writes ${keysFile(dataDir)} and point --data-dir at that directory (an MCP client may start this server in another working directory).`,
      );
    }
    gateway = { kind: 'local', url, apiKey };
  }

  let transport: McpConfig['transport'] = { kind: 'stdio' };
  if (values.http) {
    const portText = values.port ?? env.AIRLOCK_MCP_PORT ?? '8788';
    const port = Number(portText);
    if (!/^\d+$/.test(portText) || port > 65535) {
      throw new UsageError(`--port must be a port number (got ${portText}).`);
    }
    const key = env.AIRLOCK_MCP_KEY ?? '';
    if (key === '') {
      throw new UsageError(
        '--http needs AIRLOCK_MCP_KEY (at least 24 printable characters): every request must carry it as a bearer key, or any local process could act for AIRLOCK_USER_ID. Give the same key to the MCP client (its Authorization header).',
      );
    }
    if (key.length < 24 || !/^[\x21-\x7e]+$/.test(key)) {
      throw new UsageError(
        'AIRLOCK_MCP_KEY must be at least 24 printable characters without spaces.',
      );
    }
    transport = { kind: 'http', port, key };
  } else if (values.port !== undefined) {
    throw new UsageError('--port goes with --http.');
  }
  return { gateway, userId, catalogHash, transport };
}

/** The agent key local mode saved: `api_key` in `<data dir>/keys.json`, as the gateway wrote it. */
async function readAgentKey(dataDir: string): Promise<string | null> {
  try {
    const saved = JSON.parse(await fs.readFile(keysFile(dataDir), 'utf8')) as { api_key?: unknown };
    return typeof saved.api_key === 'string' ? saved.api_key : null;
  } catch {
    return null;
  }
}

/** The typed client for the configured gateway, pinned to the catalog hash if one is given. */
export function clientFor(config: McpConfig): AirlockClient {
  const pin = config.catalogHash ? { expectedCatalogHash: config.catalogHash } : {};
  return config.gateway.kind === 'local'
    ? AirlockClient.local({ apiKey: config.gateway.apiKey, url: config.gateway.url, ...pin })
    : AirlockClient.aws({
        apiUrl: config.gateway.apiUrl,
        ...(config.gateway.region ? { region: config.gateway.region } : {}),
        ...pin,
      });
}

function where(config: McpConfig): string {
  return config.gateway.kind === 'local' ? config.gateway.url : config.gateway.apiUrl;
}

/** Fetches and pins the catalog; a gateway that is down or has another catalog stops the start. */
async function loadCatalog(client: AirlockClient, config: McpConfig): Promise<ToolList> {
  try {
    return await client.listTools();
  } catch (err) {
    if (err instanceof AirlockApiError) {
      const hint =
        err.code === 'network_error' && config.gateway.kind === 'local'
          ? ' Is the gateway running (npm start)?'
          : '';
      throw new Error(
        `cannot load the tool catalog from ${where(config)}: ${err.code}: ${err.message}${hint}`,
      );
    }
    throw err;
  }
}

/**
 * Runs the server until its client goes away (stdio: standard input ends) or a signal comes.
 * Every diagnostic goes to standard error: on stdio, standard output is the protocol.
 */
export async function main(
  argv: string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  const log = (line: string) => {
    process.stderr.write(`airlock-mcp: ${line}\n`);
  };
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stderr.write(USAGE);
    return;
  }
  let config: McpConfig;
  try {
    config = await resolveConfig(argv, env);
  } catch (err) {
    log(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
    return;
  }
  if (config.transport.kind === 'stdio') {
    // Standard output carries JSON-RPC: a stray console.log anywhere would corrupt it.
    console.log = console.error;
    console.info = console.error;
    console.debug = console.error;
  }
  try {
    const client = clientFor(config);
    const catalog = await loadCatalog(client, config);
    const names = catalog.tools.map((t) => t.function.name).join(', ');
    log(
      `serving catalog ${catalog.catalog_hash} from ${where(config)} (${names}, and ${STATUS_TOOL}) for user ${config.userId}`,
    );
    if (config.transport.kind === 'http') {
      const served = await startMcpHttp({
        client,
        userId: config.userId,
        catalog,
        port: config.transport.port,
        key: config.transport.key,
        log,
      });
      log(
        `Streamable HTTP at ${served.url}${config.transport.key ? ' (bearer key required)' : ' (no key: any local process may call it; set AIRLOCK_MCP_KEY to require one)'}`,
      );
      const stop = () => {
        served.close().finally(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      return;
    }
    const server = createMcpServer({ client, userId: config.userId, catalog, log });
    const stop = () => {
      server.close().finally(() => process.exit(0));
    };
    // The SDK's stdio transport does not notice its client leaving: end with standard input.
    process.stdin.once('end', stop);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    await server.connect(new StdioServerTransport());
  } catch (err) {
    log(err instanceof Error ? err.message : String(err));
    process.exit(1);
  }
}
