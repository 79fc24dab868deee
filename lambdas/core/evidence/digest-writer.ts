import { auditHourPrefix, DEFAULT_AUDIT_PREFIX, HOUR_MS } from '../audit-key';
import { AirlockError } from '../errors';
import { digestsPresent, mapLimit, READ_CONCURRENCY, versionsUnder } from './archive-listing';
import {
  type AuditDigest,
  DEFAULT_DIGEST_PREFIX,
  DEFAULT_SETTLE_MS,
  DIGEST_FORMAT,
  type DigestEntry,
  digestDayPrefixes,
  digestKey,
  hourOfDigestKey,
} from './digest-format';
import type { AuditArchive } from './types';
import { byKey, hourFloor, iso, sha256 } from './verify-kit';
import { versionFinding } from './version-findings';

/**
 * The digest function's work: once an hour has ended and settled, one digest listing every
 * audit object of that hour with the SHA-256 of its exact bytes, chained to the digest before.
 */

const DEFAULT_MAX_HOURS = 48;
const DEFAULT_LOOKBACK_HOURS = 7 * 24;

/** What {@link digestHours} did: the digest keys it wrote, and those another run had written. */
export interface DigestRunResult {
  written: string[];
  skipped: string[];
}

export interface DigestHoursOptions {
  /** Epoch milliseconds of the run. */
  now: number;
  /** @default {@link DEFAULT_AUDIT_PREFIX} */
  auditPrefix?: string;
  /** @default {@link DEFAULT_DIGEST_PREFIX} */
  digestPrefix?: string;
  /**
   * An hour is digested only once it ended this long ago, so late records of the hour land first.
   * @default 10 minutes
   */
  settleMs?: number;
  /**
   * The most hours one run digests when catching up after missed runs; the next run goes on.
   * @default 48
   */
  maxHours?: number;
  /**
   * How far back (hours) to look for the last digest. With none in it, the chain restarts at the
   * newest settled hour.
   * @default 168 (7 days)
   */
  lookbackHours?: number;
}

/** The start of the newest hour that ended at least `settleMs` before `now`. */
function newestSettledHour(now: number, settleMs: number): number {
  return hourFloor(now - settleMs) - HOUR_MS;
}

/** The digest entries of one hour: every audit object under its prefix, sorted by key. */
async function entriesOfHour(archive: AuditArchive, prefix: string): Promise<DigestEntry[]> {
  const keys = [...(await archive.list(prefix))].sort(byKey);
  return mapLimit(keys, READ_CONCURRENCY, async (key) => {
    const { body } = await archive.get(key);
    return { key, sha256: sha256(body).toString('hex'), bytes: body.length };
  });
}

/**
 * Writes the digest of every complete, settled hour since the newest digest (within the
 * lookback), oldest first, each chained to the one before. Never overwrites: a digest another run
 * wrote first is kept, and the chain continues from its exact bytes, so repeated or concurrent
 * runs produce one chain. Hours without records get a digest too (an empty hour proven empty).
 * With no digest in the lookback, the chain starts at the newest settled hour (`previous` null).
 * Throws when the archive fails; the digests written before the failure stay, and the next run
 * continues after them. Throws `audit_unavailable`, writing nothing, when the versions of the
 * digests in the lookback show one hidden behind a delete marker or written twice: a digest is
 * written once and never deleted, and a new chain over a hidden one would launder the rewrite.
 */
export async function digestHours(
  archive: AuditArchive,
  options: DigestHoursOptions,
): Promise<DigestRunResult> {
  const auditPrefix = options.auditPrefix ?? DEFAULT_AUDIT_PREFIX;
  const digestPrefix = options.digestPrefix ?? DEFAULT_DIGEST_PREFIX;
  const maxHours = Math.max(1, options.maxHours ?? DEFAULT_MAX_HOURS);
  const lookbackHours = Math.max(1, options.lookbackHours ?? DEFAULT_LOOKBACK_HOURS);
  const newest = newestSettledHour(options.now, options.settleMs ?? DEFAULT_SETTLE_MS);
  const oldest = newest - (lookbackHours - 1) * HOUR_MS;

  await refuseTamperedDigests(archive, digestPrefix, oldest, newest);
  const present = await digestsPresent(archive, digestPrefix, oldest, newest);
  const lastHour = present.size === 0 ? null : Math.max(...present.keys());
  let previous: AuditDigest['previous'] = null;
  let start = newest;
  if (lastHour !== null) {
    const key = digestKey(lastHour, digestPrefix);
    previous = { key, sha256: sha256((await archive.get(key)).body).toString('hex') };
    start = lastHour + HOUR_MS;
  }

  const result: DigestRunResult = { written: [], skipped: [] };
  for (let hour = start; hour <= newest && hour < start + maxHours * HOUR_MS; hour += HOUR_MS) {
    const prefix = auditHourPrefix(hour, auditPrefix);
    const digest: AuditDigest = {
      format: DIGEST_FORMAT,
      hour_start: iso(hour),
      hour_end: iso(hour + HOUR_MS),
      prefix,
      created_at: iso(options.now),
      objects: await entriesOfHour(archive, prefix),
      previous,
    };
    const key = digestKey(hour, digestPrefix);
    let stored: Buffer | string = JSON.stringify(digest);
    if ((await archive.putOnce(key, stored)) === 'created') {
      result.written.push(key);
    } else {
      // Another run wrote it first: chain to what is stored, not to what this run would have.
      result.skipped.push(key);
      stored = (await archive.get(key)).body;
    }
    previous = { key, sha256: sha256(stored).toString('hex') };
  }
  return result;
}

/**
 * Throws, naming them, when a digest of the hours [fromHour, toHour] is hidden behind a delete
 * marker (`putOnce` would succeed over the marker and start a new chain) or has a second version.
 * Without a version listing there is nothing to check.
 */
async function refuseTamperedDigests(
  archive: AuditArchive,
  digestPrefix: string,
  fromHour: number,
  toHour: number,
): Promise<void> {
  const versions = await versionsUnder(archive, digestDayPrefixes(digestPrefix, fromHour, toHour));
  const tampered: string[] = [];
  for (const [key, history] of [...(versions ?? [])].sort(([a], [b]) => byKey(a, b))) {
    const hour = hourOfDigestKey(key, digestPrefix);
    if (hour === null || hour < fromHour || hour > toHour) continue;
    const { hidden, rewritten } = versionFinding(history);
    if (hidden !== null) tampered.push(`${key} is ${hidden}`);
    if (rewritten !== null) tampered.push(`${key}: ${rewritten}`);
  }
  if (tampered.length > 0) {
    throw new AirlockError(
      'audit_unavailable',
      `Refusing to write audit digests: ${tampered.join('; ')}. Digests are written once and ` +
        'never deleted, so the chain was tampered with, and a new digest over it would hide ' +
        'that. Run `airlock verify` over those hours and investigate before digesting again.',
    );
  }
}
