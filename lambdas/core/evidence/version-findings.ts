import { HOUR_MS } from '../audit-key';
import { hourOfDigestKey } from './digest-format';
import type { ArchiveVersion } from './types';
import { byKey, type Findings, problem } from './verify-kit';

/**
 * What the versions under a key show beyond its current version: a record or digest hidden
 * behind a delete marker, or shadowed by a second version. Only a version listing shows these:
 * someone who could hide a record and rewrite the digests from its hour on would leave a
 * consistent current view.
 */

export const VERSIONS_UNCHECKED =
  'The archive cannot list object versions: records hidden behind a delete marker, and records ' +
  'or digests shadowed by a second version, were not checked.';

/** What the versions of one key show beyond its current version. */
export interface VersionFinding {
  /** Every stored version is behind a delete marker: why, naming the versions still there. */
  hidden: string | null;
  /** More than one version was stored under the key: which. */
  rewritten: string | null;
  /** Only delete markers, no stored version under them. */
  markersOnly: boolean;
}

/** What the versions of a key (newest first) show; a key written once and never deleted shows nothing. */
export function versionFinding(versions: readonly ArchiveVersion[]): VersionFinding {
  const stored = versions.filter((v) => !v.deleteMarker);
  const current = stored.find((v) => v.isLatest);
  const marker =
    versions.find((v) => v.deleteMarker && v.isLatest) ?? versions.find((v) => v.deleteMarker);
  const ids = (vs: readonly ArchiveVersion[]) => vs.map((v) => v.versionId).join(', ');
  const hidden =
    stored.length > 0 && current === undefined
      ? `hidden behind a delete marker${marker ? ` (${marker.versionId})` : ''}; the locked ` +
        `version is still there: versionId ${ids(stored)} (read it with GetObject and that ` +
        'versionId)'
      : null;
  let rewritten: string | null = null;
  if (stored.length > 1) {
    const older = stored.filter((v) => v !== current);
    rewritten = current
      ? `a second version was written: versionId ${current.versionId} (current) over ` +
        `${ids(older)}; S3 keeps every version, and the oldest is the one written at the time`
      : `a second version was written: versionIds ${ids(stored)} are stored under this key`;
  }
  return { hidden, rewritten, markersOnly: stored.length === 0 && versions.length > 0 };
}

/**
 * The versions of the digests from the hour before `hours` (oldest first) to the hour after:
 * each is written once and never deleted. Returns the digest keys with only delete markers.
 */
export function checkDigestVersions(
  digestVersions: ReadonlyMap<string, readonly ArchiveVersion[]> | null,
  digestPrefix: string,
  hours: readonly number[],
  findings: Findings,
): string[] {
  const first = hours[0] as number;
  const last = hours[hours.length - 1] as number;
  const markersOnly: string[] = [];
  for (const [key, history] of [...(digestVersions ?? [])].sort(([a], [b]) => byKey(a, b))) {
    const hour = hourOfDigestKey(key, digestPrefix);
    if (hour === null || hour < first - HOUR_MS || hour > last + HOUR_MS) continue;
    const { hidden, rewritten, markersOnly: onlyMarkers } = versionFinding(history);
    if (hidden !== null) findings.problems.push(problem('missing', key, `the digest is ${hidden}`));
    if (rewritten !== null) {
      findings.problems.push(
        problem(
          'altered',
          key,
          `the digest has ${rewritten}; a digest is written once, so the current one is not ` +
            'the one the digest function wrote',
        ),
      );
    }
    if (onlyMarkers) markersOnly.push(key);
  }
  return markersOnly;
}

/** The note naming the keys with only delete markers, when there are any. */
export function noteMarkersOnly(markersOnly: string[], findings: Findings): void {
  if (markersOnly.length > 0) {
    findings.notes.push(
      `Delete markers with no stored version under them (a refused or pointless delete, or a ` +
        `version gone when its retention ended): ${markersOnly.sort(byKey).join(', ')}.`,
    );
  }
}
