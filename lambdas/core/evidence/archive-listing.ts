import * as z from 'zod';
import type { AuditRecord } from '../audit';
import { auditHourPrefix, HOUR_MS, requestIdOfAuditKey } from '../audit-key';
import { AirlockError } from '../errors';
import { digestDayPrefixes, hourOfDigestKey } from './digest-format';
import type { ArchiveObject, ArchiveVersion, AuditArchive } from './types';
import { byKey, sha256 } from './verify-kit';

/**
 * The listing stage of the archive's verification, and the reads the digest function shares
 * with it: what the bucket holds for a window (digests, audit objects, their versions), read
 * with bounded parallelism.
 */

/** Parallel reads of the archive: enough to hide S3's latency, few enough not to be throttled. */
export const READ_CONCURRENCY = 16;

/** Runs `fn` over `items` with at most `limit` at a time; results in input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next;
      next += 1;
      try {
        out[i] = await fn(items[i] as T);
      } catch (err) {
        // Stop the other workers from starting new reads: the whole call fails anyway.
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** The digests present for the hours in [fromHour, toHour], by hour: one listing per UTC day. */
export async function digestsPresent(
  archive: AuditArchive,
  digestPrefix: string,
  fromHour: number,
  toHour: number,
): Promise<Map<number, string>> {
  const listed = await mapLimit(
    digestDayPrefixes(digestPrefix, fromHour, toHour),
    READ_CONCURRENCY,
    (prefix) => archive.list(prefix),
  );
  const found = new Map<number, string>();
  for (const key of listed.flat()) {
    const hour = hourOfDigestKey(key, digestPrefix);
    if (hour !== null && hour >= fromHour && hour <= toHour) found.set(hour, key);
  }
  return found;
}

/**
 * The versions (and delete markers) of every key under the prefixes, by key, newest first; null
 * when the archive cannot list versions, so the caller says what went unchecked.
 */
export async function versionsUnder(
  archive: AuditArchive,
  prefixes: readonly string[],
): Promise<Map<string, ArchiveVersion[]> | null> {
  const { listVersions } = archive;
  if (!listVersions) return null;
  let listed: ArchiveVersion[][];
  try {
    listed = await mapLimit(prefixes, READ_CONCURRENCY, (prefix) =>
      listVersions.call(archive, prefix),
    );
  } catch (err) {
    if (err instanceof AirlockError && err.code === 'method_not_allowed') return null;
    throw err;
  }
  const byKeyMap = new Map<string, ArchiveVersion[]>();
  for (const v of listed.flat()) {
    const versions = byKeyMap.get(v.key);
    if (versions) versions.push(v);
    else byKeyMap.set(v.key, [v]);
  }
  return byKeyMap;
}

const recordShape = z.looseObject({
  timestamp: z.string().refine((t) => Number.isFinite(Date.parse(t))),
  request_id: z.string(),
});

/** The audit record of an object's text, or null when the text is not one. */
function parseRecord(line: string): AuditRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  return recordShape.safeParse(value).success ? (value as AuditRecord) : null;
}

/** An audit object as read and hashed by the verifier. */
export interface ReadObject {
  hour: number;
  object: ArchiveObject;
  hex: string;
  base64: string;
  line: string;
  record: AuditRecord | null;
}

/** Whose record an object is: its own `request_id`, else the one its key names. */
export const requestIdOf = (o: ReadObject): string | undefined =>
  o.record?.request_id ?? requestIdOfAuditKey(o.object.key);

/** What the bucket holds for the hours of a window. */
export interface ArchiveListing {
  /** The hours of the window (epoch ms), oldest first. */
  hours: number[];
  /** The hours, from the one before the window to the one after it, that have a digest. */
  digestHoursRead: number[];
  /** The exact bytes of those digests, by hour. */
  digestBodies: Map<number, Buffer>;
  /** The audit objects of each hour of the window, sorted by key. */
  objectsByHour: Map<number, ReadObject[]>;
  /** Every audit object of the window, hour after hour. */
  objects: ReadObject[];
  /** The versions under the hours' audit prefixes, or null when the archive cannot list them. */
  auditVersions: Map<string, ArchiveVersion[]> | null;
  /** The versions under the digests' day prefixes, or null when the archive cannot list them. */
  digestVersions: Map<string, ArchiveVersion[]> | null;
}

/** One audit object, read and hashed. */
async function readObject(archive: AuditArchive, hour: number, key: string): Promise<ReadObject> {
  const object = await archive.get(key);
  const digest = sha256(object.body);
  const line = object.body.toString('utf8');
  // A body that is not valid UTF-8 would not hash the same once carried as text.
  const exact = Buffer.from(line, 'utf8').equals(object.body);
  return {
    hour,
    object,
    hex: digest.toString('hex'),
    base64: digest.toString('base64'),
    line,
    record: exact ? parseRecord(line) : null,
  };
}

/**
 * Reads the hours `hours` (oldest first, at least one): the digests from the hour before to the
 * hour after, every audit object of each hour, then the versions under both. Throws whatever
 * the archive throws.
 */
export async function listArchiveWindow(
  archive: AuditArchive,
  hours: number[],
  prefixes: { audit: string; digest: string },
): Promise<ArchiveListing> {
  const first = hours[0] as number;
  const last = hours[hours.length - 1] as number;
  const present = await digestsPresent(archive, prefixes.digest, first - HOUR_MS, last + HOUR_MS);
  const digestHoursRead = [...present.keys()].sort((a, b) => a - b);
  const digestBodies = new Map<number, Buffer>();
  await mapLimit(digestHoursRead, READ_CONCURRENCY, async (h) => {
    digestBodies.set(h, (await archive.get(present.get(h) as string)).body);
  });

  const objectsByHour = new Map<number, ReadObject[]>();
  for (const hour of hours) {
    const keys = [...(await archive.list(auditHourPrefix(hour, prefixes.audit)))].sort(byKey);
    objectsByHour.set(
      hour,
      await mapLimit(keys, READ_CONCURRENCY, (key) => readObject(archive, hour, key)),
    );
  }
  // Listed after the current objects: a version written meanwhile shows up as a second one.
  const auditVersions = await versionsUnder(
    archive,
    hours.map((h) => auditHourPrefix(h, prefixes.audit)),
  );
  const digestVersions = await versionsUnder(
    archive,
    digestDayPrefixes(prefixes.digest, first - HOUR_MS, last + HOUR_MS),
  );
  return {
    hours,
    digestHoursRead,
    digestBodies,
    objectsByHour,
    objects: [...objectsByHour.values()].flat(),
    auditVersions,
    digestVersions,
  };
}
