import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readAuditLog } from '../../lambdas/adapters/local/audit-verify';
import { listAuditFiles } from '../../lambdas/adapters/local/file-audit-log';
import { waitForOutput } from '../helpers/process';

const ROOT = path.resolve(__dirname, '../..');
const NODE = process.execPath;
const TSX_ARGS = ['--import', 'tsx'];
const BURST = 200;
const IN_FLIGHT = 25;
/** The gateway is killed when this many answers of the burst have arrived. */
const KILL_AFTER = 60;

/**
 * Issue 11, item 6, the real thing: the local gateway killed with SIGKILL in the middle of a
 * burst. Every answered request is in the log and under HEAD; the next start recovers; and a
 * line cut off the end afterwards is caught, by audit:verify and by the next start.
 */
describe('the audit log across a kill -9 of npm start', () => {
  let dataDir: string;
  const children: ChildProcess[] = [];
  beforeAll(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'airlock-crash-'));
  });
  afterAll(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  const auditDir = () => path.join(dataDir, 'audit');
  const env = () => ({ ...process.env, PORT: '0', AIRLOCK_DATA_DIR: dataDir });

  function start(): { child: ChildProcess; stdout: () => string; stderr: () => string } {
    const child = spawn(NODE, [...TSX_ARGS, 'lambdas/local/main.ts'], {
      cwd: ROOT,
      env: env(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    let err = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr?.on('data', (c: Buffer) => {
      err += c.toString();
    });
    return { child, stdout: () => out, stderr: () => err };
  }

  function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: string | null }> {
    if (child.exitCode !== null || child.signalCode !== null) {
      return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
    }
    return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  function auditVerify(...args: string[]) {
    const run = spawnSync(NODE, [...TSX_ARGS, 'lambdas/local/audit-verify-cli.ts', ...args], {
      cwd: ROOT,
      env: env(),
      encoding: 'utf8',
      timeout: 30_000,
    });
    return { code: run.status, out: run.stdout, err: run.stderr };
  }

  const readHead = () =>
    JSON.parse(readFileSync(path.join(auditDir(), 'HEAD'), 'utf8')) as { seq: number };

  it('answers only what is logged and under HEAD, recovers on restart, and catches a cut afterwards', async () => {
    // 1. Start, and kill -9 in the middle of a burst of reads.
    const first = start();
    const banner = await waitForOutput(first.child, /Stop with Ctrl-C/);
    const url = /Gateway\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(banner)?.[1] ?? '';
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const key = (
      JSON.parse(readFileSync(path.join(dataDir, 'keys.json'), 'utf8')) as {
        api_key: string;
      }
    ).api_key;
    expect(key).toMatch(/^ak_/);

    // A closed loop of IN_FLIGHT concurrent reads: the kill, sent from the loop when KILL_AFTER
    // answers are in, lands with requests in flight and the rest of the burst never sent.
    const killed = exitOf(first.child);
    const results: { status: number; id: string | null }[] = [];
    let sent = 0;
    const read = async (): Promise<void> => {
      while (sent < BURST) {
        sent += 1;
        const answer = await fetch(`${url}/v1/tools`, {
          headers: { authorization: `Bearer ${key}` },
          signal: AbortSignal.timeout(15_000),
        }).then(
          (r) => ({ status: r.status, id: r.headers.get('x-request-id') }),
          () => ({ status: 0, id: null }),
        );
        results.push(answer);
        if (results.filter((r) => r.status !== 0).length === KILL_AFTER) {
          first.child.kill('SIGKILL');
        }
      }
    };
    const burst = Array.from({ length: IN_FLIGHT }, () => read());
    await Promise.all(burst);
    expect(await killed).toEqual({ code: null, signal: 'SIGKILL' });
    const answered = results.filter((r) => r.status !== 0);
    // The kill landed mid-burst: some were answered, some never were.
    expect(answered.length).toBeGreaterThanOrEqual(KILL_AFTER);
    expect(answered.length).toBeLessThan(BURST);

    // 2. Every answered request has its record, and HEAD covers every one of them.
    const records = await readAuditLog(auditDir());
    const seqOf = new Map<string, number>();
    for (const r of records) seqOf.set(r.request_id, Math.max(r.seq, seqOf.get(r.request_id) ?? 0));
    const head = readHead();
    for (const a of answered) {
      expect(a.id).toMatch(/\S/);
      const seq = seqOf.get(a.id ?? '');
      expect({ id: a.id, logged: seq !== undefined }).toEqual({ id: a.id, logged: true });
      expect(head.seq).toBeGreaterThanOrEqual(seq ?? Number.POSITIVE_INFINITY);
    }
    const lastSeq = records[records.length - 1]?.seq ?? 0;
    expect(head.seq).toBeLessThanOrEqual(lastSeq);
    let headSeq = head.seq;
    if (headSeq === lastSeq) {
      // The kill did not land between a batch's line sync and its HEAD sync (a window of one
      // fdatasync). Leave the log as such a crash does: HEAD at the last answered record, the
      // records of requests never answered on disk after it.
      const lastAnswered = Math.max(...answered.map((a) => seqOf.get(a.id ?? '') ?? 0));
      const at = records.find((r) => r.seq === lastAnswered);
      if (at && lastAnswered < lastSeq) {
        writeFileSync(
          path.join(auditDir(), 'HEAD'),
          JSON.stringify({ seq: at.seq, hash: at.hash }),
        );
        headSeq = at.seq;
      }
    }
    const lagged = headSeq < lastSeq;
    if (lagged) {
      // Before the restart, a lagging HEAD is BROKEN, and the flag makes it a loud warning.
      const strict = auditVerify();
      expect(strict.code).toBe(1);
      expect(strict.out).toContain(
        `BROKEN: HEAD names record ${headSeq} but the log goes on to record ${lastSeq}`,
      );
      const allowed = auditVerify('--allow-stale-head');
      expect(allowed.code).toBe(0);
      expect(allowed.err).toMatch(/^WARNING: HEAD names record/);
    } else {
      expect(auditVerify().code).toBe(0);
    }

    // 3. Restart: HEAD is recovered over the whole records after it; verify OK, live and stopped.
    const second = start();
    await waitForOutput(second.child, /Stop with Ctrl-C/);
    if (lagged) {
      expect(second.stdout()).toContain('audit log recovered after a crash');
      expect(second.stdout()).toContain(`"head_was":${headSeq}`);
    }
    expect(readHead().seq).toBe(lastSeq);
    const live = auditVerify();
    expect(live).toMatchObject({ code: 0, err: '' });
    expect(live.out).toMatch(/^OK: the audit chain is whole/);
    const stopped = exitOf(second.child);
    second.child.kill('SIGTERM');
    expect(await stopped).toEqual({ code: 0, signal: null });
    expect(second.stderr()).toBe('');
    const clean = auditVerify();
    expect(clean.code).toBe(0);

    // 4. Cut the last line off while stopped: audit:verify is BROKEN, even with the flag.
    const files = await listAuditFiles(auditDir());
    const newest = path.join(auditDir(), files[files.length - 1] ?? '');
    const lines = readFileSync(newest, 'utf8').trimEnd().split('\n');
    writeFileSync(newest, `${lines.slice(0, -1).join('\n')}\n`);
    const total = readHead().seq;
    for (const args of [[], ['--allow-stale-head']]) {
      const cut = auditVerify(...args);
      expect(cut.code).toBe(1);
      expect(cut.out).toContain(
        `BROKEN: HEAD names record ${total} but the log ends at record ${total - 1}: records were cut off the end`,
      );
    }

    // 5. And npm start refuses it with a message that says what to do, not a stack trace.
    const refused = spawnSync(NODE, [...TSX_ARGS, 'lambdas/local/main.ts'], {
      cwd: ROOT,
      env: env(),
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(
      `Could not start: The audit log in ${auditDir()} cannot be continued: HEAD names record ${total} but the log ends at record ${total - 1}`,
    );
    expect(refused.stderr).toContain(`npm run audit:verify -- --dir ${auditDir()}`);
    expect(refused.stderr).not.toMatch(/^\s+at /m);
    expect(refused.stdout).not.toContain('CRM Airlock is running');
  }, 120_000);
});
