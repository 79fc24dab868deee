/**
 * `npm run bench`: read latency and throughput of the gateway against a bare proxy and a
 * direct HubSpot client, all reading the same HubSpot emulator over loopback. It prints
 * figures; it is not a test (it exits 0 unless the bench itself fails).
 *
 * Settings (environment): BENCH_REQUESTS (2000), BENCH_CONCURRENCY (8), BENCH_WARMUP (300),
 * BENCH_MAX_SECONDS (20, per measured phase), BENCH_SERIAL (300: requests one at a time, per
 * target, after the loaded phases; 0 skips them), BENCH_EMULATOR (`worker` or `main`: the thread
 * the emulator runs in; default `worker`), BENCH_PROFILE (a file name: CPU-profiles the main
 * thread during the gateway's measured phase, writes the .cpuprofile there and prints a summary;
 * the profiler slows the gateway, so its figures are then inflated).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from '@hubspot/api-client';
import { jsonLogger } from '../lambdas/adapters/json-logger';
import { readAuditLog, verifyAuditLog } from '../lambdas/adapters/local/audit-verify';
import { contactSearch } from '../lambdas/core/reads';
import { validateAction } from '../lambdas/core/validate';
import { READ_SCOPES, startLocalApp, WRITE_SCOPES } from '../lambdas/local/app';
import { loadConfig } from '../lambdas/local/config';
import { newKey } from '../lambdas/local/keys';
import { type BenchEmulator, startBenchEmulator } from './emulator-thread';
import { keepAliveAgent, post } from './http';
import { runLoad } from './load';
import { profileReport, withCpuProfile } from './profile';
import { startBareProxy } from './proxy';
import { type Summary, summarize } from './stats';

const TARGET_RATIO = 2;
const SEARCH_PATH = '/crm/v3/objects/contacts/search';

function intSetting(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

const settings = {
  requests: intSetting('BENCH_REQUESTS', 2000, 1),
  concurrency: intSetting('BENCH_CONCURRENCY', 8, 1),
  warmup: intSetting('BENCH_WARMUP', 300, 0),
  maxSeconds: intSetting('BENCH_MAX_SECONDS', 20, 1),
  serial: intSetting('BENCH_SERIAL', 300, 0),
  emulatorInWorker: (process.env.BENCH_EMULATOR ?? 'worker') !== 'main',
  profile: process.env.BENCH_PROFILE || null,
};

/** The agent's request: one read, as an agent would send it. */
const ENVELOPE = {
  user_id: 'bench',
  agent_prompt: 'Find Acme contacts',
  action: { action: 'search_contact', company: 'Acme Corp', limit: 5 },
};

/** The HubSpot search the gateway sends for ENVELOPE.action, built by the gateway's own code. */
function hubspotSearchBody() {
  const action = validateAction(ENVELOPE.action);
  if (action.action !== 'search_contact') {
    throw new Error('the bench action must be a contact search');
  }
  // The HubSpot adapter always sends `sorts` (empty when the core sets none).
  const search = contactSearch(action);
  return {
    filterGroups: search.filterGroups,
    properties: search.properties,
    sorts: search.sorts ?? [],
    limit: search.limit,
  };
}

interface PhaseResult {
  name: string;
  summary: Summary;
  errorCount: number;
  errors: Map<string, number>;
  timedOut: boolean;
  elapsedMs: number;
  /** Main-thread event-loop busy time per successful request, in microseconds. */
  busyUsPerRequest: number;
  /** Process CPU time (all threads) per successful request, in microseconds. */
  cpuUsPerRequest: number;
}

interface PhaseOptions {
  concurrency: number;
  requests: number;
  warmup: number;
  /** Wraps the measured run (e.g. in a profiler). */
  around?: <T>(fn: () => Promise<T>) => Promise<T>;
}

/** Warms `send` up, then measures it. */
async function phase(
  name: string,
  send: () => Promise<void>,
  options: PhaseOptions,
): Promise<PhaseResult> {
  const label = `${name}, ${options.concurrency} in flight`;
  process.stdout.write(`  ${label.padEnd(22)} `);
  if (options.warmup > 0) {
    process.stdout.write(`warm-up ${options.warmup} ... `);
    const warm = await runLoad({
      concurrency: options.concurrency,
      requests: options.warmup,
      maxMs: 10_000,
      send,
    });
    if (warm.errorCount > 0) process.stdout.write(`(${warm.errorCount} warm-up errors) `);
  }
  process.stdout.write(`measuring ${options.requests} ... `);
  const around = options.around ?? ((fn) => fn());
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const run = await around(() =>
    runLoad({
      concurrency: options.concurrency,
      requests: options.requests,
      maxMs: settings.maxSeconds * 1000,
      send,
    }),
  );
  const elu = performance.eventLoopUtilization(elu0);
  const cpu = process.cpuUsage(cpu0);
  const summary = summarize(run.latenciesMs, run.elapsedMs);
  const ok = Math.max(1, summary.count);
  process.stdout.write(`${(run.elapsedMs / 1000).toFixed(1)} s\n`);
  return {
    name,
    summary,
    errorCount: run.errorCount,
    errors: run.errors,
    timedOut: run.timedOut,
    elapsedMs: run.elapsedMs,
    busyUsPerRequest: (elu.active * 1000) / ok,
    cpuUsPerRequest: (cpu.user + cpu.system) / ok,
  };
}

function failure(status: number, text: string): Error {
  return new Error(`HTTP ${status}: ${text.replace(/\s+/g, ' ').slice(0, 160)}`);
}

/** Checks a HubSpot search page; returns its record ids. */
function checkSearchPage(page: unknown): string[] {
  const results = (page as { results?: { id?: unknown }[] } | null)?.results;
  if (!Array.isArray(results) || results.length === 0) {
    throw new Error('search answered 200 without results');
  }
  return results.map((r) => String(r.id));
}

/** Checks a gateway answer; returns the contact ids and the request id. */
function checkGatewayAnswer(text: string): { ids: string[]; requestId: string } {
  const body = JSON.parse(text) as {
    request_id?: string;
    status?: string;
    data?: { contacts?: { id?: unknown }[] };
  };
  const contacts = body.data?.contacts;
  if (body.status !== 'completed' || !Array.isArray(contacts) || contacts.length === 0) {
    throw new Error(`gateway answered 200 without contacts: ${text.slice(0, 160)}`);
  }
  return { ids: contacts.map((c) => String(c.id)), requestId: String(body.request_id) };
}

const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const pad = (s: string, n: number) => s.padStart(n);

function fsType(dir: string): string {
  const names: Record<number, string> = {
    61267: 'ext4',
    16914836: 'tmpfs',
    2035054128: 'overlayfs',
    1481003842: 'xfs',
    2435016766: 'btrfs',
    1702057286: 'fuse',
  };
  try {
    const type = statfsSync(dir).type;
    return names[type] ?? `0x${type.toString(16)}`;
  } catch {
    return 'unknown';
  }
}

function printTable(results: PhaseResult[]): void {
  const header = [
    'target'.padEnd(8),
    pad('ok', 6),
    pad('errors', 6),
    pad('p50 ms', 8),
    pad('p90 ms', 8),
    pad('p99 ms', 8),
    pad('max ms', 8),
    pad('mean ms', 8),
    pad('req/s', 8),
    pad('loop µs/req', 12),
    pad('cpu µs/req', 11),
  ].join(' ');
  console.log(header);
  console.log('-'.repeat(header.length));
  for (const r of results) {
    const s = r.summary;
    console.log(
      [
        r.name.padEnd(8),
        pad(String(s.count), 6),
        pad(String(r.errorCount), 6),
        pad(fmt(s.p50), 8),
        pad(fmt(s.p90), 8),
        pad(fmt(s.p99), 8),
        pad(fmt(s.max), 8),
        pad(fmt(s.mean), 8),
        pad(fmt(s.rps, 0), 8),
        pad(fmt(r.busyUsPerRequest, 0), 12),
        pad(fmt(r.cpuUsPerRequest, 0), 11),
      ].join(' '),
    );
  }
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-'));
  const readToken = `bench-read-${randomBytes(16).toString('hex')}`;
  const writeToken = `bench-write-${randomBytes(16).toString('hex')}`;
  const apiKey = newKey('ak');
  const approverKey = newKey('apk');
  const secrets = [apiKey, approverKey, readToken, writeToken];
  const cleanups: (() => Promise<void>)[] = [];
  let exitCode = 0;

  try {
    const cpus = os.cpus();
    console.log('CRM Airlock read bench: gateway vs bare proxy vs direct @hubspot/api-client');
    console.log(
      `environment: node ${process.version}, ${os.platform()}/${os.arch()}, ${cpus.length} cpus (${cpus[0]?.model.trim() ?? 'unknown'}), load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}, data dir on ${fsType(dataDir)}`,
    );
    if ((os.loadavg()[0] ?? 0) > cpus.length / 4) {
      console.log(
        'warning: other processes are using the CPUs: the figures below will be noisy (run again on a quiet machine)',
      );
    }
    console.log(
      `settings: ${settings.requests} requests per target (at most ${settings.maxSeconds} s), ${settings.concurrency} in flight (closed loop), ${settings.warmup} warm-up requests per target, then ${settings.serial} requests 1 in flight; keep-alive connections; main thread = load generator + gateway/proxy/client under test`,
    );

    // A separate emulator, its rate limits raised out of the way (HubSpot's would allow 5/s).
    const emulator: BenchEmulator = await startBenchEmulator(
      {
        tokens: { [readToken]: READ_SCOPES, [writeToken]: WRITE_SCOPES },
        rateLimits: { perTenSeconds: 1e9, searchPerSecond: 1e9, daily: 1e12 },
      },
      settings.emulatorInWorker,
    );
    cleanups.push(() => emulator.close());

    let logLines = 0;
    const app = await startLocalApp(
      loadConfig({
        PORT: '0',
        AIRLOCK_DATA_DIR: dataDir,
        AIRLOCK_API_KEY: apiKey,
        AIRLOCK_APPROVER_KEY: approverKey,
        HUBSPOT_TOKEN: readToken,
        HUBSPOT_WRITE_TOKEN: writeToken,
        HUBSPOT_BASE_URL: emulator.url,
        // The bench measures throughput: the limits (which count in memory) are set out of reach,
        // and still run on every request.
        AIRLOCK_READS_PER_MINUTE: '100000000',
        AIRLOCK_READS_PER_HOUR: '100000000',
        AIRLOCK_DISTINCT_RECORDS_PER_HOUR: '100000000',
        AIRLOCK_HUBSPOT_SEARCH_PER_SECOND: '100000000',
        AIRLOCK_HUBSPOT_CALLS_PER_TEN_SECONDS: '100000000',
      }),
      // The real JSON logger (serialisation and redaction included), writing nowhere.
      {
        log: jsonLogger(
          () => {
            logLines += 1;
          },
          () => secrets,
        ),
      },
    );
    cleanups.push(() => app.close());

    const proxy = await startBareProxy({
      upstream: emulator.url,
      path: SEARCH_PATH,
      token: readToken,
      sockets: settings.concurrency,
    });
    cleanups.push(() => proxy.close());

    const searchBody = hubspotSearchBody();
    const searchJson = JSON.stringify(searchBody);
    const envelopeJson = JSON.stringify(ENVELOPE);
    console.log(
      `emulator: ${emulator.url} (${emulator.where}, rate limits raised); gateway: ${app.url} (audit: fsync'd JSON lines, group commit; request log: JSON logger to a counting sink)`,
    );
    console.log(`gateway request: POST /v1/actions ${envelopeJson}`);
    console.log(
      `HubSpot search (direct, proxy, and what the gateway sends): POST ${SEARCH_PATH} ${searchJson}`,
    );
    console.log();

    // Gateway: POST /v1/actions with the agent key.
    const gatewayAgent: http.Agent = keepAliveAgent(settings.concurrency);
    cleanups.push(async () => gatewayAgent.destroy());
    const gatewayUrl = new URL('/v1/actions', app.url);
    const gatewayHeaders = {
      'content-type': 'application/json',
      authorization: `Bearer ${apiKey}`,
    };
    let gatewaySent = 0;
    let measuring = false;
    const measuredIds = new Set<string>();
    const gatewayOnce = async () => {
      gatewaySent += 1;
      const res = await post(gatewayAgent, gatewayUrl, gatewayHeaders, envelopeJson);
      if (res.status !== 200) throw failure(res.status, res.text);
      return checkGatewayAnswer(res.text);
    };
    const sendGateway = async () => {
      const { requestId } = await gatewayOnce();
      if (measuring) measuredIds.add(requestId);
    };

    // Bare proxy: the same HubSpot search body, forwarded untouched.
    const proxyAgent = keepAliveAgent(settings.concurrency);
    cleanups.push(async () => proxyAgent.destroy());
    const proxyUrl = new URL(SEARCH_PATH, proxy.url);
    const proxyHeaders = { 'content-type': 'application/json' };
    const proxyOnce = async () => {
      const res = await post(proxyAgent, proxyUrl, proxyHeaders, searchJson);
      if (res.status !== 200) throw failure(res.status, res.text);
      return checkSearchPage(JSON.parse(res.text));
    };
    const sendProxy = async () => {
      await proxyOnce();
    };

    // Direct: the real client (global fetch, keep-alive), no retries, no limiter.
    const client = new Client({
      accessToken: readToken,
      basePath: emulator.url,
      numberOfApiCallRetries: 0,
    });
    const directOnce = async () => {
      try {
        return checkSearchPage(await client.crm.contacts.searchApi.doSearch(searchBody as never));
      } catch (err) {
        const e = err as { code?: unknown; body?: unknown; message?: string };
        if (typeof e.code === 'number') throw failure(e.code, JSON.stringify(e.body ?? ''));
        throw err;
      }
    };
    const sendDirect = async () => {
      await directOnce();
    };

    // One request each first: all three must find the same records.
    const [viaGateway, viaProxy, viaDirect] = await Promise.all([
      gatewayOnce(),
      proxyOnce(),
      directOnce(),
    ]);
    const same = (a: string[], b: string[]) => a.join(',') === b.join(',');
    if (!same(viaGateway.ids, viaProxy) || !same(viaProxy, viaDirect)) {
      throw new Error(
        `the three targets found different records: gateway ${viaGateway.ids}, proxy ${viaProxy}, direct ${viaDirect}`,
      );
    }
    console.log(
      `sanity: all three return the same ${viaProxy.length} contacts (${viaProxy.join(', ')})`,
    );

    console.log('phases:');
    const loaded = { concurrency: settings.concurrency, requests: settings.requests };
    const proxyResult = await phase('proxy', sendProxy, { ...loaded, warmup: settings.warmup });
    const directResult = await phase('direct', sendDirect, { ...loaded, warmup: settings.warmup });
    measuring = true;
    let report: string[] = [];
    const profileFile = settings.profile ? path.resolve(settings.profile) : null;
    const gatewayResult = await phase('gateway', sendGateway, {
      ...loaded,
      warmup: settings.warmup,
      around: async (fn) => {
        if (!profileFile) return fn();
        const { result, profile } = await withCpuProfile(profileFile, fn);
        report = [
          `profile written to ${profileFile}`,
          ...profileReport(profile, path.resolve(__dirname, '..')),
        ];
        return result;
      },
    });
    measuring = false;
    // Unloaded latency: one request at a time (everything is warm by now).
    const serial = { concurrency: 1, requests: settings.serial, warmup: 0 };
    const serialResults =
      settings.serial > 0
        ? [
            await phase('gateway', sendGateway, serial),
            await phase('proxy', sendProxy, serial),
            await phase('direct', sendDirect, serial),
          ]
        : [];
    const results = [gatewayResult, proxyResult, directResult];
    console.log();
    console.log(`${settings.concurrency} in flight:`);
    printTable(results);
    if (serialResults.length > 0) {
      console.log();
      console.log('1 in flight (unloaded latency):');
      printTable(serialResults);
    }

    const ratio = (a: number, b: number) => (b > 0 ? a / b : Number.NaN);
    const g = gatewayResult.summary;
    const p = proxyResult.summary;
    const d = directResult.summary;
    console.log();
    console.log(`ratios, ${settings.concurrency} in flight   p50     p99   req/s`);
    console.log(
      `  gateway/proxy  ${pad(fmt(ratio(g.p50, p.p50)), 7)}x ${pad(fmt(ratio(g.p99, p.p99)), 6)}x ${pad(fmt(ratio(g.rps, p.rps)), 6)}x`,
    );
    console.log(
      `  gateway/direct ${pad(fmt(ratio(g.p50, d.p50)), 7)}x ${pad(fmt(ratio(g.p99, d.p99)), 6)}x ${pad(fmt(ratio(g.rps, d.rps)), 6)}x`,
    );
    const [sg, sp, sd] = serialResults.map((r) => r.summary);
    if (sg && sp && sd) {
      console.log('ratios, 1 in flight     p50     p99');
      console.log(
        `  gateway/proxy  ${pad(fmt(ratio(sg.p50, sp.p50)), 7)}x ${pad(fmt(ratio(sg.p99, sp.p99)), 6)}x`,
      );
      console.log(
        `  gateway/direct ${pad(fmt(ratio(sg.p50, sd.p50)), 7)}x ${pad(fmt(ratio(sg.p99, sd.p99)), 6)}x`,
      );
    }

    // Errors: a phase with failed requests did not measure what it claims to.
    let anyErrors = false;
    for (const r of [...results, ...serialResults]) {
      if (r.timedOut) {
        console.log(
          `note: ${r.name} stopped after ${settings.maxSeconds} s with ${r.summary.count + r.errorCount} requests`,
        );
      }
      for (const [message, count] of r.errors) {
        anyErrors = true;
        console.log(`ERRORS ${r.name}: ${count} x ${message}`);
      }
    }

    // Close the app (it flushes its audit log), then read where the gateway's time went.
    const served = await emulator.stats();
    await app.close();
    const verify = await verifyAuditLog(app.auditDir);
    const records = await readAuditLog(app.auditDir);
    const inside: number[] = [];
    const upstream: number[] = [];
    for (const r of records) {
      if (!measuredIds.has(r.request_id)) continue;
      inside.push(r.duration_ms);
      for (const call of r.hubspot_calls) upstream.push(call.duration_ms);
    }
    const insideStats = summarize(inside, 1);
    const upstreamStats = summarize(upstream, 1);
    console.log();
    console.log(
      `audit log: ${verify.records} records for ${gatewaySent} gateway requests, chain ${verify.ok ? 'verified' : `BROKEN (${verify.problem?.reason})`}; request log lines: ${logLines}`,
    );
    console.log(
      `emulator: ${served.requests} requests served, by status ${JSON.stringify(served.byStatus)}`,
    );
    console.log(
      `inside the gateway (its audit records of the ${settings.concurrency}-in-flight phase, 1 ms resolution): from arrival to the audit record built (before its write and fsync) p50 ${fmt(insideStats.p50, 0)} ms, p99 ${fmt(insideStats.p99, 0)} ms; of which the HubSpot call p50 ${fmt(upstreamStats.p50, 0)} ms, p99 ${fmt(upstreamStats.p99, 0)} ms`,
    );

    if (report.length > 0) {
      console.log();
      console.log(
        'NOTE: the gateway phase ran under the CPU profiler: its figures above are inflated.',
      );
      for (const line of report) console.log(line);
    }

    const limit = TARGET_RATIO * p.p50;
    const pass = g.p50 <= limit;
    console.log();
    console.log(
      `target: gateway p50 <= ${TARGET_RATIO}x bare proxy p50: ${fmt(g.p50)} ms vs ${fmt(limit)} ms (${fmt(ratio(g.p50, p.p50))}x) -> ${pass ? 'PASS' : 'MISS'}${anyErrors ? ' (but some requests failed: see ERRORS above)' : ''}`,
    );
  } catch (err) {
    exitCode = 1;
    console.error(
      `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
  } finally {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((err: unknown) => {
        exitCode = 1;
        console.error(`cleanup failed: ${err instanceof Error ? err.message : String(err)}`);
      });
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
  process.exitCode = exitCode;
}

void main();
