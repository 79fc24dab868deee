import { createHash } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { S3AuditSink } from '../../lambdas/adapters/aws/s3-audit-sink';
import { verifyLocalWindow } from '../../lambdas/adapters/local/audit-verify';
import { FileAuditLog } from '../../lambdas/adapters/local/file-audit-log';
import type { AuditRecord } from '../../lambdas/core/audit';
import type { DigestMaterial } from '../../lambdas/core/evidence/digest';
import {
  digestHours,
  verifyArchiveWindow,
  verifyDigestMaterial,
} from '../../lambdas/core/evidence/digest';
import { buildReport, reportText } from '../../lambdas/core/evidence/report';
import type { AuditArchive, StoredRecord } from '../../lambdas/core/evidence/types';
import { verifyPack, writePack } from '../../lambdas/ops/evidence-pack';
import { auditRecord } from '../helpers/audit-records';

const WINDOW = { since: '2026-11-29T10:00:00.000Z', until: '2026-11-29T10:10:00.000Z' };
const CREATED = '2026-11-29T10:15:00.000Z';
const NOTE = { action: 'create_note', contact_id: '123', body: 'Called about renewal.' };

function at(hhmmss: string): string {
  return `2026-11-29T${hhmmss}.000Z`;
}

function base(overrides: Partial<AuditRecord>): AuditRecord {
  return auditRecord({
    timestamp: at('10:00:00'),
    user_id: 'u-1',
    agent_prompt: 'p',
    structured_action: null,
    hubspot_endpoint: null,
    request_id: 'req_x',
    action: null,
    caller: 'agent-key',
    hubspot_status: null,
    duration_ms: 4,
    ...overrides,
  });
}

const approval = { approval_id: 'ap_1', request_id: 'req_w1' };

/**
 * A write asked and approved before the window and done inside it, a kill switch thrown just
 * before the window and released inside it, reads and a refusal.
 */
const HISTORY: AuditRecord[] = [
  base({
    timestamp: at('09:40:00'),
    request_id: 'req_r0',
    action: 'search_contact',
    record_count: 2,
  }),
  base({
    timestamp: at('09:50:00'),
    request_id: 'req_w1',
    action: 'create_note',
    structured_action: NOTE,
    outcome: 'pending_approval',
    response_status: 202,
    approval,
  }),
  base({
    timestamp: at('09:55:00'),
    request_id: 'req_d1',
    event: 'approval',
    route: 'POST /approvals/ap_1/approve',
    action: 'create_note',
    structured_action: NOTE,
    outcome: 'approved',
    caller: 'approver-key',
    response_status: null,
    approval: { ...approval, approver: 'approver-key', decided_at: at('09:55:00') },
  }),
  base({
    timestamp: at('09:59:58'),
    request_id: 'req_c1',
    event: 'control',
    route: 'POST /operator/contain',
    action: 'contain',
    user_id: null,
    caller: 'operator-key',
    structured_action: { command: 'contain', reason: 'drill' },
  }),
  base({
    timestamp: at('10:00:03'),
    request_id: 'req_d1',
    event: 'approval',
    route: 'POST /approvals/ap_1/approve',
    action: 'create_note',
    structured_action: NOTE,
    caller: 'approver-key',
    approval: { ...approval, approver: 'approver-key', note_id: '9001' },
  }),
  base({
    timestamp: at('10:00:30'),
    request_id: 'req_c2',
    event: 'control',
    route: 'POST /operator/release',
    action: 'release',
    user_id: null,
    caller: 'operator-key',
    structured_action: { command: 'release', reason: null },
  }),
  base({
    timestamp: at('10:01:00'),
    request_id: 'req_r1',
    action: 'search_contact',
    record_count: 5,
  }),
  base({
    timestamp: at('10:02:00'),
    request_id: 'req_r2',
    outcome: 'rejected',
    reason: 'rate_limited',
    rule: 'reads_per_user',
    response_status: 429,
  }),
  base({
    timestamp: at('10:03:00'),
    request_id: 'req_r3',
    action: 'search_company',
    record_count: 1,
  }),
  base({
    timestamp: at('10:20:00'),
    request_id: 'req_r4',
    action: 'search_company',
    record_count: 1,
  }),
];

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

describe('evidence packs', () => {
  let root: string;
  let auditDir: string;
  let packDir: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'evidence-'));
    auditDir = path.join(root, 'audit');
    packDir = path.join(root, 'pack');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  /** A real local chain, verified and cut to the window, exported as a pack. */
  async function exportLocal() {
    const log = await FileAuditLog.open(auditDir);
    for (const r of HISTORY) await log.append(r);
    await log.close();
    const evidence = await verifyLocalWindow(auditDir, WINDOW);
    const report = buildReport(
      evidence.records.map((r) => r.record),
      evidence.integrity,
      { ...WINDOW, generatedAt: CREATED, context: evidence.context },
    );
    const pack = await writePack(packDir, {
      source: 'local',
      ...WINDOW,
      records: evidence.records,
      material: evidence.material,
      report,
      createdAt: CREATED,
      context: evidence.context,
    });
    return { evidence, report, pack };
  }

  function file(name: string): string {
    return path.join(packDir, name);
  }

  /** What someone who rewrote a file would do next to hide it: make the manifest match. */
  function rehashManifest(): void {
    const manifest = JSON.parse(readFileSync(file('manifest.json'), 'utf8'));
    manifest.files = manifest.files.map((f: { name: string }) => {
      const data = readFileSync(file(f.name));
      return { name: f.name, sha256: sha256(data), bytes: data.length };
    });
    writeFileSync(file('manifest.json'), JSON.stringify(manifest));
  }

  it('writes a pack that verifies, whose report is rebuilt from its own records', async () => {
    const { report, evidence } = await exportLocal();

    const checked = await verifyPack(packDir);

    expect(checked.problems).toEqual([]);
    expect(checked.ok).toBe(true);
    expect(checked.integrity).toMatchObject({ ok: true, method: 'hash-chain', checked: 5 });
    const { integrity: _a, ...rebuilt } = checked.report;
    const { integrity: _b, ...original } = report;
    expect(rebuilt).toEqual(original);
    // The write approved before the window and the containment begun before it both came along.
    expect(checked.report.writes).toEqual([
      expect.objectContaining({
        approval_id: 'ap_1',
        approvers: ['approver-key'],
        note_id: '9001',
      }),
    ]);
    expect(checked.report.anomalies).toEqual([
      expect.objectContaining({ kind: 'served_after_containment', within_propagation: true }),
    ]);
    expect(evidence.records.map((r) => r.record.request_id)).toEqual([
      'req_d1',
      'req_c2',
      'req_r1',
      'req_r2',
      'req_r3',
    ]);
  });

  it('writes the records byte for byte, and manifest hashes that sha256sum would give', async () => {
    const { evidence, pack } = await exportLocal();
    const manifestBytes = readFileSync(file('manifest.json'));
    const manifest = JSON.parse(manifestBytes.toString('utf8'));

    expect(readFileSync(file('records.jsonl'), 'utf8')).toBe(
      evidence.records.map((r) => `${r.line}\n`).join(''),
    );
    expect(manifest).toMatchObject({
      format: 'crm-airlock-evidence/1',
      created_at: CREATED,
      source: 'local',
      window: WINDOW,
    });
    expect(manifest.files.map((f: { name: string }) => f.name).sort()).toEqual(
      readdirSync(packDir)
        .filter((n) => n !== 'manifest.json')
        .sort(),
    );
    for (const f of manifest.files as { name: string; sha256: string; bytes: number }[]) {
      const data = readFileSync(file(f.name));
      expect({ name: f.name, sha256: sha256(data), bytes: data.length }).toEqual(f);
    }
    expect(pack.manifestSha256).toBe(sha256(manifestBytes));
    expect(pack.files).toEqual(manifest.files);
  });

  it('keeps the pack private: files 0600, directory 0700', async () => {
    await exportLocal();

    expect(statSync(packDir).mode & 0o777).toBe(0o700);
    for (const name of readdirSync(packDir)) {
      expect([name, statSync(file(name)).mode & 0o777]).toEqual([name, 0o600]);
    }
  });

  it('refuses to write into a directory that is not empty', async () => {
    mkdirSync(packDir);
    writeFileSync(path.join(packDir, 'notes.txt'), 'mine');

    await expect(exportLocal()).rejects.toThrow(/is not empty/);
    expect(readdirSync(packDir)).toEqual(['notes.txt']);
  });

  it('fails when one byte of records.jsonl is altered', async () => {
    await exportLocal();
    const data = readFileSync(file('records.jsonl'));
    const i = data.indexOf('"u-1"') + 3;
    data[i] = '2'.charCodeAt(0);
    writeFileSync(file('records.jsonl'), data);

    const checked = await verifyPack(packDir);

    expect(checked.ok).toBe(false);
    expect(checked.problems).toContainEqual(expect.stringMatching(/^records\.jsonl was changed/));
    expect(checked.integrity.problems).toEqual([
      expect.objectContaining({ kind: 'altered', where: 'records.jsonl:1' }),
    ]);
  });

  it('fails when a line is deleted from records.jsonl, even with the manifest rewritten to match', async () => {
    await exportLocal();
    const lines = readFileSync(file('records.jsonl'), 'utf8').split('\n');
    lines.splice(2, 1);
    writeFileSync(file('records.jsonl'), lines.join('\n'));

    const first = await verifyPack(packDir);
    rehashManifest();
    const second = await verifyPack(packDir);

    expect(first.problems).toContainEqual(expect.stringMatching(/^records\.jsonl was changed/));
    expect(second.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^The records do not verify: missing at records\.jsonl:3/),
        expect.stringMatching(
          /^report\.json does not match the report rebuilt from records\.jsonl/,
        ),
      ]),
    );
    expect(second.ok).toBe(false);
  });

  it('fails when report.json is edited, naming the sections that the records contradict', async () => {
    await exportLocal();
    const report = JSON.parse(readFileSync(file('report.json'), 'utf8'));
    report.anomalies = [];
    report.writes[0].approvers = ['someone-else'];
    writeFileSync(file('report.json'), `${JSON.stringify(report, null, 2)}\n`);

    const first = await verifyPack(packDir);
    rehashManifest();
    const second = await verifyPack(packDir);

    expect(first.problems).toContainEqual(expect.stringMatching(/^report\.json was changed/));
    expect(second.problems).toEqual([
      'report.json does not match the report rebuilt from records.jsonl: anomalies, writes differ.',
    ]);
  });

  it('fails when a file is added to the pack, or one is removed', async () => {
    await exportLocal();
    writeFileSync(file('extra.txt'), 'planted');
    unlinkSync(file('README.txt'));

    const checked = await verifyPack(packDir);

    expect(checked.problems).toEqual(
      expect.arrayContaining([
        'extra.txt is not in the manifest: it was added to the pack.',
        'README.txt is missing (the manifest lists it).',
      ]),
    );
  });

  it('fails when records are cut off the start of the window, even with the manifest rewritten', async () => {
    await exportLocal();
    const lines = readFileSync(file('records.jsonl'), 'utf8').split('\n');
    writeFileSync(file('records.jsonl'), lines.slice(1).join('\n'));
    rehashManifest();

    const checked = await verifyPack(packDir);

    expect(checked.integrity.problems).toContainEqual(
      expect.objectContaining({
        where: 'integrity.json',
        detail: expect.stringMatching(/first record does not hang from first_prev_hash/),
      }),
    );
  });

  it('checks an AWS pack against its object hashes with the digest verifier', async () => {
    const window = { since: '2026-11-29T10:00:00.000Z', until: '2026-11-29T11:00:00.000Z' };
    const records: StoredRecord[] = HISTORY.slice(4, 9).map((record) => {
      const line = JSON.stringify(record);
      return { line, record, where: S3AuditSink.key('audit/', record) };
    });
    const material: DigestMaterial = {
      kind: 'object-lock-digests',
      objects: records.map((r) => ({
        key: r.where,
        sha256: sha256(r.line),
        bytes: Buffer.byteLength(r.line),
      })),
      digests: [],
    };
    const integrity = verifyDigestMaterial(
      records.map((r) => ({ key: r.where, line: r.line })),
      material,
      window,
    );
    const report = buildReport(
      records.map((r) => r.record),
      integrity,
      { ...window, generatedAt: CREATED, context: HISTORY.slice(0, 4) },
    );
    await writePack(packDir, {
      source: 'aws',
      ...window,
      records,
      material,
      report,
      createdAt: CREATED,
      context: HISTORY.slice(0, 4),
    });
    const keys = JSON.parse(readFileSync(file('integrity.json'), 'utf8')).record_keys;

    const clean = await verifyPack(packDir);
    const lines = readFileSync(file('records.jsonl'), 'utf8').split('\n');
    lines[1] = (lines[1] ?? '').replace('operator-key', 'operator-kez');
    writeFileSync(file('records.jsonl'), lines.join('\n'));
    rehashManifest();
    const tampered = await verifyPack(packDir);

    expect(keys).toEqual(records.map((r) => r.where));
    expect(clean.problems).toEqual([]);
    expect(clean.integrity.method).toBe('object-lock-digests');
    expect(tampered.integrity.problems).toContainEqual(
      expect.objectContaining({ kind: 'altered', where: records[1]?.where }),
    );
    expect(tampered.ok).toBe(false);
  });

  it('fails an AWS pack whose last hour was cut off with its digest, even with report and manifest rewritten to match', async () => {
    const window = { since: at('10:00:00'), until: at('12:00:00') };
    const created = at('12:40:00');
    const archive = memoryArchive();
    for (const [t, id] of [
      ['10:01:00', 'req_a'],
      ['10:40:00', 'req_b'],
      ['11:05:00', 'req_c'],
      ['11:30:00', 'req_d'],
    ] as const) {
      const record = base({ timestamp: at(t), request_id: id, action: 'search_contact' });
      await archive.putOnce(S3AuditSink.key('audit/', record), JSON.stringify(record));
    }
    await digestHours(archive, { now: Date.parse(at('11:15:00')) });
    await digestHours(archive, { now: Date.parse(at('12:15:00')) });
    const evidence = await verifyArchiveWindow(archive, { ...window, now: Date.parse(created) });
    const options = { ...window, generatedAt: created, context: [] };
    await writePack(packDir, {
      source: 'aws',
      ...window,
      records: evidence.records,
      material: evidence.material,
      report: buildReport(
        evidence.records.map((r) => r.record),
        evidence.integrity,
        options,
      ),
      createdAt: created,
    });
    const clean = await verifyPack(packDir);
    // Cut hour 11 everywhere it shows: its lines, keys, objects and digest, and the report.
    const kept = evidence.records.filter((r) => !r.where.startsWith('audit/2026/11/29/11/'));
    writeFileSync(file('records.jsonl'), kept.map((r) => `${r.line}\n`).join(''));
    const integrity = JSON.parse(readFileSync(file('integrity.json'), 'utf8'));
    integrity.record_keys = kept.map((r) => r.where);
    integrity.material.objects = integrity.material.objects.filter((o: { key: string }) =>
      integrity.record_keys.includes(o.key),
    );
    integrity.material.digests = integrity.material.digests.filter(
      (d: { key: string }) => d.key !== 'digests/2026/11/29/11.json',
    );
    writeFileSync(file('integrity.json'), `${JSON.stringify(integrity, null, 2)}\n`);
    const report = buildReport(
      kept.map((r) => r.record),
      evidence.integrity,
      options,
    );
    writeFileSync(file('report.json'), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(file('report.txt'), reportText(report));
    rehashManifest();

    const cut = await verifyPack(packDir);

    expect(clean.problems).toEqual([]);
    expect(evidence.records).toHaveLength(4);
    expect(cut.problems).toEqual([
      expect.stringMatching(
        /^The records do not verify: no_digest at digests\/2026\/11\/29\/11\.json: the hour 2026-11-29T11:00:00\.000Z had ended and settled when the pack was made/,
      ),
    ]);
    expect(cut.ok).toBe(false);
  });
});

/** The audit bucket in memory, current versions only: enough to digest and verify hours. */
function memoryArchive(): AuditArchive {
  const objects = new Map<string, Buffer>();
  return {
    async list(prefix) {
      return [...objects.keys()].filter((k) => k.startsWith(prefix)).sort();
    },
    async get(key) {
      const body = objects.get(key);
      if (!body) throw new Error(`NoSuchKey: ${key}`);
      return { key, body };
    },
    async putOnce(key, body) {
      if (objects.has(key)) return 'exists';
      objects.set(key, Buffer.from(body));
      return 'created';
    },
  };
}
