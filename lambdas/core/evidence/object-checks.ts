import { hourOfAuditKey, stampOfAuditKey } from '../audit-key';
import { type ReadObject, requestIdOf } from './archive-listing';
import { type Findings, hourFloor, iso, problem } from './verify-kit';

/**
 * The per-object stage of the archive's verification: each audit object parsable, named after
 * its own time, matching S3's stored checksum, and under Object Lock retention.
 */

/**
 * Why a record's `timestamp` does not match the hour and the time stamp of its key, or null when
 * both match. The sink derives both from the record's own timestamp, so an honest record always
 * matches exactly; one that does not was put there by hand (a backdated record under a later
 * hour, say, which would otherwise be digested with that hour and read as an earlier event).
 */
export function timestampMismatch(key: string, timestamp: unknown): string | null {
  const t = typeof timestamp === 'string' ? Date.parse(timestamp) : Number.NaN;
  const keyHour = hourOfAuditKey(key);
  const keyStamp = stampOfAuditKey(key);
  if (Number.isFinite(t) && keyHour === hourFloor(t) && keyStamp === t) return null;
  const shown = (ms: number | null) => (ms === null ? 'none' : iso(ms));
  return (
    `its timestamp does not match its key: the record says ${JSON.stringify(timestamp) ?? 'nothing'}, ` +
    `the key's hour is ${shown(keyHour)} and its time stamp ${shown(keyStamp)} (the sink names ` +
    'every record after its own timestamp, so this one was written by hand, e.g. backdated)'
  );
}

/**
 * Checks every object: parsable, its `timestamp` against its key, its checksum, and (when S3
 * reports retention for any object, i.e. the reader may read it) a lock not past at `now`.
 */
export function checkObjects(objects: readonly ReadObject[], now: number, findings: Findings) {
  const { problems, notes } = findings;
  const lockReported = objects.some(
    (o) => o.object.lockMode !== undefined || o.object.retainUntil !== undefined,
  );
  if (objects.length > 0 && !lockReported) {
    notes.push(
      'S3 reported no Object Lock retention on any audit object: the reader may lack ' +
        's3:GetObjectRetention, so the lock of the records is not proven here.',
    );
  }
  let withoutChecksum = 0;
  let composite = 0;
  for (const o of objects) {
    const { key, checksumSha256, lockMode, retainUntil } = o.object;
    if (o.record === null) {
      problems.push(
        problem('unparsable', key, 'the object is not a JSON audit record', requestIdOf(o)),
      );
    } else {
      const mismatch = timestampMismatch(key, o.record.timestamp);
      if (mismatch !== null) problems.push(problem('altered', key, mismatch, requestIdOf(o)));
    }
    if (checksumSha256 === undefined) withoutChecksum += 1;
    else if (/-\d+$/.test(checksumSha256)) composite += 1;
    else if (checksumSha256 !== o.base64) {
      problems.push(
        problem(
          'checksum_mismatch',
          key,
          `S3's stored SHA-256 checksum is ${checksumSha256}, the bytes read hash to ${o.base64}`,
          requestIdOf(o),
        ),
      );
    }
    if (!lockReported) continue;
    if (lockMode === undefined) {
      problems.push(
        problem('not_locked', key, 'S3 reports no Object Lock retention', requestIdOf(o)),
      );
    } else if (retainUntil === undefined || !(Date.parse(retainUntil) > now)) {
      problems.push(
        problem(
          'not_locked',
          key,
          `the ${lockMode} retention ended (retain until ${retainUntil ?? 'unknown'})`,
          requestIdOf(o),
        ),
      );
    }
  }
  if (withoutChecksum > 0) {
    notes.push(`${withoutChecksum} audit object(s) carry no stored SHA-256 checksum to compare.`);
  }
  if (composite > 0) {
    notes.push(
      `${composite} audit object(s) carry a multipart (composite) checksum, not compared.`,
    );
  }
}
