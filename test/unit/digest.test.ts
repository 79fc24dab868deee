/**
 * The hourly audit digests and the verification of the S3 audit log (lambdas/core/evidence/
 * digest.ts), against an in-memory bucket that behaves as the versioned Object Lock bucket does:
 * objects carry S3's SHA-256 checksum and a COMPLIANCE retention, a conditional put never
 * overwrites (but does succeed over a delete marker), a plain put adds a version, and a delete
 * adds a delete marker that hides the versions under it.
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
  ArchiveVersion,
  AuditArchive,
  IntegrityProblem,
} from '../../lambdas/core/evidence/types';
import { auditRecord } from '../helpers/audit-records';

const at = (iso: string) => Date.parse(iso);
const hex = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const b64 = (s: string | Buffer) => createHash('sha256').update(s).digest('base64');

/** One entry of a key's history: a stored version, or a delete marker. */
type Version = { marker: false; object: ArchiveObject } | { marker: true; versionId: string };

/** The versioned audit bucket in memory: each key's history, oldest first. */
class MemoryArchive implements AuditArchive {
  private readonly history = new Map<string, Version[]>();
  private version = 0;

  /** The current version of `key`: none when the key has none or a delete marker hides it. */
  private current(key: string): ArchiveObject | undefined {
    const latest = this.history.get(key)?.at(-1);
    return latest && !latest.marker ? latest.object : undefined;
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.history.keys()].filter((k) => k.startsWith(prefix) && this.has(k)).sort();
  }

  async get(key: string): Promise<ArchiveObject> {
    const o = this.current(key);
    if (!o) throw new Error(`NoSuchKey: ${key}`);
    return { ...o, body: Buffer.from(o.body) };
  }

  async putOnce(key: string, body: string): Promise<'created' | 'exists'> {
    // As S3's If-None-Match: a delete marker is no current object, so the put goes through.
    if (this.has(key)) return 'exists';
    this.store(key, body);
    return 'created';
  }

  async listVersions(prefix: string): Promise<ArchiveVersion[]> {
    return [...this.history.keys()]
      .filter((k) => k.startsWith(prefix))
      .sort()
      .flatMap((key) => {
        const versions = this.history.get(key) ?? [];
        return versions
          .map((v, i) => ({
            key,
            versionId: v.marker ? v.versionId : (v.object.versionId as string),
            isLatest: i === versions.length - 1,
            deleteMarker: v.marker,
          }))
          .reverse();
      });
  }

  private nextVersionId(): string {
    this.version += 1;
    return `v${this.version}`;
  }

  /** A new current version of `key` (a plain put): its own checksum, the default retention. */
  store(key: string, body: string): void {
    const versions = this.history.get(key) ?? [];
    versions.push({
      marker: false,
      object: {
        key,
        body: Buffer.from(body),
        versionId: this.nextVersionId(),
        checksumSha256: b64(body),
        lockMode: 'COMPLIANCE',
        retainUntil: '2027-03-02T00:00:00.000Z',
      },
    });
    this.history.set(key, versions);
  }

  /** A DeleteObject without a version id: a delete marker over the key; its id. */
  hide(key: string): string {
    const versionId = this.nextVersionId();
    this.history.get(key)?.push({ marker: true, versionId });
    return versionId;
  }

  /** Every version gone, as after the end of retention and a DeleteObjectVersion of each. */
  destroy(key: string): void {
    this.history.delete(key);
  }

  /** Changes what S3 reports about the current version (its checksum, its lock). */
  patch(key: string, change: (o: ArchiveObject) => ArchiveObject): void {
    const latest = this.history.get(key)?.at(-1);
    if (!latest || latest.marker) throw new Error(`no current version of ${key}`);
    latest.object = change(latest.object);
  }

  has(key: string): boolean {
    return this.current(key) !== undefined;
  }

  keys(): string[] {
    return [...this.history.keys()];
  }

  /** The version ids stored under `key`, oldest first. */
  versionIds(key: string): string[] {
    return (this.history.get(key) ?? []).flatMap((v) =>
      v.marker ? [] : [v.object.versionId as string],
    );
  }

  /** Everything stored, for comparing before and after. */
  snapshot(): string {
    return JSON.stringify([...this.history]);
  }

  /** Writes a record as the S3 audit sink does; returns its key. */
  append(record: AuditRecord): string {
    const key = S3AuditSink.key('audit/', record);
    this.store(key, JSON.stringify(record));
    return key;
  }

  text(key: string): string {
    return this.current(key)?.body.toString('utf8') ?? '';
  }

  digest(hourIso: string): AuditDigest {
    return JSON.parse(this.text(digestKey(at(hourIso)))) as AuditDigest;
  }
}

/** The same bucket through a port without `listVersions`, as a store without versions offers. */
function withoutVersions(archive: MemoryArchive): AuditArchive {
  return {
    list: (prefix) => archive.list(prefix),
    get: (key) => archive.get(key),
    putOnce: (key, body) => archive.putOnce(key, body),
  };
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
    expect(archive.has('digests/2026/03/02/09.json')).toBe(false);
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
    const before = archive.snapshot();

    const again = await digestHours(archive, { now: at('2026-03-02T10:45:00.000Z') });

    expect(again).toEqual({ written: [], skipped: [] });
    expect(archive.snapshot()).toEqual(before);
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

  it('refuses to rebuild the chain over a digest hidden behind a delete marker, writing nothing', async () => {
    const archive = new MemoryArchive();
    archive.append(record('2026-03-02T09:10:00.000Z'));
    const hidden = archive.append(record('2026-03-02T10:20:00.000Z'));
    await digestHours(archive, { now: at('2026-03-02T11:15:00.000Z') });
    await digestHours(archive, { now: at('2026-03-02T12:15:00.000Z') });
    // Hide a record and the digests that list it or chain to it: a plain run would now write a
    // fresh digest of hour 10 without the record, and a chain that verifies.
    archive.hide(hidden);
    archive.hide('digests/2026/03/02/10.json');
    archive.hide('digests/2026/03/02/11.json');
    const before = archive.snapshot();

    const run = digestHours(archive, { now: at('2026-03-02T13:15:00.000Z') });

    await expect(run).rejects.toMatchObject({
      code: 'audit_unavailable',
      message: expect.stringMatching(
        /^Refusing to write audit digests: digests\/2026\/03\/02\/10\.json is hidden behind a delete marker .*digests\/2026\/03\/02\/11\.json is hidden behind a delete marker/,
      ),
    });
    expect(archive.snapshot()).toEqual(before);
  });

  it('refuses to chain onto a digest that has a second version', async () => {
    const archive = new MemoryArchive();
    await digestHours(archive, { now: at('2026-03-02T10:15:00.000Z') });
    const key = 'digests/2026/03/02/09.json';
    archive.store(key, archive.text(key).replace('"objects":[]', '"objects":[ ]'));

    const run = digestHours(archive, { now: at('2026-03-02T11:15:00.000Z') });

    await expect(run).rejects.toMatchObject({
      code: 'audit_unavailable',
      message: expect.stringContaining(`${key}: a second version was written`),
    });
    expect(archive.has('digests/2026/03/02/10.json')).toBe(false);
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
      version_id: archive.versionIds(keys.a)[0],
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

  it('reports a record hidden behind a delete marker as missing, naming its request and the locked version', async () => {
    const { archive, keys } = await digestedArchive();
    const [locked] = archive.versionIds(keys.c);
    const marker = archive.hide(keys.c);

    const { integrity } = await verifyArchiveWindow(archive, WINDOW);

    expect(integrity.ok).toBe(false);
    expect(integrity.problems).toEqual([
      {
        kind: 'missing',
        where: keys.c,
        request_id: 'req_3',
        detail: expect.stringContaining(
          `hidden behind a delete marker (${marker}); the locked version is still there: versionId ${locked}`,
        ),
      },
    ]);
  });

  it('reports a record whose every version is gone as missing, saying none is left', async () => {
    const { archive, keys } = await digestedArchive();
    archive.destroy(keys.c);

    const { integrity } = await verifyArchiveWindow(archive, WINDOW);

    expect(integrity.problems).toEqual([
      expect.objectContaining({
        kind: 'missing',
        where: keys.c,
        request_id: 'req_3',
        detail: expect.stringContaining('no version of it is left'),
      }),
    ]);
  });

  it('reports a record whose bytes changed (a newer version over the locked one) as altered, once, naming both versions', async () => {
    const { archive, keys } = await digestedArchive();
    archive.store(keys.b, archive.text(keys.b).replace('"rejected"', '"completed"'));
    const [original, second] = archive.versionIds(keys.b);

    const { integrity } = await verifyArchiveWindow(archive, WINDOW);

    expect(integrity.problems).toEqual([
      expect.objectContaining({
        kind: 'altered',
        where: keys.b,
        request_id: 'req_2',
        detail: expect.stringMatching(
          new RegExp(
            `now hashes to .*second version was written: versionId ${second} \\(current\\) over ${original}`,
          ),
        ),
      }),
    ]);
  });

  it('reports a second version of an audit object as altered even when its bytes are the same', async () => {
    const { archive, keys } = await digestedArchive();
    archive.store(keys.a, archive.text(keys.a));

    const { integrity } = await verifyArchiveWindow(archive, WINDOW);

    expect(integrity.problems).toEqual([
      expect.objectContaining({
        kind: 'altered',
        where: keys.a,
        request_id: 'req_1',
        detail: expect.stringContaining('second version was written'),
      }),
    ]);
  });

  it('sees through a record hidden and the digests from its hour on rewritten to match (the current view alone verifies)', async () => {
    const { archive, keys } = await digestedArchive();
    // The insider: hide record c of hour 10, then put recomputed digests 10 to 12, each chained
    // to the one before, so the current versions form a consistent chain without c.
    archive.hide(keys.c);
    for (const hour of ['10', '11', '12']) {
      const key = `digests/2026/03/02/${hour}.json`;
      const genuine = JSON.parse(archive.text(key)) as AuditDigest;
      const previousKey = `digests/2026/03/02/${String(Number(hour) - 1).padStart(2, '0')}.json`;
      const forged: AuditDigest = {
        ...genuine,
        objects: genuine.objects.filter((e) => archive.has(e.key)),
        previous: { key: previousKey, sha256: hex(archive.text(previousKey)) },
      };
      archive.store(key, JSON.stringify(forged));
    }
    const currentOnly = await verifyArchiveWindow(withoutVersions(archive), WINDOW);

    const { integrity } = await verifyArchiveWindow(archive, WINDOW);

    expect(currentOnly.integrity.problems).toEqual([]);
    expect(integrity.ok).toBe(false);
    expect(integrity.problems.map((p) => [p.kind, p.where])).toEqual([
      ['missing', keys.c],
      ['altered', 'digests/2026/03/02/10.json'],
      ['altered', 'digests/2026/03/02/11.json'],
      ['altered', 'digests/2026/03/02/12.json'],
    ]);
    const [original, forged] = archive.versionIds('digests/2026/03/02/10.json');
    expect(integrity.problems[1]?.detail).toContain(
      `a second version was written: versionId ${forged} (current) over ${original}`,
    );
  });

  it('notes that hidden and second versions were not checked when the archive cannot list versions', async () => {
    const { archive, keys } = await digestedArchive();
    archive.store(keys.a, archive.text(keys.a));

    const { integrity } = await verifyArchiveWindow(withoutVersions(archive), WINDOW);

    expect(integrity.ok).toBe(true);
    expect(integrity.notes).toContain(
      'The archive cannot list object versions: records hidden behind a delete marker, and ' +
        'records or digests shadowed by a second version, were not checked.',
    );
  });

  it('reports a digest hidden behind a delete marker as missing, its hour as undigested, and the chain as broken', async () => {
    const { archive } = await digestedArchive();
    const key = 'digests/2026/03/02/11.json';
    archive.hide(key);

    const { integrity } = await verifyArchiveWindow(archive, WINDOW);

    expect(integrity.problems).toEqual([
      expect.objectContaining({ kind: 'no_digest', where: key }),
      expect.objectContaining({
        kind: 'missing',
        where: key,
        detail: expect.stringContaining('the digest is hidden behind a delete marker'),
      }),
      expect.objectContaining({ kind: 'digest_chain_broken', where: 'digests/2026/03/02/12.json' }),
    ]);
  });

  it('reports a record backdated under a later hour as altered: its timestamp does not match its key', async () => {
    seq = 0;
    const archive = new MemoryArchive();
    archive.append(record('2026-03-02T10:05:00.000Z'));
    // Written at 10:30 under hour 10, but dated 09:15: it would read as an approval at 09:15.
    const backdated = 'audit/2026/03/02/10/2026-03-02T103000000Z_req_b_approved_0000beef.json';
    archive.store(backdated, JSON.stringify(record('2026-03-02T09:15:00.000Z', 'approved')));
    // The right hour, another time than the key's stamp.
    const restamped = 'audit/2026/03/02/10/2026-03-02T104000000Z_req_r_completed_0000cafe.json';
    archive.store(restamped, JSON.stringify(record('2026-03-02T10:45:00.000Z')));
    await digestHours(archive, { now: at('2026-03-02T10:15:00.000Z') });
    await digestHours(archive, { now: at('2026-03-02T11:15:00.000Z') });

    const { integrity } = await verifyArchiveWindow(archive, {
      since: '2026-03-02T09:00:00.000Z',
      until: '2026-03-02T11:00:00.000Z',
      now: at('2026-03-02T11:20:00.000Z'),
    });

    expect(integrity.problems).toEqual([
      expect.objectContaining({
        kind: 'altered',
        where: backdated,
        detail: expect.stringContaining(
          'its timestamp does not match its key: the record says "2026-03-02T09:15:00.000Z", ' +
            "the key's hour is 2026-03-02T10:00:00.000Z",
        ),
      }),
      expect.objectContaining({
        kind: 'altered',
        where: restamped,
        detail: expect.stringContaining('its timestamp does not match its key'),
      }),
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

  it('reports a changed digest as a second version, and as a broken chain at the digest after it', async () => {
    const { archive } = await digestedArchive();
    const key = 'digests/2026/03/02/10.json';
    archive.store(key, archive.text(key).replace('"created_at":"', '"created_at":"1'));

    const { integrity } = await verifyArchiveWindow(archive, WINDOW);

    expect(integrity.problems).toEqual([
      expect.objectContaining({ kind: 'altered', where: key }),
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
      expect.objectContaining({ kind: 'altered', where: key }),
      expect.objectContaining({
        kind: 'digest_chain_broken',
        where: 'digests/2026/03/02/13.json',
      }),
    ]);
    expect(material.digests.map((d) => d.key)).toContain('digests/2026/03/02/13.json');
  });

  it('reports a settled hour without a digest, and the chain broken where it pointed to it', async () => {
    const { archive } = await digestedArchive();
    archive.destroy('digests/2026/03/02/10.json');

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
    archive.patch(keys.a, (o) => ({ ...o, checksumSha256: b64('something else') }));

    const { integrity } = await verifyArchiveWindow(archive, WINDOW);

    expect(integrity.problems).toEqual([
      expect.objectContaining({ kind: 'checksum_mismatch', where: keys.a, request_id: 'req_1' }),
    ]);
  });

  it('reports objects without a lock, or whose retention has passed', async () => {
    const { archive, keys } = await digestedArchive();
    archive.patch(keys.a, ({ lockMode: _mode, retainUntil: _until, ...unlocked }) => unlocked);
    archive.patch(keys.d, (d) => ({ ...d, retainUntil: '2026-03-02T13:00:00.000Z' }));

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
    for (const key of archive.keys()) {
      archive.patch(key, ({ lockMode: _mode, retainUntil: _until, ...rest }) => rest);
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
  /** When the pack was made: every hour of the window had been digested by then. */
  const ASOF = '2026-03-02T13:40:00.000Z';

  async function packed() {
    const { archive, keys } = await digestedArchive();
    const window = { since: '2026-03-02T09:30:00.000Z', until: WINDOW.until };
    const verified = await verifyArchiveWindow(archive, { ...window, now: WINDOW.now });
    const lines = verified.records.map((r) => ({ key: r.where, line: r.line }));
    return { keys, window, lines, material: verified.material };
  }

  it('passes the records and material of a clean window', async () => {
    const { window, lines, material } = await packed();

    const result = verifyDigestMaterial(lines, material, window, ASOF);

    expect(result).toMatchObject({ ok: true, method: 'object-lock-digests', checked: 3 });
    expect(result.problems).toEqual([]);
  });

  it('fails when the last hour is cut off with its digest, given when the pack was made', async () => {
    const { keys, window, lines, material } = await packed();
    const cut = lines.filter((l) => l.key !== keys.d);
    const cutMaterial: DigestMaterial = {
      ...material,
      objects: material.objects.filter((o) => o.key !== keys.d),
      digests: material.digests.filter((d) => d.key !== 'digests/2026/03/02/12.json'),
    };

    const result = verifyDigestMaterial(cut, cutMaterial, window, ASOF);
    const undated = verifyDigestMaterial(cut, cutMaterial, window);

    expect(result.problems).toEqual([
      expect.objectContaining({
        kind: 'no_digest',
        where: 'digests/2026/03/02/12.json',
        detail: expect.stringContaining('had ended and settled when the pack was made'),
      }),
    ]);
    expect(undated.ok).toBe(true);
    expect(undated.notes).toContain(
      'No time of making was given for the material: an hour of the window without a digest ' +
        'is not reported, so records cut off together with their hour’s digest would not show.',
    );
  });

  it('only notes an hour without a digest that had not settled when the pack was made', async () => {
    const { window, lines, material } = await packed();

    const result = verifyDigestMaterial(
      lines,
      material,
      { ...window, until: '2026-03-02T14:00:00.000Z' },
      '2026-03-02T14:05:00.000Z',
    );

    expect(result.problems).toEqual([]);
    expect(result.notes).toContain(
      'The hour 2026-03-02T13:00:00.000Z was not digested yet when the pack was made: its ' +
        'records are not proven complete.',
    );
  });

  it('fails on a record whose timestamp does not match its key, though its digest lists it', async () => {
    seq = 0;
    const archive = new MemoryArchive();
    const backdated = 'audit/2026/03/02/10/2026-03-02T103000000Z_req_b_approved_0000beef.json';
    archive.store(backdated, JSON.stringify(record('2026-03-02T09:15:00.000Z', 'approved')));
    await digestHours(archive, { now: at('2026-03-02T10:15:00.000Z') });
    await digestHours(archive, { now: at('2026-03-02T11:15:00.000Z') });
    const window = { since: '2026-03-02T09:00:00.000Z', until: '2026-03-02T11:00:00.000Z' };
    const online = await verifyArchiveWindow(archive, {
      ...window,
      now: at('2026-03-02T11:20:00.000Z'),
    });
    const lines = online.records.map((r) => ({ key: r.where, line: r.line }));

    const result = verifyDigestMaterial(lines, online.material, window, '2026-03-02T11:20:00.000Z');

    expect(lines.map((l) => l.key)).toEqual([backdated]);
    expect(result.problems).toEqual([
      expect.objectContaining({
        kind: 'altered',
        where: backdated,
        detail: expect.stringContaining('its timestamp does not match its key'),
      }),
    ]);
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
