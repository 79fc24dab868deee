import { promises as fs } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { ChainedRecord } from '../../../lambdas/adapters/local/file-audit-log';
import { listAuditFiles } from '../../../lambdas/adapters/local/file-audit-log';
import { actionHash } from '../../../lambdas/core/hash';
import { validateAction } from '../../../lambdas/core/validate';
import type { TestApp } from '../../helpers/local-app';
import { clip, reasonClass, type Violation } from './harness';
import { describeSpec, type HttpSpec } from './http-requests';
import { findSecret } from './secrets';

const PAGES = new Set([
  '/approvals',
  '/approvals/app.js',
  '/approvals/style.css',
  '/pages/base.css',
  '/pages/gateway-client.js',
  '/dashboard',
  '/dashboard/app.js',
  '/dashboard/style.css',
  '/favicon.ico',
]);

/** How long a request may take before it counts as never answered. */
const ANSWER_TIMEOUT_MS = 20_000;

interface Outcome {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The connection failed (reset, hang-up, timeout) before a whole answer arrived. */
  error?: string;
}

interface Write {
  requestId: string;
  approvalId: string;
  hash: string | null;
}

/** A request as sent: the spec with its late-bound parts filled in. */
interface Sent {
  spec: HttpSpec;
  path: string;
  body: string | null;
  invalid: string | null;
  noHubSpot: string | null;
  summary: string;
}

/** The audit log read as it grows: only whole lines, only once. */
class AuditTail {
  private readonly offsets = new Map<string, number>();

  constructor(private readonly dir: string) {}

  async read(): Promise<{ line: string; record: ChainedRecord }[]> {
    const out: { line: string; record: ChainedRecord }[] = [];
    for (const name of await listAuditFiles(this.dir)) {
      const file = path.join(this.dir, name);
      const from = this.offsets.get(name) ?? 0;
      const handle = await fs.open(file, 'r');
      try {
        const { size } = await handle.stat();
        if (size <= from) continue;
        const buf = Buffer.alloc(size - from);
        await handle.read(buf, 0, buf.length, from);
        const end = buf.lastIndexOf(0x0a);
        if (end < 0) continue;
        this.offsets.set(name, from + end + 1);
        for (const line of buf.subarray(0, end).toString('utf8').split('\n')) {
          if (line.trim()) out.push({ line, record: JSON.parse(line) as ChainedRecord });
        }
      } finally {
        await handle.close();
      }
    }
    return out;
  }
}

function routeKind(method: string, target: string): string {
  const p = target.split('?')[0] ?? '';
  if (p === '/v1/actions') return `${method} /v1/actions`;
  if (/^\/v1\/actions\/[^/]+$/.test(p)) return `${method} /v1/actions/{id}`;
  if (p === '/v1/tools') return `${method} /v1/tools`;
  if (/^\/approvals\/[^/]+\/(approve|deny)$/.test(p)) return `${method} /approvals/{id}/{decision}`;
  if (p.startsWith('/operator/') || p === '/dashboard/data') return `${method} ${p}`;
  if (PAGES.has(p)) return `${method} page`;
  return `${method} (other route)`;
}

/**
 * Sends batches of generated requests to the local server concurrently and checks every
 * property on each answer, on the audit records written for it, on the files of the data dir,
 * on the notes written to the emulator, and on the emulator's request log.
 */
export class LocalFuzz {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private readonly base: URL;
  private readonly tail: AuditTail;
  private readonly writes: Write[] = [];
  /** Final records seen per request id, and the ids answered so far. */
  private readonly finals = new Map<string, number>();
  private readonly answered = new Set<string>();
  private readonly fileStamps = new Map<string, string>();
  private notesSeen = 0;
  /** The emulator's request count before the run, and the HubSpot attempts records name. */
  private emulatorBase: number;
  private attempts = 0;
  readonly secrets: string[];
  /** Answers by status and error code, for a look at what the run covered. */
  readonly statuses = new Map<string, number>();
  sent = 0;

  constructor(private readonly t: TestApp) {
    this.base = new URL(t.app.url);
    this.tail = new AuditTail(t.app.auditDir);
    this.secrets = t.app.secrets();
    this.emulatorBase = t.app.emulator?.requests.length ?? 0;
  }

  close(): void {
    this.agent.destroy();
  }

  private authorization(key: HttpSpec['key']): string | null {
    const k = this.t.app.keys;
    switch (key) {
      case 'agent':
        return `Bearer ${k.apiKey}`;
      case 'approver':
        return `Bearer ${k.approverKey}`;
      case 'operator':
        return `Bearer ${k.operatorKey}`;
      case 'none':
        return null;
      case 'bogus':
        return 'Bearer ak_not-the-key-0123456789abcdefghijklmn';
      case 'agent-lowercase-scheme':
        return `bearer ${k.apiKey}`;
      case 'agent-two-spaces':
        return `Bearer  ${k.apiKey}`;
      case 'agent-suffixed':
        return `Bearer ${k.apiKey}x`;
      case 'basic':
        return `Basic ${Buffer.from(`agent:${k.apiKey}`).toString('base64')}`;
      case 'long':
        return `Bearer ${'a'.repeat(600)}`;
    }
  }

  private bind(spec: HttpSpec): Sent {
    let target = spec.path;
    let invalid = spec.invalid;
    let body = spec.body?.text ?? null;
    if (target.includes('{write}')) {
      const w = this.writes[spec.pick % Math.max(1, this.writes.length)];
      target = target.replace('{write}', w?.requestId ?? 'req_none');
    }
    if (target.includes('{approval}') || spec.decision) {
      const w = this.writes[spec.pick % Math.max(1, this.writes.length)];
      target = target.replace('{approval}', w?.approvalId ?? 'apr_none');
      if (!w) invalid ??= 'no such approval';
      const hash =
        spec.decision === 'right'
          ? (w?.hash ?? '0'.repeat(64))
          : spec.decision === 'wrong'
            ? 'f'.repeat(64)
            : 'nope';
      if (spec.decision === 'right' && !w?.hash) invalid ??= 'decision with an unknown hash';
      body = spec.decision === 'none' ? '' : JSON.stringify({ action_hash: hash });
    }
    const sent: Sent = {
      spec,
      path: target,
      body,
      invalid,
      noHubSpot: spec.noHubSpot,
      summary: '',
    };
    sent.summary = describeSpec({ ...spec, path: target });
    return sent;
  }

  private send(s: Sent): Promise<Outcome> {
    return s.spec.transport === 'client' ? this.sendWithClient(s) : this.sendOnSocket(s);
  }

  /** Writes the request by hand on a connection of its own and reads one answer. */
  private sendOnSocket(s: Sent): Promise<Outcome> {
    const auth = this.authorization(s.spec.key);
    const lines = [`${s.spec.method} ${s.path} HTTP/1.1`, `host: ${this.base.host}`];
    const named = new Set(s.spec.headers.map(([k]) => k.toLowerCase()));
    if (!named.has('connection')) lines.push('connection: close');
    for (const [k, v] of s.spec.headers) lines.push(`${k}: ${v}`);
    if (auth !== null) lines.push(`authorization: ${auth}`);
    if (s.spec.contentType !== null) lines.push(`content-type: ${s.spec.contentType}`);
    const payload = s.body === null ? null : Buffer.from(s.body, 'utf8');
    let framed: Buffer = Buffer.alloc(0);
    if (payload) {
      if (s.spec.chunked) {
        lines.push('transfer-encoding: chunked');
        const mid = payload.length >> 1;
        const chunk = (b: Buffer) =>
          b.length === 0
            ? Buffer.alloc(0)
            : Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]);
        framed = Buffer.concat([
          chunk(payload.subarray(0, mid)),
          chunk(payload.subarray(mid)),
          Buffer.from('0\r\n\r\n'),
        ]);
      } else {
        lines.push(`content-length: ${payload.length}`);
        framed = payload;
      }
    }
    const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
    return new Promise<Outcome>((resolve) => {
      let settled = false;
      let received = Buffer.alloc(0);
      const socket = net.connect(Number(this.base.port), this.base.hostname);
      const done = (o: Outcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        resolve(o);
      };
      const timer = setTimeout(
        () => done({ status: 0, headers: {}, text: '', error: 'no answer (timeout)' }),
        ANSWER_TIMEOUT_MS,
      );
      socket.on('connect', () => {
        socket.write(Buffer.concat([head, framed]));
        if (s.spec.transport === 'socket-half-close') socket.end();
      });
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        const answer = parseAnswer(received, s.spec.method === 'HEAD');
        if (answer) done(answer);
      });
      socket.on('error', (e: NodeJS.ErrnoException) => {
        const answer = parseAnswer(received, s.spec.method === 'HEAD', true);
        done(answer ?? { status: 0, headers: {}, text: '', error: e.code ?? e.message });
      });
      socket.on('close', () => {
        const answer = parseAnswer(received, s.spec.method === 'HEAD', true);
        done(
          answer ?? {
            status: 0,
            headers: {},
            text: '',
            error:
              received.length === 0
                ? 'connection closed without an answer'
                : 'connection closed in the middle of an answer',
          },
        );
      });
    });
  }

  private sendWithClient(s: Sent): Promise<Outcome> {
    const headers: Record<string, string | number> = {};
    for (const [k, v] of s.spec.headers) headers[k] = v;
    const auth = this.authorization(s.spec.key);
    if (auth !== null) headers.authorization = auth;
    if (s.spec.contentType !== null) headers['content-type'] = s.spec.contentType;
    const payload = s.body === null ? null : Buffer.from(s.body, 'utf8');
    if (payload && !s.spec.chunked) headers['content-length'] = payload.length;
    // Node's client frames a body as chunked by itself only for some methods: say it always, so
    // that no request goes out with a body but no framing (the server would read it as a second
    // request; that is the client's fault, not the gateway's).
    if (payload && s.spec.chunked) headers['transfer-encoding'] = 'chunked';
    return new Promise<Outcome>((resolve) => {
      let settled = false;
      const done = (o: Outcome) => {
        if (!settled) {
          settled = true;
          resolve(o);
        }
      };
      let req: http.ClientRequest;
      try {
        req = http.request(
          {
            host: this.base.hostname,
            port: this.base.port,
            method: s.spec.method,
            path: s.path,
            headers,
            agent: this.agent,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              done({
                status: res.statusCode ?? 0,
                headers: res.headers,
                text: Buffer.concat(chunks).toString('utf8'),
              }),
            );
            res.on('error', (e) =>
              done({
                status: res.statusCode ?? 0,
                headers: res.headers,
                text: '',
                error: e.message,
              }),
            );
            res.on('aborted', () =>
              done({
                status: res.statusCode ?? 0,
                headers: res.headers,
                text: '',
                error: 'aborted',
              }),
            );
          },
        );
      } catch (err) {
        throw new Error(
          `the fuzzer built a request the HTTP client refuses (${(err as Error).message}): ${s.summary}`,
        );
      }
      req.on('error', (e: NodeJS.ErrnoException) =>
        done({ status: 0, headers: {}, text: '', error: e.code ?? e.message }),
      );
      req.setTimeout(ANSWER_TIMEOUT_MS, () => req.destroy(new Error('no answer (timeout)')));
      if (payload) {
        if (s.spec.chunked) {
          // Two chunks, so a chunked body really is split.
          const mid = payload.length >> 1;
          req.write(payload.subarray(0, mid));
          req.end(payload.subarray(mid));
        } else req.end(payload);
      } else req.end();
    });
  }

  /** Sends a batch at once, then checks everything. Returns the violations found. */
  async batch(specs: HttpSpec[]): Promise<Violation[]> {
    const emulator = this.t.app.emulator;
    if (!emulator) throw new Error('the local app runs no emulator');
    const sent = specs.map((s) => this.bind(s));
    const outcomes = await Promise.all(sent.map((s) => this.send(s)));
    this.sent += sent.length;
    const lines = await this.tail.read();
    if (outcomes.some((o) => o.error)) {
      // A request whose connection failed may still be running in the gateway: let it finish,
      // so that its records and HubSpot calls are counted with this batch.
      for (let i = 0; i < 10; i += 1) {
        await new Promise((r) => setTimeout(r, 50));
        const late = await this.tail.read();
        lines.push(...late);
        if (late.length === 0 && i >= 1) break;
      }
    }
    const v: Violation[] = [];

    const records = new Map<string, ChainedRecord[]>();
    for (const { line, record } of lines) {
      const list = records.get(record.request_id) ?? [];
      list.push(record);
      records.set(record.request_id, list);
      if (record.response_status !== null) {
        this.finals.set(record.request_id, (this.finals.get(record.request_id) ?? 0) + 1);
      }
      for (const c of record.hubspot_calls ?? []) this.attempts += c.attempts;
      const leak = findSecret(line, this.secrets);
      if (leak) {
        v.push({
          property: 'no-secret-stored',
          cause: `audit record (${record.route ?? 'no route'}, ${record.reason ?? record.outcome}) holds ${leak}`,
          request: sent.find((_, i) => outcomes[i]?.headers['x-request-id'] === record.request_id)
            ?.summary,
          detail: clip(line, 300),
        });
      }
    }

    sent.forEach((s, i) => {
      const o = outcomes[i];
      if (!o) return;
      const kind = routeKind(s.spec.method, s.path);
      const request = s.summary;
      if (o.error) {
        const via = s.spec.transport === 'client' ? '' : ` (sent ${s.spec.transport})`;
        v.push({ property: 'answered', cause: `${kind}${via}: ${o.error}`, request });
        return;
      }
      const id = o.headers['x-request-id'];
      let body: Record<string, unknown> | null = null;
      try {
        const parsed = JSON.parse(o.text) as unknown;
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
          body = parsed as Record<string, unknown>;
      } catch {
        body = null;
      }
      const code = (body?.error as { code?: string } | undefined)?.code ?? '';
      const seen = `${o.status} ${code}`.trim();
      this.statuses.set(seen, (this.statuses.get(seen) ?? 0) + 1);
      if (o.status >= 500) {
        v.push({
          property: 'no-5xx',
          cause: `${kind}: ${o.status} ${code}`,
          request,
          detail: clip(o.text),
        });
      }
      const leak = findSecret(`${o.text}\n${JSON.stringify(o.headers)}`, this.secrets);
      if (leak) {
        v.push({
          property: 'no-secret-answer',
          cause: `${kind}: ${o.status} ${code} holds ${leak}`,
          request,
          detail: clip(o.text, 300),
        });
      }
      const pathname = (() => {
        try {
          return new URL(s.path, 'http://localhost').pathname;
        } catch {
          return '';
        }
      })();
      const page = s.spec.method === 'GET' && PAGES.has(pathname) && o.status < 400;
      if (!page) {
        if (typeof id !== 'string') {
          v.push({
            property: 'request-id',
            cause: `${kind}: ${o.status} answered without X-Request-Id (and so without an audit record)`,
            request,
            detail: clip(o.text),
          });
        } else if (
          s.spec.method !== 'HEAD' &&
          body?.request_id !== bodyRequestId(s.spec.method, pathname, o.status, id)
        ) {
          v.push({
            property: 'request-id',
            cause: `${kind}: ${o.status} body.request_id ${body ? (typeof body.request_id === 'string' ? 'differs from' : 'missing, unlike') : 'in no JSON body, unlike'} X-Request-Id`,
            request,
            detail: `X-Request-Id ${id}, body ${clip(o.text)}`,
          });
        }
      }
      if (typeof id === 'string') {
        this.answered.add(id);
        const mine = (records.get(id) ?? []).filter((r) => r.response_status !== null);
        const total = this.finals.get(id) ?? 0;
        if (mine.length !== 1 || total !== 1) {
          v.push({
            property: 'one-record',
            cause: `${kind}: ${o.status} ${code} has ${total} final audit records`,
            request,
          });
        } else if (mine[0]?.response_status !== o.status) {
          v.push({
            property: 'one-record',
            cause: `${kind}: answered ${o.status}, recorded ${mine[0]?.response_status}`,
            request,
          });
        }
        const calls = (records.get(id) ?? []).flatMap((r) => r.hubspot_calls ?? []);
        if (s.invalid !== null) {
          if (o.status < 400 || o.status >= 500) {
            v.push({
              property: 'invalid-refused',
              cause: `${kind}: ${o.status} ${code} for an invalid request (${reasonClass(s.invalid)})`,
              request,
            });
          }
        }
        if ((s.invalid !== null || s.noHubSpot !== null) && calls.length > 0) {
          v.push({
            property: 'no-hubspot-invalid',
            cause: `${kind}: ${o.status} called HubSpot (${calls.map((c) => c.endpoint).join(', ')}) for an invalid request (${reasonClass(s.invalid ?? s.noHubSpot ?? '')})`,
            request,
          });
        }
        if (s.spec.body?.promptSecret && typeof s.spec.body.text === 'string') {
          const stored = (records.get(id) ?? []).find((r) => typeof r.agent_prompt === 'string');
          if (stored && !String(stored.agent_prompt).includes('[REDACTED]')) {
            v.push({
              property: 'redacted',
              cause: `${kind}: ${o.status} ${code} stored the prompt's credential without [REDACTED]`,
              request,
              detail: clip(String(stored.agent_prompt)),
            });
          }
        }
        if (o.status === 202 && body && s.body) this.rememberWrite(body, s.body);
      }
    });

    for (const { record } of lines) {
      if (!this.answered.has(record.request_id)) {
        v.push({
          property: 'one-record',
          cause: `a record (${record.route ?? 'no route'}, ${record.outcome}) for a request id no answer carried`,
          detail: record.request_id,
        });
      }
    }
    // Every request HubSpot received is in some audit record (counted over the whole run).
    const received = emulator.requests.length - this.emulatorBase;
    if (received !== this.attempts) {
      v.push({
        property: 'no-hubspot-invalid',
        cause: 'HubSpot received requests that no audit record accounts for (or the reverse)',
        detail: `the emulator received ${received} requests, the audit records account for ${this.attempts}`,
      });
      // Reported once: count from here on.
      this.emulatorBase = emulator.requests.length - this.attempts;
    }
    v.push(...(await this.scanStores(sent, outcomes)));
    return v;
  }

  private rememberWrite(answer: Record<string, unknown>, sentBody: string): void {
    const approval = answer.approval as { id?: unknown } | undefined;
    if (typeof answer.request_id !== 'string' || typeof approval?.id !== 'string') return;
    let hash: string | null = null;
    try {
      const parsed = JSON.parse(sentBody) as { action: Record<string, unknown> };
      hash = actionHash(validateAction(parsed.action));
    } catch {
      hash = null;
    }
    this.writes.push({ requestId: answer.request_id, approvalId: approval.id, hash });
  }

  /** The data dir's other files (approvals, control, HEAD) and the notes HubSpot received. */
  private async scanStores(sent: Sent[], outcomes: Outcome[]): Promise<Violation[]> {
    const v: Violation[] = [];
    const byId = (rid: string | undefined) =>
      sent.find((_, i) => outcomes[i]?.headers['x-request-id'] === rid)?.summary;
    for (const file of await filesUnder(this.t.app.dataDir)) {
      const rel = path.relative(this.t.app.dataDir, file);
      if (rel === 'keys.json' || /^audit\/audit-.*\.jsonl$/.test(rel)) continue;
      let stat: { size: number; mtimeMs: number };
      try {
        stat = await fs.stat(file);
      } catch {
        continue;
      }
      const stamp = `${stat.size}:${stat.mtimeMs}`;
      if (this.fileStamps.get(rel) === stamp) continue;
      this.fileStamps.set(rel, stamp);
      let text: string;
      try {
        text = await fs.readFile(file, 'utf8');
      } catch {
        continue;
      }
      const leak = findSecret(text, this.secrets);
      if (!leak) continue;
      let request: string | undefined;
      if (rel === 'approvals.json') {
        try {
          const list = (JSON.parse(text) as { approvals: { request_id: string }[] }).approvals;
          const holder = list.find((a) => findSecret(JSON.stringify(a), this.secrets));
          request = byId(holder?.request_id) ?? `the write ${holder?.request_id}`;
        } catch {
          request = undefined;
        }
      }
      v.push({ property: 'no-secret-stored', cause: `${rel} holds ${leak}`, request });
    }
    const notes = this.t.app.emulator?.notes() ?? [];
    for (const note of notes.slice(this.notesSeen)) {
      const leak = findSecret(note.body ?? '', this.secrets);
      if (leak) {
        v.push({
          property: 'no-secret-stored',
          cause: `a note written to HubSpot holds ${leak}`,
          detail: clip(note.body ?? ''),
        });
      }
    }
    this.notesSeen = notes.length;
    return v;
  }
}

/**
 * One HTTP/1.1 answer from the bytes received so far, or null while it is incomplete (`ended`:
 * the connection is closed, so a body without a length ends here).
 */
function parseAnswer(bytes: Buffer, head: boolean, ended = false): Outcome | null {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
  if (status === 100) return parseAnswer(bytes.subarray(end + 4), head, ended);
  const headers: http.IncomingHttpHeaders = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const rest = bytes.subarray(end + 4);
  if (head || status === 204 || status === 304) return { status, headers, text: '' };
  const length = headers['content-length'];
  if (typeof length === 'string') {
    const n = Number(length);
    if (rest.length < n) return null;
    return { status, headers, text: rest.subarray(0, n).toString('utf8') };
  }
  if (/chunked/i.test(String(headers['transfer-encoding'] ?? ''))) {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const eol = rest.indexOf('\r\n', at);
      if (eol < 0) return null;
      const size = Number.parseInt(rest.subarray(at, eol).toString('latin1'), 16);
      if (Number.isNaN(size))
        return { status, headers, text: '', error: 'a malformed chunked answer' };
      if (size === 0) return { status, headers, text: Buffer.concat(parts).toString('utf8') };
      if (rest.length < eol + 2 + size + 2) return null;
      parts.push(rest.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
  }
  return ended ? { status, headers, text: rest.toString('utf8') } : null;
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(full)));
    else if (e.isFile()) out.push(full);
  }
  return out;
}

/**
 * The request id an answer's body must carry (README, "The HTTP contract"): its own, which is
 * also in X-Request-Id, except for a write's status (`GET /v1/actions/{request_id}`, 200), whose
 * body names the write it reports on; its X-Request-Id still names the lookup's own record.
 */
export function bodyRequestId(
  method: string,
  pathname: string,
  status: number,
  own: string,
): string {
  const status200 =
    method === 'GET' && status === 200 ? /^\/v1\/actions\/([^/]+)$/.exec(pathname) : null;
  return status200?.[1] ?? own;
}
