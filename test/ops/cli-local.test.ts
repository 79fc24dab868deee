import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { DEMO } from '../../lambdas/emulator/seed';
import { type CliIO, runCli } from '../../lambdas/ops/cli';
import { errorCode, startTestApp, type TestApp } from '../helpers/local-app';

const READ = { action: 'search_contact', email: 'jane@acme.example' };
const WRITE = { action: 'create_note', contact_id: DEMO.acmeContactId, body: 'Called Jane.' };

interface Run {
  code: number;
  out: string;
  err: string;
}

/** Runs the CLI in this process against the test app, as `npx airlock --local …` would. */
async function airlock(t: TestApp, args: string[], stdin = '', tty = false): Promise<Run> {
  let out = '';
  let err = '';
  const io: CliIO = {
    out: (s) => {
      out += s;
    },
    err: (s) => {
      err += s;
    },
    stdin: Readable.from([stdin]),
    stdoutIsTTY: tty,
    env: { AIRLOCK_DATA_DIR: t.app.dataDir },
    now: Date.now,
  };
  const code = await runCli(['--local', '--url', t.app.url, ...args], io);
  return { code, out, err };
}

async function readStatus(t: TestApp) {
  const r = await airlock(t, ['status', '--json']);
  expect(r.code).toBe(0);
  return JSON.parse(r.out) as {
    control: { contained: boolean; readOnly: boolean; changedBy?: string; reason?: string };
    pending: { count: number };
    alarms: { id: string; state: string }[];
    last_hour: { requests: number; rejections: number };
  };
}

describe('airlock --local (the operator CLI against a running local gateway)', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await startTestApp();
  });
  afterEach(async () => {
    await t.close();
  });

  it('contains at once: the next /v1 call is 401, pending writes are cancelled, all audited', async () => {
    const pending = await t.act(WRITE);
    expect(pending.status).toBe(202);

    const contain = await airlock(t, ['contain', '--reason', 'drill']);

    expect(contain.code).toBe(0);
    expect(contain.out).toContain('CONTAINED');
    expect(contain.out).toContain('Cancelled 1 pending write');
    const read = await t.act(READ);
    expect(read.status).toBe(401);
    expect(errorCode(read.body)).toBe('gateway_contained');
    const tools = await t.call('GET', '/v1/tools');
    expect(errorCode(tools.body)).toBe('gateway_contained');
    const status = await t.call('GET', `/v1/actions/${pending.body.request_id as string}`);
    expect(status.status).toBe(401);
    const approval = await t.app.gateway
      .listPending(
        { requestId: 'r-test', route: 'GET /approvals/pending', startedAt: Date.now() },
        { id: 'test', role: 'approver' },
      )
      .then((a) => a.body.approvals as unknown[]);
    expect(approval).toHaveLength(0);

    const records = await t.audit();
    const control = records.find((r) => r.event === 'control' && r.action === 'contain');
    expect(control).toMatchObject({ caller: 'local-operator-key', outcome: 'completed' });
    expect(control?.structured_action).toMatchObject({ reason: 'drill', contained: true });
    const cancelled = records.find(
      (r) => r.event === 'approval' && r.outcome === 'denied' && r.reason === 'gateway_contained',
    );
    expect(cancelled?.approval?.approval_id).toBe((pending.body.approval as { id: string }).id);
    expect((await readStatus(t)).control).toMatchObject({
      contained: true,
      changedBy: 'local-operator-key',
      reason: 'drill',
    });
  });

  it('releases: calls are served again, and a second release changes nothing', async () => {
    await airlock(t, ['contain']);
    expect((await t.act(READ)).status).toBe(401);

    const release = await airlock(t, ['release', '--reason', 'all clear']);
    const again = await airlock(t, ['release']);

    expect(release.code).toBe(0);
    expect(release.out).toContain('RELEASED');
    expect((await t.act(READ)).status).toBe(200);
    expect(again.out).toContain('nothing changed');
    const actions = (await t.audit()).filter((r) => r.event === 'control').map((r) => r.action);
    expect(actions).toEqual(['contain', 'release', 'release']);
  });

  it('read-only mode refuses writes with 403 and lets reads go on, until it is turned off', async () => {
    const on = await airlock(t, ['read-only', 'on']);

    expect(on.code).toBe(0);
    const write = await t.act(WRITE);
    expect(write.status).toBe(403);
    expect(errorCode(write.body)).toBe('read_only_mode');
    expect((await t.act(READ)).status).toBe(200);

    await airlock(t, ['read-only', 'off']);
    expect((await t.act(WRITE)).status).toBe(202);
  });

  it('refuses the agent and approver keys on the operator routes, with an audit record', async () => {
    const asAgent = await t.call('POST', '/operator/control', { body: { command: 'contain' } });
    const asApprover = await t.call('GET', '/operator/status', { key: t.app.keys.approverKey });

    expect(asAgent.status).toBe(403);
    expect(errorCode(asAgent.body)).toBe('operator_required');
    expect(asApprover.status).toBe(403);
    expect((await t.act(READ)).status).toBe(200);
    const refusals = (await t.audit()).filter((r) => r.reason === 'operator_required');
    expect(refusals.map((r) => r.caller).sort()).toEqual(['local-agent-key', 'local-approver-key']);
  });

  it('refuses a malformed command with a clear error and an audit record', async () => {
    const bad = await t.call('POST', '/operator/control', {
      key: t.app.keys.operatorKey,
      body: { command: 'self-destruct' },
    });

    expect(bad.status).toBe(400);
    expect(errorCode(bad.body)).toBe('validation_failed');
    expect(
      (await t.audit()).some(
        (r) => r.route === 'POST /operator/control' && r.response_status === 400,
      ),
    ).toBe(true);
  });

  it('shows status: the switch, pending approvals, alarms and the last hour', async () => {
    await t.act(READ);
    await t.act(WRITE);
    await t.act({ action: 'drop_table' });

    const text = await airlock(t, ['status']);
    const json = await readStatus(t);

    expect(text.out).toContain('Kill switch        off');
    expect(text.out).toContain('Pending approvals  1');
    expect(json.pending.count).toBe(1);
    expect(json.last_hour.requests).toBe(3);
    expect(json.last_hour.rejections).toBe(1);
    expect(json.alarms.length).toBeGreaterThan(0);
    expect(json.alarms.every((a) => a.state === 'OK')).toBe(true);
  });

  it('rotates the read token: the emulator accepts the new one, refuses the old, and no secret is printed', async () => {
    const emulator = t.app.emulator;
    if (!emulator) throw new Error('the test app runs the emulator');
    const oldRead = t.app.secrets().find((s) => s.startsWith('emu-read-'));
    if (!oldRead) throw new Error('no read token');

    const minted = await airlock(t, ['emulator-token', '--which', 'read']);
    const newRead = minted.out.trim();
    const rotated = await airlock(t, ['rotate', '--which', 'read'], `${newRead}\n`);

    expect(minted.code).toBe(0);
    expect(rotated.code).toBe(0);
    const search = (token: string) =>
      fetch(`${emulator.url}/crm/v3/objects/contacts/search`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ filterGroups: [], limit: 1 }),
      }).then((r) => r.status);
    expect(await search(newRead)).toBe(200);
    expect(await search(oldRead)).toBe(401);
    expect((await t.act(READ)).status).toBe(200);
    const printed = rotated.out + rotated.err;
    for (const secret of [newRead, oldRead, t.app.keys.operatorKey]) {
      expect(printed).not.toContain(secret);
      expect(JSON.stringify(await t.audit())).not.toContain(secret);
      expect(t.logs.join('\n')).not.toContain(secret);
    }
    expect((await t.audit()).some((r) => r.event === 'control' && r.action === 'rotate_read')).toBe(
      true,
    );
  });

  it('refuses a wrong token at the check and keeps the one it has', async () => {
    const rotated = await airlock(t, ['rotate', '--which', 'read'], 'not-a-hubspot-token-at-all\n');

    expect(rotated.code).toBe(1);
    expect((await t.act(READ)).status).toBe(200);
    expect(rotated.out + rotated.err).not.toContain('not-a-hubspot-token-at-all');
  });

  it('never prints an emulator token to a terminal', async () => {
    const r = await airlock(t, ['emulator-token', '--which', 'read'], '', true);

    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toContain('refusing to print a token');
  });

  it('verifies a clean log, and finds a planted missing record and a planted altered record', async () => {
    for (let i = 0; i < 4; i += 1) await t.act(READ);
    const clean = await airlock(t, ['verify', '--since', '1h']);
    expect(clean.code).toBe(0);
    expect(clean.out).toContain('INTEGRITY: OK');
    await t.app.close();

    const [file] = (await fs.readdir(t.app.auditDir)).filter((f) => f.endsWith('.jsonl'));
    const full = path.join(t.app.auditDir, file ?? '');
    const lines = (await fs.readFile(full, 'utf8')).trimEnd().split('\n');
    const altered = JSON.parse(lines[3] ?? '{}') as { user_id: string };
    altered.user_id = 'someone-else';
    const tampered = [lines[0], lines[2], JSON.stringify(altered), ...lines.slice(4)];
    await fs.writeFile(full, `${tampered.join('\n')}\n`);

    const broken = await airlock(t, ['verify', '--since', '1h', '--json']);

    expect(broken.code).toBe(1);
    const report = JSON.parse(broken.out) as {
      integrity: { ok: boolean; problems: { kind: string; where: string }[] };
    };
    expect(report.integrity.ok).toBe(false);
    const kinds = report.integrity.problems.map((p) => p.kind);
    expect(kinds).toContain('missing');
    expect(kinds).toContain('altered');
  });

  it('exports an evidence pack that verifies offline, and fails once a byte changes', async () => {
    await t.act(READ);
    await t.act(WRITE);
    const out = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'airlock-pack-')), 'pack');

    const exported = await airlock(t, ['export', '--since', '1h', '--until', 'now', '--out', out]);
    await t.app.close();
    const checked = await airlock(t, ['verify', '--pack', out]);

    expect(exported.code).toBe(0);
    const hash = /manifest\.json SHA-256: ([0-9a-f]{64})/.exec(exported.out)?.[1] ?? '';
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(checked.code).toBe(0);
    expect(checked.out).toContain('PACK OK');
    const expected = await airlock(t, ['verify', '--pack', out, '--expect-sha256', hash]);
    expect(expected.code).toBe(0);
    expect(expected.out).toContain('(matches the expected hash)');
    const other = await airlock(t, ['verify', '--pack', out, '--expect-sha256', 'f'.repeat(64)]);
    expect(other.code).toBe(1);
    expect(other.out).toContain('this is not the pack that was exported');

    const records = path.join(out, 'records.jsonl');
    const text = await fs.readFile(records, 'utf8');
    await fs.writeFile(records, text.replace('u-42', 'u-43'));
    const tampered = await airlock(t, ['verify', '--pack', out]);
    expect(tampered.code).toBe(1);
    expect(tampered.out).toContain('PACK BROKEN');
    await fs.rm(path.dirname(out), { recursive: true, force: true });
  });

  it('sets the switch in the data directory when the gateway is not running', async () => {
    const dataDir = t.app.dataDir;
    await t.app.close();

    const r = await airlock(t, ['contain', '--reason', 'gateway down']);

    expect(r.code).toBe(0);
    expect(r.err).toContain('not answering');
    const control = JSON.parse(await fs.readFile(path.join(dataDir, 'control.json'), 'utf8'));
    expect(control).toMatchObject({ contained: true, reason: 'gateway down' });
  });

  it('answers a usage error with the usage and exit code 2', async () => {
    const r = await airlock(t, ['read-only', 'maybe']);
    const noSince = await airlock(t, ['verify']);

    expect(r.code).toBe(2);
    expect(r.err).toContain('read-only needs on or off');
    expect(noSince.code).toBe(2);
    expect(noSince.err).toContain('--since is required');
  });
});
