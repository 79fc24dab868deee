import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jsonLogger } from '../../lambdas/adapters/json-logger';
import { readAuditLog } from '../../lambdas/adapters/local/audit-verify';
import { type LocalApp, type LocalAppOverrides, startLocalApp } from '../../lambdas/local/app';
import { loadConfig } from '../../lambdas/local/config';

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: Record<string, unknown>;
}

export interface TestApp {
  app: LocalApp;
  /** Every log line the app wrote. */
  logs: string[];
  /** Every raw response text this helper received. */
  responses: string[];
  call(
    method: string,
    route: string,
    options?: {
      key?: string | null;
      body?: unknown;
      raw?: string;
      headers?: Record<string, string>;
    },
  ): Promise<Answer>;
  /** POST /v1/actions with the agent key. */
  act(action: Record<string, unknown>, envelope?: Record<string, unknown>): Promise<Answer>;
  audit(): ReturnType<typeof readAuditLog>;
  close(): Promise<void>;
}

/**
 * Limits high enough not to matter: tests of other behaviour make many quick reads as one user.
 * The limits have their own tests, which set them.
 */
export const NO_LIMITS = {
  AIRLOCK_READS_PER_MINUTE: '1000000',
  AIRLOCK_READS_PER_HOUR: '1000000',
  AIRLOCK_DISTINCT_RECORDS_PER_HOUR: '1000000',
  AIRLOCK_HUBSPOT_SEARCH_PER_SECOND: '1000000',
  AIRLOCK_HUBSPOT_CALLS_PER_TEN_SECONDS: '1000000',
};

/** Starts the real local app (server, emulator, file audit log) in a fresh data dir. */
export async function startTestApp(
  env: Record<string, string> = {},
  overrides: LocalAppOverrides = {},
): Promise<TestApp> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'airlock-test-'));
  const logs: string[] = [];
  const responses: string[] = [];
  const app = await startLocalApp(
    loadConfig({ PORT: '0', AIRLOCK_DATA_DIR: dataDir, ...NO_LIMITS, ...env }),
    {
      log: jsonLogger((line) => logs.push(line)),
      ...overrides,
    },
  );
  const call: TestApp['call'] = async (method, route, options = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    const key = options.key === undefined ? app.keys.apiKey : options.key;
    if (key !== null) headers.authorization = `Bearer ${key}`;
    let body: string | undefined = options.raw;
    if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined && !headers['content-type'])
      headers['content-type'] = 'application/json';
    const res = await fetch(`${app.url}${route}`, { method, headers, body });
    const text = await res.text();
    responses.push(text);
    let parsed: Record<string, unknown> = {};
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      parsed = {};
    }
    return { status: res.status, headers: res.headers, text, body: parsed };
  };
  return {
    app,
    logs,
    responses,
    call,
    act: (action, envelope = {}) =>
      call('POST', '/v1/actions', {
        body: { user_id: 'u-42', agent_prompt: 'Help me with the CRM.', ...envelope, action },
      }),
    audit: () => readAuditLog(app.auditDir),
    async close() {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The error code of an answer's body, if it has one. */
export function errorCode(body: Record<string, unknown>): string | undefined {
  return (body.error as { code?: string } | undefined)?.code;
}
