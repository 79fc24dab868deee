import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { HubSpotAdapter } from '../adapters/hubspot/hubspot-adapter';
import { randomIds } from '../adapters/ids';
import { jsonLogger } from '../adapters/json-logger';
import { FileApprovalStore } from '../adapters/local/approval-store';
import { ControlFile } from '../adapters/local/control-file';
import { FileAuditLog } from '../adapters/local/file-audit-log';
import { LocalMetrics } from '../adapters/local/local-metrics';
import { MemoryRateLimiter } from '../adapters/local/memory-rate-limiter';
import { tokenScopes } from '../core/catalog';
import { AirlockError, asAirlockError } from '../core/errors';
import { Gateway } from '../core/gateway';
import { observedAudit } from '../core/metrics';
import { Operator } from '../core/operator';
import type { AuditSink, Clock, Logger, RateLimiter, TokenProvider } from '../core/ports';
import { type Emulator, type EmulatorOptions, startEmulator } from '../emulator/server';
import { checkHubSpotToken, rotateLocal } from '../ops/rotate';
import type { LocalConfig } from './config';
import { loadKeys } from './keys';
import { operatorRoutes } from './operator-routes';
import { createLocalServer } from './server';

/** The scopes each local token gets in the emulator: exactly the catalog's (`tokenScopes()`). */
export const READ_SCOPES: string[] = tokenScopes().read;
export const WRITE_SCOPES: string[] = tokenScopes().write;

export interface LocalApp {
  url: string;
  keys: {
    apiKey: string;
    approverKey: string;
    operatorKey: string;
    generated: { apiKey: boolean; approverKey: boolean; operatorKey: boolean };
  };
  dataDir: string;
  auditDir: string;
  hubspot: { kind: 'emulator' | 'remote'; url: string };
  /** The emulator, when local mode runs one (tests use it to inject faults). */
  emulator?: Emulator;
  gateway: Gateway;
  control: ControlFile;
  /** Every secret this process holds, for leak scans in tests. */
  secrets(): string[];
  close(): Promise<void>;
}

export interface LocalAppOverrides {
  log?: Logger;
  clock?: Clock;
  /** Wraps the audit sink (tests use it to make the sink fail). */
  wrapAudit?: (sink: AuditSink) => AuditSink;
  /** How often expired approvals are swept. @default 5000 */
  sweepIntervalMs?: number;
  /** The rate-limit counters (tests use it to make the store fail). @default in memory */
  limiter?: RateLimiter;
  /** Rate limits of the embedded emulator. @default HubSpot's (100 per 10 s, search 5 per s) */
  emulatorRateLimits?: EmulatorOptions['rateLimits'];
  /** The embedded emulator's CRM. @default the demo CRM */
  emulatorSeed?: EmulatorOptions['seed'];
}

const systemClock: Clock = { now: () => Date.now() };

const ids = randomIds;

/** Builds the local adapters around the core and serves it on 127.0.0.1. */
export async function startLocalApp(
  config: LocalConfig,
  overrides: LocalAppOverrides = {},
): Promise<LocalApp> {
  const clock = overrides.clock ?? systemClock;
  await fs.mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const keys = await loadKeys(config.dataDir, {
    apiKey: config.apiKey,
    approverKey: config.approverKey,
    operatorKey: config.operatorKey,
  });

  let emulator: Emulator | undefined;
  let tokens: { read: string; write: string | null };
  let baseUrl: string;
  if (config.hubspot.kind === 'emulator') {
    const read = `emu-read-${randomBytes(16).toString('hex')}`;
    const write = `emu-write-${randomBytes(16).toString('hex')}`;
    tokens = { read, write };
    emulator = await startEmulator({
      tokens: { [read]: READ_SCOPES, [write]: WRITE_SCOPES },
      rateLimits: overrides.emulatorRateLimits,
      seed: overrides.emulatorSeed,
    });
    baseUrl = emulator.url;
  } else {
    tokens = { read: config.hubspot.readToken, write: config.hubspot.writeToken };
    baseUrl = config.hubspot.baseUrl;
  }
  /** Tokens rotated out: still secrets (redacted, refused in requests), no longer used. */
  const retired: string[] = [];
  const secrets = () =>
    [keys.apiKey, keys.approverKey, tokens.read, tokens.write, keys.operatorKey, ...retired].filter(
      (s): s is string => !!s,
    );
  const log = overrides.log ?? jsonLogger(undefined, secrets);
  const tokenProvider: TokenProvider = {
    get: async (kind) => {
      const token = kind === 'read' ? tokens.read : tokens.write;
      if (!token) throw new AirlockError('secrets_unavailable', `No HubSpot ${kind} token is set.`);
      return token;
    },
  };

  const auditDir = path.join(config.dataDir, 'audit');
  // Refuses (AuditLogRefused, a message saying what to do) a log that was cut or replaced.
  const auditLog = await FileAuditLog.open(auditDir);
  if (auditLog.recovered) {
    log.warn('audit log recovered after a crash: HEAD moved over whole records after it', {
      head_was: auditLog.recovered.from,
      head_now: auditLog.recovered.to,
    });
  }
  const metrics = new LocalMetrics(config.alarmThresholds);
  // Metrics come from the audit records: each record written is counted, each failure too.
  const audit = observedAudit(
    overrides.wrapAudit ? overrides.wrapAudit(auditLog) : auditLog,
    metrics,
    () => clock.now(),
  );
  const limiter: RateLimiter = overrides.limiter ?? new MemoryRateLimiter();
  const approvals = await FileApprovalStore.open(path.join(config.dataDir, 'approvals.json'));
  const control = new ControlFile(path.join(config.dataDir, 'control.json'));

  let publicUrl = '';
  const hubspot = new HubSpotAdapter({
    tokens: tokenProvider,
    basePath: baseUrl,
    now: () => clock.now(),
  });
  const gateway = new Gateway({
    hubspot,
    audit,
    approvals,
    control,
    clock,
    ids,
    log,
    secrets,
    limiter,
    config: {
      limits: config.limits,
      promptMode: config.promptMode,
      allowedActions: config.allowedActions,
      requestDeadlineMs: config.requestDeadlineMs,
      approvalTtlMs: config.approvalTtlMs,
      userApprovers: config.userApprovers,
      statusUrl: (requestId) => `${publicUrl}/v1/actions/${requestId}`,
    },
  });
  await gateway.failInterrupted();

  const dashboard = async () => {
    const pending = await approvals.listByStatus('pending_approval');
    return {
      ...metrics.snapshot(
        clock.now(),
        pending.map((a) => Date.parse(a.created_at)),
      ),
    };
  };
  const operator = new Operator({ control, approvals, audit, clock, log, secrets });
  const operatorApi = operatorRoutes({
    gateway,
    operator,
    lastHour: async () => {
      const d = await dashboard();
      const sum = (k: 'Requests' | 'Rejections' | 'RecordsReturned') =>
        d.minutes.reduce((n, m) => n + (m[k] ?? 0), 0);
      return {
        requests: sum('Requests'),
        rejections: sum('Rejections'),
        records_returned: sum('RecordsReturned'),
        rejections_by_reason: d.rejections_by_reason,
        top_readers: d.top_readers,
        alarms: d.alarms.map((a) => ({
          id: a.id,
          state: a.state,
          value: a.value,
          threshold: a.threshold,
        })),
      };
    },
    rotate: (which, token) =>
      rotateLocal({
        which,
        token,
        baseUrl,
        current: (w) => tokens[w],
        swap: (w, next) => {
          const old = tokens[w];
          if (old && !retired.includes(old)) retired.push(old);
          tokens = { ...tokens, [w]: next };
        },
        // One live call through the gateway's own adapter, with the token it now holds.
        confirm: async (w) => {
          if (w === 'write') {
            // A write would change the CRM: the live call asks HubSpot about the token instead.
            const held = tokens.write;
            if (!held) return { ok: false, detail: 'no write token is held' };
            const check = await checkHubSpotToken({ token: held, which: 'write', baseUrl });
            return check.ok
              ? {
                  ok: true,
                  detail: `HubSpot knows the write token the gateway now holds: ${check.detail}`,
                }
              : { ok: false, detail: check.reason };
          }
          try {
            await hubspot.search(
              'contacts',
              { filterGroups: [], properties: ['email'], limit: 1 },
              { deadline: clock.now() + config.requestDeadlineMs, calls: [] },
            );
            return { ok: true, detail: 'a contacts search with the new token succeeded' };
          } catch (err) {
            return { ok: false, detail: `the live call failed: ${asAirlockError(err).code}` };
          }
        },
        ...(emulator ? { revokeOld: (old: string) => emulator?.revokeToken(old) } : {}),
      }),
    ...(emulator
      ? {
          mintEmulatorToken: (which: 'read' | 'write') => {
            const current = tokens[which];
            if (!current)
              throw new AirlockError('secrets_unavailable', `No ${which} token is set.`);
            return emulator.mintToken(current);
          },
        }
      : {}),
  });
  const local = createLocalServer({
    gateway,
    keys,
    ids,
    clock,
    log,
    dashboard,
    operator: operatorApi,
  });
  await new Promise<void>((resolve, reject) => {
    local.server.once('error', reject);
    local.server.listen(config.port, '127.0.0.1', () => resolve());
  });
  const port = (local.server.address() as AddressInfo).port;
  publicUrl = `http://127.0.0.1:${port}`;

  const sweeper = setInterval(() => {
    gateway.sweepExpired().catch((err: unknown) => {
      log.error('expiring approvals failed', {
        error: err instanceof Error ? err.message : String(err),
      });
    });
  }, overrides.sweepIntervalMs ?? 5000);
  sweeper.unref();

  let closing: Promise<void> | undefined;
  return {
    url: publicUrl,
    keys,
    dataDir: config.dataDir,
    auditDir,
    hubspot: { kind: config.hubspot.kind, url: baseUrl },
    emulator,
    gateway,
    control,
    secrets,
    close() {
      closing ??= (async () => {
        clearInterval(sweeper);
        await local.close();
        await auditLog.close();
        await emulator?.close();
      })();
      return closing;
    },
  };
}
