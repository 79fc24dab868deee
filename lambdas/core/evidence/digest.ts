import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { AuditRecord } from '../audit';
import { AirlockError } from '../errors';
import type {
  ArchiveObject,
  ArchiveVersion,
  AuditArchive,
  IntegrityProblem,
  IntegrityResult,
  StoredRecord,
} from './types';

/**
 * Hourly digests of the AWS audit log, in the manner of CloudTrail log file integrity: once an
 * hour has ended, one JSON object under `digests/YYYY/MM/DD/HH.json` lists every audit object of
 * that hour with the SHA-256 of its exact bytes, and names the digest before it with the SHA-256
 * of that digest's exact bytes. Digests sit in the same Object Lock bucket as the records, so a
 * record deleted (hidden behind a delete marker), altered (shadowed by a new version) or planted
 * after its hour shows against the digest, and a digest touched shows against the next one. The
 * bucket's versions are listed too, since someone who could hide a record and rewrite the digests
 * from its hour on would leave a consistent current view: only the versions under it show that.
 */

/** The `format` of every digest this module writes. */
export const DIGEST_FORMAT = 'crm-airlock-digest/1';
export const DEFAULT_AUDIT_PREFIX = 'audit/';
export const DEFAULT_DIGEST_PREFIX = 'digests/';
/** How long after its end an hour is digested, so the records of its last seconds land first. */
export const DEFAULT_SETTLE_MS = 10 * 60_000;
/**
 * How long after its end an hour's digest is due, for the verifiers: the function runs at 15
 * past the hour (lib/audit-digest.ts), so a digest missing 30 minutes after is really missing,
 * while one checked at 12 past is merely not written yet.
 */
export const DIGEST_DUE_MS = 30 * 60_000;
export const HOUR_MS = 3_600_000;
const DEFAULT_MAX_HOURS = 48;
const DEFAULT_LOOKBACK_HOURS = 7 * 24;
/** Parallel reads of the archive: enough to hide S3's latency, few enough not to be throttled. */
const READ_CONCURRENCY = 16;

/** One audit object as a digest lists it. */
export interface DigestEntry {
  key: string;
  /** Hex SHA-256 of the object's exact bytes. */
  sha256: string;
  bytes: number;
}

const digestSchema = z.object({
  format: z.literal(DIGEST_FORMAT),
  hour_start: z.string(),
  hour_end: z.string(),
  prefix: z.string(),
  created_at: z.string(),
  objects: z.array(
    z.object({
      key: z.string(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      bytes: z.number().int().min(0),
    }),
  ),
  previous: z.object({ key: z.string(), sha256: z.string() }).nullable(),
});

/** The body of a digest object (`JSON.stringify` of this, keys in this order). */
export type AuditDigest = z.infer<typeof digestSchema>;

/** What {@link digestHours} did: the digest keys it wrote, and those another run had written. */
export interface DigestRunResult {
  written: string[];
  skipped: string[];
}

export interface DigestHoursOptions {
  /** Epoch milliseconds of the run. */
  now: number;
  /** @default 'audit/' */
  auditPrefix?: string;
  /** @default 'digests/' */
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

/** What an offline verifier needs to check an evidence pack's records against the digests. */
export interface DigestMaterial {
  kind: 'object-lock-digests';
  objects: {
    key: string;
    sha256: string;
    bytes: number;
    version_id?: string;
    lock_mode?: string;
    retain_until?: string;
  }[];
  digests: { key: string; body: string }[];
}

export interface VerifyArchiveWindow {
  /** ISO 8601, inclusive: the first record time of the window. */
  since: string;
  /** ISO 8601, exclusive. */
  until: string;
  /** Epoch milliseconds: what "settled" and "retention past" are measured against. */
  now: number;
  /** How long after its end an hour's digest is due. @default {@link DIGEST_DUE_MS} */
  settleMs?: number;
  /** @default 'audit/' */
  auditPrefix?: string;
  /** @default 'digests/' */
  digestPrefix?: string;
}

export interface ArchiveWindowVerification {
  integrity: IntegrityResult;
  /** The parsed records whose `timestamp` is in [since, until), in timestamp order. */
  records: StoredRecord[];
  material: DigestMaterial;
}

const iso = (ms: number) => new Date(ms).toISOString();
const hourFloor = (ms: number) => Math.floor(ms / HOUR_MS) * HOUR_MS;
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest();
const byKey = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** `YYYY/MM/DD/HH` of the UTC hour starting at `hourStart`. */
function hourPath(hourStart: number): string {
  const t = iso(hourStart);
  return `${t.slice(0, 4)}/${t.slice(5, 7)}/${t.slice(8, 10)}/${t.slice(11, 13)}`;
}

/** The key of the digest of the hour starting at `hourStart` (epoch ms, UTC). */
export function digestKey(hourStart: number, digestPrefix = DEFAULT_DIGEST_PREFIX): string {
  return `${digestPrefix}${hourPath(hourStart)}.json`;
}

/** The key prefix of the audit objects of the hour starting at `hourStart`. */
export function auditHourPrefix(hourStart: number, auditPrefix = DEFAULT_AUDIT_PREFIX): string {
  return `${auditPrefix}${hourPath(hourStart)}/`;
}

/** The hour (epoch ms) a digest key covers, or null when the key is not a digest's. */
function hourOfDigestKey(key: string, digestPrefix: string): number | null {
  if (!key.startsWith(digestPrefix)) return null;
  const rest = key.slice(digestPrefix.length);
  return /^\d{4}\/\d{2}\/\d{2}\/\d{2}\.json$/.test(rest) ? hourOfKeyText(rest) : null;
}

/**
 * The record time written into an audit key (`…/2026-11-29T101530123Z_<request>_…`, see
 * `S3AuditSink.key`), in epoch ms; null when the key carries none.
 */
export function stampOfAuditKey(key: string): number | null {
  const name = key.slice(key.lastIndexOf('/') + 1);
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})?Z_/.exec(name);
  if (!m) return null;
  const ms = Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4]}.${m[5] ?? '000'}Z`);
  return Number.isFinite(ms) ? ms : null;
}

/** The hour (epoch ms) of the `…/YYYY/MM/DD/HH/<name>` an audit key sits under, or null. */
function hourOfAuditKey(key: string): number | null {
  const m = /(\d{4})\/(\d{2})\/(\d{2})\/(\d{2})\/[^/]*$/.exec(key);
  if (!m) return null;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]));
}

/**
 * Why a record's `timestamp` does not match the hour and the time stamp of its key, or null when
 * both match. The sink derives both from the record's own timestamp, so an honest record always
 * matches exactly; one that does not was put there by hand (a backdated record under a later
 * hour, say, which would otherwise be digested with that hour and read as an earlier event).
 */
function timestampMismatch(key: string, timestamp: unknown): string | null {
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

const OUTCOMES = 'completed|rejected|pending_approval|approved|denied|expired|failed';
const KEY_REQUEST_ID = new RegExp(`^[^_]+_(.+)_(?:${OUTCOMES})_[0-9a-f]+\\.json$`);

/** The request id an audit key names, so a problem about a vanished record can still say whose. */
function requestIdOfKey(key: string): string | undefined {
  return KEY_REQUEST_ID.exec(key.slice(key.lastIndexOf('/') + 1))?.[1];
}

function problem(
  kind: IntegrityProblem['kind'],
  where: string,
  detail: string,
  requestId?: string,
): IntegrityProblem {
  return requestId === undefined
    ? { kind, where, detail }
    : { kind, where, detail, request_id: requestId };
}

/** Runs `fn` over `items` with at most `limit` at a time; results in input order. */
async function mapLimit<T, R>(
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

/** The digest prefixes of the UTC days holding the hours in [fromHour, toHour]. */
function digestDayPrefixes(digestPrefix: string, fromHour: number, toHour: number): string[] {
  const prefixes: string[] = [];
  for (let d = Math.floor(fromHour / 86_400_000) * 86_400_000; d <= toHour; d += 86_400_000) {
    prefixes.push(`${digestPrefix}${hourPath(d).slice(0, 10)}/`);
  }
  return prefixes;
}

/** The digests present for the hours in [fromHour, toHour], by hour: one listing per UTC day. */
async function digestsPresent(
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
async function versionsUnder(
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

const VERSIONS_UNCHECKED =
  'The archive cannot list object versions: records hidden behind a delete marker, and records ' +
  'or digests shadowed by a second version, were not checked.';

/** What the versions of one key show beyond its current version. */
interface VersionFinding {
  /** Every stored version is behind a delete marker: why, naming the versions still there. */
  hidden: string | null;
  /** More than one version was stored under the key: which. */
  rewritten: string | null;
  /** Only delete markers, no stored version under them. */
  markersOnly: boolean;
}

/** What the versions of a key (newest first) show; a key written once and never deleted shows nothing. */
function versionFinding(versions: readonly ArchiveVersion[]): VersionFinding {
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

/**
 * The digest body, or why it is not one: it must parse, have the digest format, and cover a
 * whole UTC hour; the hour of its key (`expectedHour`) when that is known.
 */
function parseDigest(
  body: Buffer | string,
  expectedHour: number | null,
): { digest: AuditDigest; hour: number; error?: never } | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(body.toString());
  } catch {
    return { error: 'the digest is not valid JSON' };
  }
  const parsed = digestSchema.safeParse(value);
  if (!parsed.success) return { error: `the digest is not a ${DIGEST_FORMAT} digest` };
  const hour = Date.parse(parsed.data.hour_start);
  if (!Number.isFinite(hour) || iso(hour) !== parsed.data.hour_start || hour % HOUR_MS !== 0) {
    return { error: `the digest's hour_start ${parsed.data.hour_start} is not a whole UTC hour` };
  }
  if (expectedHour !== null && hour !== expectedHour) {
    return { error: `the digest covers ${parsed.data.hour_start}, not the hour of its key` };
  }
  return { digest: parsed.data, hour };
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

function parseWindow(window: { since: string; until: string }): { since: number; until: number } {
  const since = Date.parse(window.since);
  const until = Date.parse(window.until);
  if (!Number.isFinite(since) || !Number.isFinite(until)) {
    throw new AirlockError(
      'validation_failed',
      'since and until must be ISO 8601 date-times, e.g. 2026-03-02T10:00:00Z.',
    );
  }
  if (since >= until) {
    throw new AirlockError('validation_failed', 'since must be earlier than until.');
  }
  return { since, until };
}

/** An audit object as read and hashed by the verifier. */
interface ReadObject {
  hour: number;
  object: ArchiveObject;
  hex: string;
  base64: string;
  line: string;
  record: AuditRecord | null;
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
  const settleMs = window.settleMs ?? DIGEST_DUE_MS;
  const hours: number[] = [];
  for (let h = hourFloor(since); h < until; h += HOUR_MS) hours.push(h);
  const first = hours[0] as number;
  const last = hours[hours.length - 1] as number;

  const present = await digestsPresent(archive, digestPrefix, first - HOUR_MS, last + HOUR_MS);
  const digestHoursRead = [...present.keys()].sort((a, b) => a - b);
  const digestBodies = new Map<number, Buffer>();
  await mapLimit(digestHoursRead, READ_CONCURRENCY, async (h) => {
    digestBodies.set(h, (await archive.get(present.get(h) as string)).body);
  });

  const objectsByHour = new Map<number, ReadObject[]>();
  for (const hour of hours) {
    const keys = [...(await archive.list(auditHourPrefix(hour, auditPrefix)))].sort(byKey);
    objectsByHour.set(
      hour,
      await mapLimit(keys, READ_CONCURRENCY, async (key) => {
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
      }),
    );
  }
  const all = [...objectsByHour.values()].flat();
  // Listed after the current objects: a version written meanwhile shows up as a second one.
  const auditVersions = await versionsUnder(
    archive,
    hours.map((h) => auditHourPrefix(h, auditPrefix)),
  );
  const digestVersions = await versionsUnder(
    archive,
    digestDayPrefixes(digestPrefix, first - HOUR_MS, last + HOUR_MS),
  );

  const problems: IntegrityProblem[] = [];
  const notes: string[] = [];
  const rid = (o: ReadObject) => o.record?.request_id ?? requestIdOfKey(o.object.key);
  if (auditVersions === null || digestVersions === null) notes.push(VERSIONS_UNCHECKED);

  // The objects themselves: parsable, named by their own time, checksum, lock.
  const lockReported = all.some(
    (o) => o.object.lockMode !== undefined || o.object.retainUntil !== undefined,
  );
  if (all.length > 0 && !lockReported) {
    notes.push(
      'S3 reported no Object Lock retention on any audit object: the reader may lack ' +
        's3:GetObjectRetention, so the lock of the records is not proven here.',
    );
  }
  let withoutChecksum = 0;
  let composite = 0;
  for (const o of all) {
    const { key, checksumSha256, lockMode, retainUntil } = o.object;
    if (o.record === null) {
      problems.push(problem('unparsable', key, 'the object is not a JSON audit record', rid(o)));
    } else {
      const mismatch = timestampMismatch(key, o.record.timestamp);
      if (mismatch !== null) problems.push(problem('altered', key, mismatch, rid(o)));
    }
    if (checksumSha256 === undefined) withoutChecksum += 1;
    else if (/-\d+$/.test(checksumSha256)) composite += 1;
    else if (checksumSha256 !== o.base64) {
      problems.push(
        problem(
          'checksum_mismatch',
          key,
          `S3's stored SHA-256 checksum is ${checksumSha256}, the bytes read hash to ${o.base64}`,
          rid(o),
        ),
      );
    }
    if (!lockReported) continue;
    if (lockMode === undefined) {
      problems.push(problem('not_locked', key, 'S3 reports no Object Lock retention', rid(o)));
    } else if (retainUntil === undefined || !(Date.parse(retainUntil) > window.now)) {
      problems.push(
        problem(
          'not_locked',
          key,
          `the ${lockMode} retention ended (retain until ${retainUntil ?? 'unknown'})`,
          rid(o),
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

  // The digests: each parsable, each hour against its digest and its versions.
  const digests = new Map<number, AuditDigest>();
  for (const h of digestHoursRead) {
    const parsed = parseDigest(digestBodies.get(h) as Buffer, h);
    if ('digest' in parsed) digests.set(h, parsed.digest);
    else problems.push(problem('unparsable', digestKey(h, digestPrefix), parsed.error));
  }
  const markersOnly: string[] = [];
  for (const hour of hours) {
    const dKey = digestKey(hour, digestPrefix);
    const prefix = auditHourPrefix(hour, auditPrefix);
    const objects = objectsByHour.get(hour) ?? [];
    const findings = new Map<string, VersionFinding>();
    for (const [key, history] of auditVersions ?? []) {
      if (key.startsWith(prefix)) findings.set(key, versionFinding(history));
    }
    /** The finding of `key` of that kind, said once: the first problem about the key carries it. */
    const take = (key: string, kind: 'hidden' | 'rewritten'): string | null => {
      const finding = findings.get(key);
      const said = finding?.[kind] ?? null;
      if (finding) finding[kind] = null;
      return said;
    };
    const digest = digests.get(hour);
    if (!digestBodies.has(hour)) {
      if (hour + HOUR_MS + settleMs <= window.now) {
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
              requestIdOfKey(entry.key),
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
              rid(o),
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
              rid(o),
            ),
          );
        }
      }
    }
    // What only the versions show: a record hidden before its hour was digested (or under a
    // digest rewritten without it), a second version the digest check did not already name.
    for (const [key, finding] of [...findings].sort(([a], [b]) => byKey(a, b))) {
      if (finding.hidden !== null) {
        problems.push(
          problem('missing', key, `the record is ${finding.hidden}`, requestIdOfKey(key)),
        );
      }
      if (finding.rewritten !== null) {
        problems.push(
          problem('altered', key, `the record has ${finding.rewritten}`, requestIdOfKey(key)),
        );
      }
      if (finding.markersOnly) markersOnly.push(key);
    }
  }

  // The versions of the digests read: each is written once and never deleted.
  for (const [key, history] of [...(digestVersions ?? [])].sort(([a], [b]) => byKey(a, b))) {
    const hour = hourOfDigestKey(key, digestPrefix);
    if (hour === null || hour < first - HOUR_MS || hour > last + HOUR_MS) continue;
    const { hidden, rewritten, markersOnly: onlyMarkers } = versionFinding(history);
    if (hidden !== null) problems.push(problem('missing', key, `the digest is ${hidden}`));
    if (rewritten !== null) {
      problems.push(
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
  if (markersOnly.length > 0) {
    notes.push(
      `Delete markers with no stored version under them (a refused or pointless delete, or a ` +
        `version gone when its retention ended): ${markersOnly.sort(byKey).join(', ')}.`,
    );
  }

  // The chain, from the first hour of the window to the hour after it.
  for (const hour of [...hours, last + HOUR_MS]) {
    const digest = digests.get(hour);
    if (!digest) continue;
    const problemOf = chainProblem(
      digest,
      digestKey(hour - HOUR_MS, digestPrefix),
      digestBodies.get(hour - HOUR_MS),
      'is gone: deleted or hidden behind a delete marker (its locked version may still be ' +
        'listed with ListObjectVersions)',
    );
    if (problemOf === 'start') {
      notes.push(`The digest chain starts at ${iso(hour)}: no digest proves the hours before it.`);
    } else if (problemOf !== null) {
      problems.push(problem('digest_chain_broken', digestKey(hour, digestPrefix), problemOf));
    }
  }

  const inWindow = all
    .flatMap((o) => {
      const t = o.record === null ? Number.NaN : Date.parse(o.record.timestamp);
      return t >= since && t < until ? [{ o, t }] : [];
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
    digests: digestHoursRead.map((h) => ({
      key: digestKey(h, digestPrefix),
      body: (digestBodies.get(h) as Buffer).toString('utf8'),
    })),
  };

  return {
    integrity: {
      ok: problems.length === 0,
      method: 'object-lock-digests',
      checked: all.length,
      problems,
      notes,
    },
    records,
    material,
  };
}

/**
 * Whether a digest chains to the digest of the hour before (`previousKey`, whose exact bytes are
 * `previousBody` when it exists): null when it does, 'start' for the first digest of a chain, or
 * what is wrong.
 */
function chainProblem(
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
 * The offline check of an evidence pack: the records' exact lines against the material's object
 * hashes and the digests (`altered`), each record's `timestamp` against its key (`altered`), every
 * digested record of the window present (`missing`, decided by the time stamp in each digested
 * key), records no digest of their hour lists (`not_in_digest`), the digests chained
 * (`digest_chain_broken`), and, given `asOf` (when the pack was made, ISO 8601), a digest for
 * every hour of the window that had ended and settled by then (`no_digest`), so hours cut off the
 * end of a pack together with their digest show. Records of hours the material has no digest for
 * are not proven, and a note says so. Needs no AWS access. Throws `validation_failed` for a
 * malformed window or `asOf`.
 */
export function verifyDigestMaterial(
  records: { key: string; line: string }[],
  material: DigestMaterial,
  window: { since: string; until: string },
  asOf?: string,
): IntegrityResult {
  const { since, until } = parseWindow(window);
  const madeAt = asOf === undefined ? null : Date.parse(asOf);
  if (madeAt !== null && !Number.isFinite(madeAt)) {
    throw new AirlockError(
      'validation_failed',
      'asOf must be an ISO 8601 date-time, e.g. 2026-03-02T10:00:00Z.',
    );
  }
  const problems: IntegrityProblem[] = [];
  const notes: string[] = [];

  const digests: { key: string; body: string; hour: number; digest: AuditDigest }[] = [];
  for (const d of material.digests) {
    const parsed = parseDigest(d.body, hourOfKeyText(d.key));
    if ('digest' in parsed) digests.push({ ...d, hour: parsed.hour, digest: parsed.digest });
    else problems.push(problem('unparsable', d.key, parsed.error));
  }
  digests.sort((a, b) => a.hour - b.hour);
  const byHour = new Map(digests.map((d) => [d.hour, d]));
  const objects = new Map(material.objects.map((o) => [o.key, o]));
  const recordKeys = new Set(records.map((r) => r.key));

  const undigested = new Set<string>();
  for (const r of records) {
    const hex = sha256(r.line).toString('hex');
    const entry = objects.get(r.key);
    if (!entry) {
      problems.push(problem('altered', r.key, 'the material lists no object for this record'));
    } else if (entry.sha256 !== hex) {
      problems.push(
        problem('altered', r.key, `the line hashes to ${hex}, the object read to ${entry.sha256}`),
      );
    }
    const timestamp = timestampOfLine(r.line);
    if (timestamp === undefined) {
      problems.push(problem('unparsable', r.key, 'the line is not a JSON audit record'));
    } else {
      const mismatch = timestampMismatch(r.key, timestamp);
      if (mismatch !== null) problems.push(problem('altered', r.key, mismatch));
    }
    const owner = digests.find((d) => r.key.startsWith(d.digest.prefix));
    if (!owner) {
      undigested.add(r.key.slice(0, r.key.lastIndexOf('/') + 1));
      continue;
    }
    const listed = owner.digest.objects.find((e) => e.key === r.key);
    if (!listed) {
      problems.push(problem('not_in_digest', r.key, `${owner.key} does not list this record`));
    } else if (listed.sha256 !== hex) {
      problems.push(
        problem(
          'altered',
          r.key,
          `the line hashes to ${hex}, ${owner.key} records ${listed.sha256}`,
        ),
      );
    }
  }
  for (const prefix of [...undigested].sort(byKey)) {
    notes.push(`No digest in the material covers ${prefix}: its records are not proven by one.`);
  }

  const hourOf = (key: string, d: { hour: number }) => stampOfAuditKey(key) ?? d.hour;
  for (const d of digests) {
    for (const e of d.digest.objects) {
      const t = hourOf(e.key, d);
      if (t >= since && t < until && !recordKeys.has(e.key)) {
        problems.push(
          problem(
            'missing',
            e.key,
            `${d.key} lists this record of the window, but the records do not include it`,
            requestIdOfKey(e.key),
          ),
        );
      }
    }
  }

  const firstHour = hourFloor(since);
  for (const d of digests) {
    if (d.hour < firstHour) continue; // the digest before the window: only its bytes are used
    const before = byHour.get(d.hour - HOUR_MS);
    const issue = chainProblem(
      d.digest,
      before?.key ?? digestKeyLike(d.key, d.hour - HOUR_MS),
      before?.body,
      'is not in the material',
    );
    if (issue === 'start') {
      notes.push(
        `The digest chain starts at ${iso(d.hour)}: no digest proves the hours before it.`,
      );
    } else if (issue !== null) {
      problems.push(problem('digest_chain_broken', d.key, issue));
    }
  }

  // Every hour of the window due a digest by the time the pack was made has one in the material.
  const digestedHours = new Set(material.digests.map((d) => hourOfKeyText(d.key)));
  const like = material.digests[0]?.key;
  const keyOfHour = (h: number) => (like === undefined ? digestKey(h) : digestKeyLike(like, h));
  if (madeAt === null) {
    notes.push(
      'No time of making was given for the material: an hour of the window without a digest ' +
        'is not reported, so records cut off together with their hour’s digest would not show.',
    );
  }
  for (let h = firstHour; madeAt !== null && h < until; h += HOUR_MS) {
    if (digestedHours.has(h)) continue;
    if (h + HOUR_MS + DIGEST_DUE_MS <= madeAt) {
      problems.push(
        problem(
          'no_digest',
          keyOfHour(h),
          `the hour ${iso(h)} had ended and settled when the pack was made (${asOf}), but the ` +
            'material has no digest for it: its records are not proven complete (they may have ' +
            'been cut from the pack with their digest)',
        ),
      );
    } else {
      notes.push(
        `The hour ${iso(h)} was not digested yet when the pack was made: its records are not ` +
          'proven complete.',
      );
    }
  }

  return {
    ok: problems.length === 0,
    method: 'object-lock-digests',
    checked: records.length,
    problems,
    notes,
  };
}

/** The `timestamp` member of a JSON record line (whatever its type), or undefined when the line is no JSON object. */
function timestampOfLine(line: string): unknown {
  try {
    const value: unknown = JSON.parse(line);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    return (value as { timestamp?: unknown }).timestamp ?? null;
  } catch {
    return undefined;
  }
}

/** The hour a digest key names (`…/YYYY/MM/DD/HH.json`, any prefix), or null. */
function hourOfKeyText(key: string): number | null {
  const m = /(\d{4})\/(\d{2})\/(\d{2})\/(\d{2})\.json$/.exec(key);
  if (!m) return null;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]));
}

/** The key of the digest of `hour`, with the same prefix as the digest key `like`. */
function digestKeyLike(like: string, hour: number): string {
  const prefix = like.replace(/\d{4}\/\d{2}\/\d{2}\/\d{2}\.json$/, '');
  return digestKey(hour, prefix);
}
