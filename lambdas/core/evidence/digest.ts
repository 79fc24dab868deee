import { auditHourPrefix, DEFAULT_AUDIT_PREFIX, HOUR_MS, stampOfAuditKey } from '../audit-key';
import { listArchiveWindow } from './archive-listing';
import { checkArchiveChain } from './digest-chain';
import { DEFAULT_DIGEST_PREFIX, DIGEST_DUE_MS } from './digest-format';
import { checkHours, parseDigests } from './hour-checks';
import { checkObjects } from './object-checks';
import type { AuditArchive } from './types';
import { type Findings, hourFloor, parseWindow } from './verify-kit';
import { checkDigestVersions, noteMarkersOnly, VERSIONS_UNCHECKED } from './version-findings';
import { type ArchiveWindowVerification, windowResult } from './window-result';

/**
 * Hourly digests of the AWS audit log, in the manner of CloudTrail log file integrity: once an
 * hour has ended, one JSON object under `digests/YYYY/MM/DD/HH.json` lists every audit object of
 * that hour with the SHA-256 of its exact bytes, and names the digest before it with the SHA-256
 * of that digest's exact bytes. Digests sit in the same Object Lock bucket as the records, so a
 * record deleted (hidden behind a delete marker), altered (shadowed by a new version) or planted
 * after its hour shows against the digest, and a digest touched shows against the next one. The
 * bucket's versions are listed too, since someone who could hide a record and rewrite the digests
 * from its hour on would leave a consistent current view: only the versions under it show that.
 *
 * This module is the entry: the digest's format (digest-format.ts), its writer
 * (digest-writer.ts), the offline check of a pack (material-check.ts), and the archive's
 * verification below, composed of its stages: the listing (archive-listing.ts), the objects
 * (object-checks.ts), the hours against their digests (hour-checks.ts), the versions
 * (version-findings.ts), the chain (digest-chain.ts) and the result (window-result.ts).
 */

export {
  type AuditDigest,
  DEFAULT_DIGEST_PREFIX,
  DEFAULT_SETTLE_MS,
  DIGEST_DUE_MS,
  DIGEST_FORMAT,
  type DigestEntry,
  type DigestMaterial,
  digestKey,
} from './digest-format';
export { type DigestHoursOptions, type DigestRunResult, digestHours } from './digest-writer';
export { verifyDigestMaterial } from './material-check';
export type { ArchiveWindowVerification } from './window-result';
export { auditHourPrefix, DEFAULT_AUDIT_PREFIX, HOUR_MS, stampOfAuditKey };

export interface VerifyArchiveWindow {
  /** ISO 8601, inclusive: the first record time of the window. */
  since: string;
  /** ISO 8601, exclusive. */
  until: string;
  /** Epoch milliseconds: what "settled" and "retention past" are measured against. */
  now: number;
  /** How long after its end an hour's digest is due. @default {@link DIGEST_DUE_MS} */
  settleMs?: number;
  /** @default {@link DEFAULT_AUDIT_PREFIX} */
  auditPrefix?: string;
  /** @default {@link DEFAULT_DIGEST_PREFIX} */
  digestPrefix?: string;
}

/**
 * Verifies the audit records of a time window in the bucket itself: for each UTC hour touching
 * [since, until), every object's bytes against S3's stored SHA-256 checksum, its Object Lock
 * retention, its `timestamp` against its key, and the hour's digest (nothing missing, altered or
 * added); the versions under each hour and under the digests read (a record hidden behind a
 * delete marker, or a record or digest with a second version); and the digest chain from the
 * hour before the window to the hour after it (where those digests exist). Returns the window's
 * records (exact text, parsed) and the material an offline verifier needs
 * ({@link verifyDigestMaterial}). Throws `validation_failed` for a malformed window, and whatever
 * the archive throws when it cannot be read (a failed read proves nothing either way).
 */
export async function verifyArchiveWindow(
  archive: AuditArchive,
  window: VerifyArchiveWindow,
): Promise<ArchiveWindowVerification> {
  const { since, until } = parseWindow(window);
  const auditPrefix = window.auditPrefix ?? DEFAULT_AUDIT_PREFIX;
  const digestPrefix = window.digestPrefix ?? DEFAULT_DIGEST_PREFIX;
  const hours: number[] = [];
  for (let h = hourFloor(since); h < until; h += HOUR_MS) hours.push(h);

  const listing = await listArchiveWindow(archive, hours, {
    audit: auditPrefix,
    digest: digestPrefix,
  });
  const findings: Findings = { problems: [], notes: [] };
  if (listing.auditVersions === null || listing.digestVersions === null) {
    findings.notes.push(VERSIONS_UNCHECKED);
  }
  checkObjects(listing.objects, window.now, findings);
  const digests = parseDigests(listing, digestPrefix, findings);
  const settleMs = window.settleMs ?? DIGEST_DUE_MS;
  const markersOnly = [
    ...checkHours(
      listing,
      digests,
      { auditPrefix, digestPrefix, settleMs, now: window.now },
      findings,
    ),
    ...checkDigestVersions(listing.digestVersions, digestPrefix, hours, findings),
  ];
  noteMarkersOnly(markersOnly, findings);
  checkArchiveChain(hours, digests, listing.digestBodies, digestPrefix, findings);
  return windowResult(listing, { since, until }, digestPrefix, findings);
}
