import { HOUR_MS } from '../audit-key';
import { type AuditDigest, digestKey } from './digest-format';
import { type Findings, iso, problem, sha256 } from './verify-kit';

/**
 * The digest chain: each digest names the digest of the hour before with the SHA-256 of its
 * exact bytes, so a digest touched shows against the next one.
 */

/**
 * Whether a digest chains to the digest of the hour before (`previousKey`, whose exact bytes are
 * `previousBody` when it exists): null when it does, 'start' for the first digest of a chain, or
 * what is wrong.
 */
export function chainProblem(
  digest: AuditDigest,
  previousKey: string,
  previousBody: Buffer | string | undefined,
  gone: string,
): string | 'start' | null {
  const { previous } = digest;
  if (previous === null) {
    return previousBody === undefined
      ? 'start'
      : `the digest starts a new chain although ${previousKey} exists`;
  }
  if (previous.key !== previousKey) {
    return `the digest names ${previous.key} as previous, not ${previousKey}`;
  }
  if (previousBody === undefined) {
    return `the digest before it, ${previousKey}, ${gone}`;
  }
  const actual = sha256(previousBody).toString('hex');
  return actual === previous.sha256
    ? null
    : `${previousKey} hashes to ${actual}, not the ${previous.sha256} this digest recorded: it ` +
        'was changed after this digest was written';
}

/**
 * The chain in the bucket, from the first hour of the window (`hours`, oldest first) to the hour
 * after it: every digest read chains to the one before (whose bytes are in `bodies`).
 */
export function checkArchiveChain(
  hours: readonly number[],
  digests: ReadonlyMap<number, AuditDigest>,
  bodies: ReadonlyMap<number, Buffer>,
  digestPrefix: string,
  findings: Findings,
): void {
  const last = hours[hours.length - 1] as number;
  for (const hour of [...hours, last + HOUR_MS]) {
    const digest = digests.get(hour);
    if (!digest) continue;
    const problemOf = chainProblem(
      digest,
      digestKey(hour - HOUR_MS, digestPrefix),
      bodies.get(hour - HOUR_MS),
      'is gone: deleted or hidden behind a delete marker (its locked version may still be ' +
        'listed with ListObjectVersions)',
    );
    if (problemOf === 'start') {
      findings.notes.push(
        `The digest chain starts at ${iso(hour)}: no digest proves the hours before it.`,
      );
    } else if (problemOf !== null) {
      findings.problems.push(
        problem('digest_chain_broken', digestKey(hour, digestPrefix), problemOf),
      );
    }
  }
}
