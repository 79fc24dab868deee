import type { AuditRecord } from '../audit';
import type { ArchiveListing } from './archive-listing';
import { type DigestMaterial, digestKey } from './digest-format';
import type { IntegrityResult, StoredRecord } from './types';
import { byKey, type Findings } from './verify-kit';

/**
 * The last stage of the archive's verification: what it found as an integrity result, the
 * window's records, and the material an offline verifier needs (material-check.ts).
 */

export interface ArchiveWindowVerification {
  integrity: IntegrityResult;
  /** The parsed records whose `timestamp` is in [since, until), in timestamp order. */
  records: StoredRecord[];
  material: DigestMaterial;
}

export function windowResult(
  listing: ArchiveListing,
  window: { since: number; until: number },
  digestPrefix: string,
  findings: Findings,
): ArchiveWindowVerification {
  const inWindow = listing.objects
    .flatMap((o) => {
      const t = o.record === null ? Number.NaN : Date.parse(o.record.timestamp);
      return t >= window.since && t < window.until ? [{ o, t }] : [];
    })
    .sort((a, b) => a.t - b.t || byKey(a.o.object.key, b.o.object.key));
  const records: StoredRecord[] = inWindow.map(({ o }) => ({
    line: o.line,
    record: o.record as AuditRecord,
    where: o.object.key,
  }));
  const material: DigestMaterial = {
    kind: 'object-lock-digests',
    objects: inWindow.map(({ o }) => ({
      key: o.object.key,
      sha256: o.hex,
      bytes: o.object.body.length,
      ...(o.object.versionId === undefined ? {} : { version_id: o.object.versionId }),
      ...(o.object.lockMode === undefined ? {} : { lock_mode: o.object.lockMode }),
      ...(o.object.retainUntil === undefined ? {} : { retain_until: o.object.retainUntil }),
    })),
    digests: listing.digestHoursRead.map((h) => ({
      key: digestKey(h, digestPrefix),
      body: (listing.digestBodies.get(h) as Buffer).toString('utf8'),
    })),
  };

  return {
    integrity: {
      ok: findings.problems.length === 0,
      method: 'object-lock-digests',
      checked: listing.objects.length,
      problems: findings.problems,
      notes: findings.notes,
    },
    records,
    material,
  };
}
