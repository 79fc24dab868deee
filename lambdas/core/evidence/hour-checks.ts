import { auditHourPrefix, HOUR_MS, requestIdOfAuditKey } from '../audit-key';
import { type ArchiveListing, requestIdOf } from './archive-listing';
import { type AuditDigest, digestKey, parseDigest } from './digest-format';
import { byKey, type Findings, iso, problem } from './verify-kit';
import { type VersionFinding, versionFinding } from './version-findings';

/**
 * The per-hour stage of the archive's verification: each hour of the window against its digest
 * (nothing missing, altered or added) and against the versions under it.
 */

/** The digests read, parsed, by hour; an unparsable one is a problem and is left out. */
export function parseDigests(
  listing: Pick<ArchiveListing, 'digestHoursRead' | 'digestBodies'>,
  digestPrefix: string,
  findings: Findings,
): Map<number, AuditDigest> {
  const digests = new Map<number, AuditDigest>();
  for (const h of listing.digestHoursRead) {
    const parsed = parseDigest(listing.digestBodies.get(h) as Buffer, h);
    if ('digest' in parsed) digests.set(h, parsed.digest);
    else {
      findings.problems.push(problem('unparsable', digestKey(h, digestPrefix), parsed.error));
    }
  }
  return digests;
}

export interface HourCheckOptions {
  auditPrefix: string;
  digestPrefix: string;
  /** How long after its end an hour's digest is due. */
  settleMs: number;
  /** Epoch ms the due time is measured against. */
  now: number;
}

/**
 * Checks each hour of the listing against its digest (`no_digest` once due, `missing`,
 * `altered`, `not_in_digest`) and its versions (a record hidden or rewritten that the digest
 * check did not already name). Returns the audit keys with only delete markers.
 */
export function checkHours(
  listing: ArchiveListing,
  digests: ReadonlyMap<number, AuditDigest>,
  options: HourCheckOptions,
  findings: Findings,
): string[] {
  const { problems, notes } = findings;
  const { auditVersions, digestBodies } = listing;
  const markersOnly: string[] = [];
  for (const hour of listing.hours) {
    const dKey = digestKey(hour, options.digestPrefix);
    const prefix = auditHourPrefix(hour, options.auditPrefix);
    const objects = listing.objectsByHour.get(hour) ?? [];
    const findingsOf = new Map<string, VersionFinding>();
    for (const [key, history] of auditVersions ?? []) {
      if (key.startsWith(prefix)) findingsOf.set(key, versionFinding(history));
    }
    /** The finding of `key` of that kind, said once: the first problem about the key carries it. */
    const take = (key: string, kind: 'hidden' | 'rewritten'): string | null => {
      const finding = findingsOf.get(key);
      const said = finding?.[kind] ?? null;
      if (finding) finding[kind] = null;
      return said;
    };
    const digest = digests.get(hour);
    if (!digestBodies.has(hour)) {
      if (hour + HOUR_MS + options.settleMs <= options.now) {
        problems.push(
          problem(
            'no_digest',
            dKey,
            `the hour ${iso(hour)} has ended and settled but has no digest: its ${objects.length} ` +
              'record(s) are not proven complete (the digest function did not run, or the ' +
              'digest was deleted)',
          ),
        );
      } else {
        notes.push(
          `The hour ${iso(hour)} is not digested yet: its records are not proven complete.`,
        );
      }
    } else if (digest) {
      const listed = new Map(digest.objects.map((e) => [e.key, e]));
      const stored = new Map(objects.map((o) => [o.object.key, o]));
      for (const entry of digest.objects) {
        const o = stored.get(entry.key);
        if (!o) {
          const hidden = take(entry.key, 'hidden');
          const gone =
            hidden !== null
              ? `it is ${hidden}`
              : auditVersions !== null
                ? 'it was deleted: no version of it is left'
                : 'it was deleted or hidden behind a delete marker (its locked version may ' +
                  'still be listed with ListObjectVersions)';
          problems.push(
            problem(
              'missing',
              entry.key,
              `${dKey} lists this record but the bucket no longer shows it: ${gone}`,
              requestIdOfAuditKey(entry.key),
            ),
          );
        } else if (o.hex !== entry.sha256) {
          const rewritten = take(entry.key, 'rewritten');
          problems.push(
            problem(
              'altered',
              entry.key,
              `${dKey} records SHA-256 ${entry.sha256} (${entry.bytes} bytes); the object now ` +
                `hashes to ${o.hex} (${o.object.body.length} bytes)` +
                (rewritten === null ? '' : `: ${rewritten}`),
              requestIdOf(o),
            ),
          );
        }
      }
      for (const o of objects) {
        if (!listed.has(o.object.key)) {
          problems.push(
            problem(
              'not_in_digest',
              o.object.key,
              `${dKey} does not list this object: it was written after the hour was digested, ` +
                'or planted',
              requestIdOf(o),
            ),
          );
        }
      }
    }
    // What only the versions show: a record hidden before its hour was digested (or under a
    // digest rewritten without it), a second version the digest check did not already name.
    for (const [key, finding] of [...findingsOf].sort(([a], [b]) => byKey(a, b))) {
      if (finding.hidden !== null) {
        problems.push(
          problem('missing', key, `the record is ${finding.hidden}`, requestIdOfAuditKey(key)),
        );
      }
      if (finding.rewritten !== null) {
        problems.push(
          problem('altered', key, `the record has ${finding.rewritten}`, requestIdOfAuditKey(key)),
        );
      }
      if (finding.markersOnly) markersOnly.push(key);
    }
  }
  return markersOnly;
}
