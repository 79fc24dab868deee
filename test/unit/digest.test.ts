/**
 * The hourly audit digests and the verification of the S3 audit log (lambdas/core/evidence/
 * digest.ts), against an in-memory bucket that behaves as the Object Lock bucket does: objects
 * carry S3's SHA-256 checksum and a COMPLIANCE retention, and a put never overwrites.
 */
import { createHash } from 'node:crypto';
import { S3AuditSink } from '../../lambdas/adapters/aws/s3-audit-sink';
import type { AuditRecord } from '../../lambdas/core/audit';
import {
  type AuditDigest,
  type DigestMaterial,
  digestHours,
  digestKey,
  verifyArchiveWindow,
  verifyDigestMaterial,
} from '../../lambdas/core/evidence/digest';
import type {
  ArchiveObject,
  AuditArchive,
  IntegrityProblem,
} from '../../lambdas/core/evidence/types';
import { auditRecord } from '../helpers/audit-records';

const at = (iso: string) => Date.parse(iso);
const hex = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const b64 = (s: string | Buffer) => createHash('sha256').update(s).digest('base64');

/** The audit bucket in memory: list sorted, get throws on a missing key, putOnce never overwrites. */
class MemoryArchive implements AuditArchive {
  readonly objects = new Map<string, ArchiveObject>();
  private version = 0;

  async list(prefix: string): Promise<string[]> {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  async get(key: string): Promise<ArchiveObject> {
    const o = this.objects.get(key);
    if (!o) throw new Error(`NoSuchKey: ${key}`);
    return { ...o, body: Buffer.from(o.body) };
  }

  async putOnce(key: string, body: string): Promise<'created' | 'exists'> {
    if (this.objects.has(key)) return 'exists';
    this.store(key, body);
    return 'created';
  }

  /** A new current version of `key`, as S3 stores it: its own checksum, the default retention. */
  store(key: string, body: string): void {
    this.version += 1;
    this.objects.set(key, {
      key,
      body: Buffer.from(body),
      versionId: `v${this.version}`,
      checksumSha256: b64(body),
      lockMode: 'COMPLIANCE',
      retainUntil: '2027-03-02T00:00:00.000Z',
    });
  }

  /** Writes a record as the S3 audit sink does; returns its key. */
  append(record: AuditRecord): string {
    const key = S3AuditSink.key('audit/', record);
    this.store(key, JSON.stringify(record));
    return key;
  }

  text(key: string): string {
    return this.objects.get(key)?.body.toString('utf8') ?? '';
  }

  digest(hourIso: string): AuditDigest {
    return JSON.parse(this.text(digestKey(at(hourIso)))) as AuditDigest;
  }
}

let seq = 0;
function record(timestamp: string, outcome: AuditRecord['outcome'] = 'completed'): AuditRecord {
  seq += 1;
  return auditRecord({ timestamp, outcome, request_id: `req_${seq}` });
}

const kinds = (problems: IntegrityProblem[]) => problems.map((p) => p.kind).sort();

describe('digestHours', () => {
  it('digests the newest settled hour on its first run, listing every object of the hour', async () => {
    const archive = new MemoryArchive();
    const k1 = archive.append(record('2026-03-02T09:00:00.000Z'));
    const k2 = archive.append(record('2026-03-02T09:59:59.999Z', 'pending_approval'));
    archive.append(record('2026-03-02T10:01:00.000Z')); // the hour still running

    const result = await digestHours(archive, { now: at('2026-03-02T10:15:00.000Z') });

    expect(result).toEqual({ written: ['digests/2026/03/02/09.json'], skipped: [] });
    const body = archive.text('digests/2026/03/02/09.json');
    expect(JSON.parse(body)).toEqual({
      format: 'crm-airlock-digest/1',
      hour_start: '2026-03-02T09:00:00.000Z',
      hour_end: '2026-03-02T10:00:00.000Z',
      prefix: 'audit/2026/03/02/09/',
      created_at: '2026-03-02T10:15:00.000Z',
      objects: [k1, k2].sort().map((key) => ({
        key,
        sha256: hex(archive.text(key)),
        bytes: Buffer.byteLength(archive.text(key)),
      })),
      previous: null,
    });
    // Deterministic: the members in the documented order, one line.
    expect(Object.keys(JSON.parse(body))).toEqual([
      'format',
      'hour_start',
      'hour_end',
      'prefix',
      'created_at',
      'objects',
      'previous',
    ]);
    expect(body).not.toContain('\n');
  });

  it('waits until an hour has ended and settled before digesting it', async () => {
    const archive = new MemoryArchive();
    archive.append(record('2026-03-02T09:30:00.000Z'));

    const early = await digestHours(archive, { now: at('2026-03-02T10:05:00.000Z') });

    expect(early.written).toEqual(['digests/2026/03/02/08.json']);
    expect(archive.objects.has('digests/2026/03/02/09.json')).toBe(false);
  });

  it('catches up the missed hours in order, each chained to the exact bytes of the one before, empty hours included', async () => {
    const archive = new MemoryArchive();
    archive.append(record('2026-03-02T09:10:00.000Z'));
    await digestHours(archive, { now: at('2026-03-02T10:15:00.000Z') });
    archive.append(record('2026-03-02T10:20:00.000Z'));
    archive.append(record('2026-03-02T12:40:00.000Z'));

    const result = await digestHours(archive, { now: at('2026-03-02T13:15:00.000Z') });

    expect(result.written).toEqual([
      'digests/2026/03/02/10.json',
      'digests/2026/03/02/11.json',
      'digests/2026/03/02/12.json',
    ]);
    for (const [hour, before] of [
      ['10', '09'],
      ['11', '10'],
      ['12', '11'],
    ] as const) {
      const previousKey = `digests/2026/03/02/${before}.json`;
      expect(archive.digest(`2026-03-02T${hour}:00:00Z`).previous).toEqual({
        key: previousKey,
        sha256: hex(archive.text(previousKey)),
      });
    }
    expect(archive.digest('2026-03-02T11:00:00Z').objects).toEqual([]);
    expect(archive.digest('2026-03-02T12:00:00Z').objects).toHaveLength(1);
  });

  it('writes nothing on a second run for the same hours', async () => {
    const archive = new MemoryArchive();
    archive.append(record('2026-03-02T09:10:00.000Z'));
    await digestHours(archive, { now: at('2026-03-02T10:15:00.000Z') });
    const before = new Map(archive.objects);

    const again = await digestHours(archive, { now: at('2026-03-02T10:45:00.000Z') });

    expect(again).toEqual({ written: [], skipped: [] });
    expect(archive.objects).toEqual(before);
  });

  it('digests at most maxHours per run and continues the chain on the next run', async () => {
    const archive = new MemoryArchive();
    await digestHours(archive, { now: at('2026-03-02T05:15:00.000Z') });

    const first = await digestHours(archive, { now: at('2026-03-02T10:15:00.000Z'), maxHours: 2 });
    const second = await digestHours(archive, {
      now: at('2026-03-02T10:15:00.000Z'),
      maxHours: 2,
    });

    expect(first.written).toEqual(['digests/2026/03/02/05.json', 'digests/2026/03/02/06.json']);
    expect(second.written).toEqual(['digests/2026/03/02/07.json', 'digests/2026/03/02/08.json']);
    expect(archive.digest('2026-03-02T07:00:00Z').previous?.key).toBe('digests/2026/03/02/06.json');
  });

  it('restarts the chain at the newest settled hour when no digest is within the lookback', async () => {
    const archive = new MemoryArchive();
    await digestHours(archive, { now: at('2026-03-01T10:15:00.000Z') });

    const result = await digestHours(archive, {
      now: at('2026-03-02T10:15:00.000Z'),
      lookbackHours: 12,
    });

    expect(result.written).toEqual(['digests/2026/03/02/09.json']);
    expect(archive.digest('2026-03-02T09:00:00Z').previous).toBeNull();
  });

  it('produces one chain when two runs race: the later one keeps and chains to what the first wrote', async () => {
    const archive = new MemoryArchive();
    await digestHours(archive, { now: at('2026-03-02T06:15:00.000Z') });
    archive.append(record('2026-03-02T07:30:00.000Z'));
    archive.append(record('2026-03-02T08:30:00.000Z'));

    const [a, b] = await Promise.all([
      digestHours(archive, { now: at('2026-03-02T10:15:00.000Z') }),
      digestHours(archive, { now: at('2026-03-02T10:16:00.000Z') }),
    ]);

    const expected = [
      'digests/2026/03/02/06.json',
      'digests/2026/03/02/07.json',
      'digests/2026/03/02/08.json',
      'digests/2026/03/02/09.json',
    ];
    expect([...a.written, ...b.written].sort()).toEqual(expected);
    expect([...a.skipped, ...b.skipped].sort()).toEqual(expected);
    const check = await verifyArchiveWindow(archive, {
      since: '2026-03-02T06:00:00.000Z',
      until: '2026-03-02T10:00:00.000Z',
      now: at('2026-03-02T10:20:00.000Z'),
    });
    expect(check.integrity.problems).toEqual([]);
  });
});

/**
 * Records in the hours 09, 10 and 12 (11 is empty), all digested by 13:15; the window 09:00 to
 * 13:00 is checked at 13:20.
 */
async function digestedArchive() {
  seq = 0;
  const archive = new MemoryArchive();
  const keys = {
    a: archive.append(record('2026-03-02T09:05:00.000Z')),
    b: archive.append(record('2026-03-02T09:45:00.000Z', 'rejected')),
    c: archive.append(record('2026-03-02T10:30:00.000Z')),
    d: archive.append(record('2026-03-02T12:10:00.000Z', 'pending_approval')),
  };
  await digestHours(archive, { now: at('2026-03-02T10:15:00.000Z') });
  await digestHours(archive, { now: at('2026-03-02T13:15:00.000Z') });
  return { archive, keys };
}
const WINDOW = {
  since: '2026-03-02T09:00:00.000Z',
  until: '2026-03-02T13:00:00.000Z',
  now: at('2026-03-02T13:20:00.000Z'),
};

describe('verifyArchiveWindow', () => {
  it('proves a clean window and returns its records in time order with their exact bytes', async () => {
    const { archive, keys } = await digestedArchive();

    const { integrity, records, material } = await verifyArchiveWindow(archive, WINDOW);

    expect(integrity).toEqual({
      ok: true,
      method: 'object-lock-digests',
      checked: 4,
      problems: [],
      notes: [
        'The digest chain starts at 2026-03-02T09:00:00.000Z: no digest proves the hours before it.',
      ],
    });
    expect(records.map((r) => r.where)).toEqual([keys.a, keys.b, keys.c, keys.d]);
    expect(records.map((r) => r.line)).toEqual(
      [keys.a, keys.b, keys.c, keys.d].map((k) => archive.text(k)),
    );
    expect(records[1]?.record.outcome).toBe('rejected');
    expect(material.objects[0]).toEqual({
      key: keys.a,
      sha256: hex(archive.text(keys.a)),
      bytes: Buffer.byteLength(archive.text(keys.a)),
      version_id: archive.objects.get(keys.a)?.versionId,
      lock_mode: 'COMPLIANCE',
      retain_until: '2027-03-02T00:00:00.000Z',
    });
    expect(material.digests.map((d) => d.key)).toEqual([
      'digests/2026/03/02/09.json',
      'digests/2026/03/02/10.json',
      'digests/2026/03/02/11.json',
      'digests/2026/03/02/12.json',
    ]);
  });

  it('returns only the records inside [since, until) from the hours it touches', async () => {
    const { archive, keys } = await digestedArchive();

    const { integrity, records } = await verifyArchiveWindow(archive, {
      ...WINDOW,
      since: '2026-03-02T09:30:00.000Z',
      until: '2026-03-02T10:30:00.000Z',
    });

    expect(integrity.ok).toBe(true);
    expect(integrity.checked).toBe(3);
    expect(records.map((r) => r.where)).toEqual([keys.b]);
  });

  it('reports a deleted record as missing, naming its request', async () => {
    const { archive, keys } = await digestedArchive();
    archive.objects.delete(keys.c);

    const { integrity } = await verifyArchiveWindow(archive, WINDOW);

    expect(integrity.ok).toBe(false);
    expect(integrity.problems).toEqual([
      {
        kind: 'missing',
        where: keys.c,
        request_id: 'req_3',
        detail: expect.stringContaining('delete marker'),
      },
    ]);
  });

  it('reports a record whose bytes changed (a newer version over the locked one) as altered', async () => {
    const { archive, keys } = await digestedArchive();
    archive.store(keys.b, archive.text(keys.b).replace('"rejected"', '"completed"'));

    const { integrity } = await verifyArchiveWindow(archive, WINDOW);

    expect(integrity.problems).toEqual([
      expect.objectContaining({ kind: 'altered', where: keys.b, request_id: 'req_2' }),
    ]);
  });

  it('reports an object planted after its hour was digested as not in any digest', async () => {
    const { archive } = await digestedArchive();
    const planted = archive.append(record('2026-03-02T10:50:00.000Z'));

    const { integrity, records } = await verifyArchiveWindow(archive, WINDOW);

    expect(integrity.problems).toEqual([
      expect.objectContaining({ kind: 'not_in_digest', where: planted }),
    ]);
    expect(records.map((r) => r.where)).toContain(planted);
  });

  it('reports a changed digest as a broken chain at the digest after it', async () => {
    const { archive } = await digestedArchive();
    const key = 'digests/2026/03/02/10.json';
    archive.store(key, archive.text(key).replace('"created_at":"', '"created_at":"1'));

    const { integrity } = await verifyArchiveWindow(archive, WINDOW);

    expect(integrity.problems).toEqual([
      expect.objectContaining({
        kind: 'digest_chain_broken',
        where: 'digests/2026/03/02/11.json',
        detail: expect.stringContaining('was changed after this digest was written'),
      }),
    ]);
  });

  it('checks the chain into the hour after the window, so the last digest of the window is covered too', async () => {
    const { archive } = await digestedArchive();
    await digestHours(archive, { now: at('2026-03-02T14:15:00.000Z') });
    const key = 'digests/2026/03/02/12.json';
    archive.store(key, `${archive.text(key)} `);

    const { integrity, material } = await verifyArchiveWindow(archive, {
      ...WINDOW,
      now: at('2026-03-02T14:20:00.000Z'),
    });

    expect(integrity.problems).toEqual([
      expect.objectContaining({
        kind: 'digest_chain_broken',
        where: 'digests/2026/03/02/13.json',
      }),
    ]);
    expect(material.digests.map((d) => d.key)).toContain('digests/2026/03/02/13.json');
  });

  it('reports a settled hour without a digest, and the chain broken where it pointed to it', async () => {
    const { archive } = await digestedArchive();
    archive.objects.delete('digests/2026/03/02/10.json');

    const { integrity } = await verifyArchiveWindow(archive, WINDOW);

    expect(integrity.problems).toEqual([
      expect.objectContaining({ kind: 'no_digest', where: 'digests/2026/03/02/10.json' }),
      expect.objectContaining({
        kind: 'digest_chain_broken',
        where: 'digests/2026/03/02/11.json',
        detail: expect.stringContaining('ListObjectVersions'),
      }),
    ]);
  });

  it('only notes an hour not digested yet because it has not settled', async () => {
    const { archive, keys } = await digestedArchive();
    const late = archive.append(record('2026-03-02T13:05:00.000Z'));

    const { integrity, records } = await verifyArchiveWindow(archive, {
      since: '2026-03-02T12:00:00.000Z',
      until: '2026-03-02T14:00:00.000Z',
      now: at('2026-03-02T14:05:00.000Z'),
    });

    expect(integrity.ok).toBe(true);
    expect(integrity.notes).toContain(
      'The hour 2026-03-02T13:00:00.000Z is not digested yet: its records are not proven complete.',
    );
    expect(records.map((r) => r.where)).toEqual([keys.d, late]);
  });

  it('reports an object whose bytes do not match S3’s stored checksum', async () => {
    const { archive, keys } = await digestedArchive();
    const o = archive.objects.get(keys.a) as ArchiveObject;
    archive.objects.set(keys.a, { ...o, checksumSha256: b64('something else') });

    const { integrity } = await verifyArchiveWindow(archive, WINDOW);

    expect(integrity.problems).toEqual([
      expect.objectContaining({ kind: 'checksum_mismatch', where: keys.a, request_id: 'req_1' }),
    ]);
  });

  it('reports objects without a lock, or whose retention has passed', async () => {
    const { archive, keys } = await digestedArchive();
    const {
      lockMode: _mode,
      retainUntil: _until,
      ...unlocked
    } = archive.objects.get(keys.a) as ArchiveObject;
    archive.objects.set(keys.a, unlocked);
    const d = archive.objects.get(keys.d) as ArchiveObject;
    archive.objects.set(keys.d, { ...d, retainUntil: '2026-03-02T13:00:00.000Z' });

    const { integrity } = await verifyArchiveWindow(archive, WINDOW);

    expect(integrity.problems).toEqual([
      expect.objectContaining({ kind: 'not_locked', where: keys.a }),
      expect.objectContaining({
        kind: 'not_locked',
        where: keys.d,
        detail: expect.stringContaining('2026-03-02T13:00:00.000Z'),
      }),
    ]);
  });

  it('says once that the lock is not proven when S3 reports no retention on any object', async () => {
    const { archive } = await digestedArchive();
    for (const [key, o] of archive.objects) {
      const { lockMode: _mode, retainUntil: _until, ...rest } = o;
      archive.objects.set(key, rest);
    }

    const { integrity } = await verifyArchiveWindow(archive, WINDOW);

    expect(integrity.ok).toBe(true);
    expect(integrity.notes).toEqual(
      expect.arrayContaining([expect.stringContaining('s3:GetObjectRetention')]),
    );
  });

  it('reports an object that is not an audit record as unparsable', async () => {
    const archive = new MemoryArchive();
    archive.store('audit/2026/03/02/09/junk.json', 'not json');
    await digestHours(archive, { now: at('2026-03-02T10:15:00.000Z') });

    const { integrity, records } = await verifyArchiveWindow(archive, {
      since: '2026-03-02T09:00:00.000Z',
      until: '2026-03-02T10:00:00.000Z',
      now: at('2026-03-02T10:20:00.000Z'),
    });

    expect(kinds(integrity.problems)).toEqual(['unparsable']);
    expect(records).toEqual([]);
  });

  it('refuses a window that is not one', async () => {
    const archive = new MemoryArchive();
    await expect(
      verifyArchiveWindow(archive, { since: 'yesterday', until: WINDOW.until, now: WINDOW.now }),
    ).rejects.toMatchObject({ code: 'validation_failed' });
    await expect(
      verifyArchiveWindow(archive, { ...WINDOW, since: WINDOW.until }),
    ).rejects.toMatchObject({ code: 'validation_failed' });
  });
});

describe('verifyDigestMaterial (offline)', () => {
  async function packed() {
    const { archive, keys } = await digestedArchive();
    const window = { since: '2026-03-02T09:30:00.000Z', until: WINDOW.until };
    const verified = await verifyArchiveWindow(archive, { ...window, now: WINDOW.now });
    const lines = verified.records.map((r) => ({ key: r.where, line: r.line }));
    return { keys, window, lines, material: verified.material };
  }

  it('passes the records and material of a clean window', async () => {
    const { window, lines, material } = await packed();

    const result = verifyDigestMaterial(lines, material, window);

    expect(result).toMatchObject({ ok: true, method: 'object-lock-digests', checked: 3 });
    expect(result.problems).toEqual([]);
  });

  it('fails on a changed line', async () => {
    const { keys, window, lines, material } = await packed();
    const changed = lines.map((l) =>
      l.key === keys.c ? { ...l, line: l.line.replace('u-42', 'u-43') } : l,
    );

    const result = verifyDigestMaterial(changed, material, window);

    expect(result.ok).toBe(false);
    expect(result.problems.map((p) => [p.kind, p.where])).toEqual([
      ['altered', keys.c],
      ['altered', keys.c],
    ]);
  });

  it('fails on a dropped line', async () => {
    const { keys, window, lines, material } = await packed();

    const result = verifyDigestMaterial(
      lines.filter((l) => l.key !== keys.d),
      material,
      window,
    );

    expect(result.problems).toEqual([
      expect.objectContaining({ kind: 'missing', where: keys.d, request_id: 'req_4' }),
    ]);
  });

  it('fails when a digest of the material was changed', async () => {
    const { window, lines, material } = await packed();
    const changed: DigestMaterial = {
      ...material,
      digests: material.digests.map((d) =>
        d.key.endsWith('/10.json')
          ? { ...d, body: d.body.replace('"created_at":"', '"created_at":"1') }
          : d,
      ),
    };

    const result = verifyDigestMaterial(lines, changed, window);

    expect(result.problems).toEqual([
      expect.objectContaining({
        kind: 'digest_chain_broken',
        where: 'digests/2026/03/02/11.json',
      }),
    ]);
  });

  it('fails on a line the digest of its hour does not list', async () => {
    const { window, lines, material } = await packed();
    const extra = JSON.stringify(record('2026-03-02T10:40:00.000Z'));
    const key = 'audit/2026/03/02/10/2026-03-02T104000000Z_req_x_completed_00000000.json';

    const result = verifyDigestMaterial(
      [...lines, { key, line: extra }],
      {
        ...material,
        objects: [...material.objects, { key, sha256: hex(extra), bytes: extra.length }],
      },
      window,
    );

    expect(result.problems).toEqual([
      expect.objectContaining({ kind: 'not_in_digest', where: key }),
    ]);
  });

  it('notes records of an hour the material has no digest for instead of claiming them proven', async () => {
    const { window, lines, material } = await packed();
    const extra = JSON.stringify(record('2026-03-02T13:40:00.000Z'));
    const key = 'audit/2026/03/02/13/2026-03-02T134000000Z_req_y_completed_00000000.json';

    const result = verifyDigestMaterial(
      [...lines, { key, line: extra }],
      {
        ...material,
        objects: [...material.objects, { key, sha256: hex(extra), bytes: extra.length }],
      },
      { ...window, until: '2026-03-02T14:00:00.000Z' },
    );

    expect(result.ok).toBe(true);
    expect(result.notes).toContain(
      'No digest in the material covers audit/2026/03/02/13/: its records are not proven by one.',
    );
  });
});
