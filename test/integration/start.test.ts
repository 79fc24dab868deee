import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readAuditLog } from '../../lambdas/adapters/local/audit-verify';
import { waitForOutput } from '../helpers/process';

const ROOT = path.resolve(__dirname, '../..');
// As `npm start` runs it: one node process with tsx as a loader, no relay process in between.
const NODE = process.execPath;
const TSX_ARGS = ['--import', 'tsx'];

describe('npm start', () => {
  let dataDir: string;
  let child: ChildProcess | undefined;
  beforeEach(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'airlock-start-'));
  });
  afterEach(() => {
    child?.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints working curls, and on SIGTERM finishes requests in flight without losing a record', async () => {
    child = spawn(NODE, [...TSX_ARGS, 'lambdas/local/main.ts'], {
      cwd: ROOT,
      // HubSpot's own limit (5 searches a second) is what holds the burst below in flight.
      env: {
        ...process.env,
        PORT: '0',
        AIRLOCK_DATA_DIR: dataDir,
        AIRLOCK_HUBSPOT_SEARCH_PER_SECOND: '1000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const banner = await waitForOutput(child, /Stop with Ctrl-C/);
    const key = /Agent key\s+(\S+)/.exec(banner)?.[1] ?? '';
    expect(key).toMatch(/^ak_/);
    expect(banner).toMatch(/Approver key\s+apk_/);
    expect(banner).toContain('/approvals');

    // Run the two printed curls as printed.
    const curls = banner.match(/curl -s \S+\/v1\/actions .*\\\n\s+-d '.*'/g) ?? [];
    expect(curls).toHaveLength(2);
    const printed = curls.map((c) => {
      const run = spawnSync('bash', ['-c', c], { encoding: 'utf8' });
      return JSON.parse(run.stdout) as { status: string };
    });
    expect(printed.map((a) => a.status)).toEqual(['completed', 'pending_approval']);

    // A burst of reads: HubSpot allows 5 searches a second, so the gateway holds the rest while
    // it waits out HubSpot's 429. SIGTERM arrives while they wait; each must still be answered
    // and audited before the process exits.
    const url = /Gateway\s+(\S+)/.exec(banner)?.[1] ?? '';
    const burst = Array.from({ length: 8 }, () =>
      fetch(`${url}/v1/actions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          user_id: 'u-1',
          agent_prompt: 'Find Acme',
          action: { action: 'search_company', domain: 'acme.com' },
        }),
        signal: AbortSignal.timeout(15_000),
      }).then(
        (r) => ({ status: r.status, id: r.headers.get('x-request-id') }),
        () => ({ status: 0, id: null }),
      ),
    );
    // SIGTERM once the gateway answers the first of them, not after a guessed delay: it is then
    // serving the burst, and HubSpot holds the rest (past its 5 a second) for a second at least.
    await Promise.race(burst);
    const exited = new Promise<number | null>((resolve) =>
      child?.on('exit', (code) => resolve(code)),
    );
    child.kill('SIGTERM');
    const answers = await Promise.all(burst);
    expect({ code: await exited, stderr }).toEqual({ code: 0, stderr: '' });
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
    const records = await readAuditLog(path.join(dataDir, 'audit'));
    const ids = records.map((r) => r.request_id);
    for (const a of answers) expect(ids).toContain(a.id);
    expect(records).toHaveLength(2 + 8);

    const verify = spawnSync(NODE, [...TSX_ARGS, 'lambdas/local/audit-verify-cli.ts'], {
      cwd: ROOT,
      env: { ...process.env, AIRLOCK_DATA_DIR: dataDir },
      encoding: 'utf8',
    });
    expect(verify.status).toBe(0);
    expect(verify.stdout).toMatch(/^OK: the audit chain is whole: \d+ records/);
  }, 60_000);

  it('audit:verify names the broken record and exits 1', () => {
    const auditDir = path.join(dataDir, 'audit');
    mkdirSync(auditDir, { recursive: true });
    writeFileSync(path.join(auditDir, 'audit-2026-11-29.jsonl'), '{"seq":1}\n');
    const verify = spawnSync(
      NODE,
      [...TSX_ARGS, 'lambdas/local/audit-verify-cli.ts', '--dir', auditDir],
      {
        cwd: ROOT,
        encoding: 'utf8',
      },
    );
    expect(verify.status).toBe(1);
    expect(verify.stdout).toMatch(/^BROKEN: .*\n\s+at audit-2026-11-29\.jsonl:1 \(seq 1\)/);
  }, 30_000);

  it('refuses to start with a clear message on bad configuration', () => {
    const run = spawnSync(NODE, [...TSX_ARGS, 'lambdas/local/main.ts'], {
      cwd: ROOT,
      env: { ...process.env, PORT: 'eighty', AIRLOCK_DATA_DIR: dataDir },
      encoding: 'utf8',
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/Invalid configuration:\n\s+PORT:/);
  }, 30_000);
});

describe('configuration with a real HubSpot', () => {
  it('serves reads only when no separate write token is given', async () => {
    const { loadConfig } = await import('../../lambdas/local/config');
    const config = loadConfig({ HUBSPOT_TOKEN: 'pat-na1-read-only-token' });
    expect(config.allowedActions).toEqual([
      'search_contact',
      'search_company',
      'get_last_email_interaction',
    ]);
    expect(config.hubspot).toMatchObject({ kind: 'remote', writeToken: null });
  });

  it('refuses the read token as the write token', async () => {
    const { loadConfig } = await import('../../lambdas/local/config');
    expect(() =>
      loadConfig({ HUBSPOT_TOKEN: 'pat-same', HUBSPOT_WRITE_TOKEN: 'pat-same' }),
    ).toThrow(/HUBSPOT_WRITE_TOKEN: must not be the read token/);
  });
});
