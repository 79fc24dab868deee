import * as z from 'zod';
import { HOUR_MS, HOUR_PATH_PATTERN, hourOfMatch, hourPath } from '../audit-key';
import { iso } from './verify-kit';

/**
 * The digest object: its format, its key (`digests/YYYY/MM/DD/HH.json`) and how it is read
 * back. Written by digest-writer.ts, checked by the verifiers (digest.ts, material-check.ts).
 */

/** The `format` of every digest this module writes. */
export const DIGEST_FORMAT = 'crm-airlock-digest/1';
export const DEFAULT_DIGEST_PREFIX = 'digests/';
/** How long after its end an hour is digested, so the records of its last seconds land first. */
export const DEFAULT_SETTLE_MS = 10 * 60_000;
/**
 * How long after its end an hour's digest is due, for the verifiers: the function runs at 15
 * past the hour (lib/audit-digest.ts), so a digest missing 30 minutes after is really missing,
 * while one checked at 12 past is merely not written yet.
 */
export const DIGEST_DUE_MS = 30 * 60_000;

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

/** The key of the digest of the hour starting at `hourStart` (epoch ms, UTC). */
export function digestKey(hourStart: number, digestPrefix = DEFAULT_DIGEST_PREFIX): string {
  return `${digestPrefix}${hourPath(hourStart)}.json`;
}

/** The end of a digest key, `YYYY/MM/DD/HH.json`; {@link DIGEST_NAME} is all of it after the prefix. */
const DIGEST_TAIL = new RegExp(`${HOUR_PATH_PATTERN}\\.json$`);
const DIGEST_NAME = new RegExp(`^${HOUR_PATH_PATTERN}\\.json$`);

/** The hour (epoch ms) a digest key covers, or null when the key is not a digest's. */
export function hourOfDigestKey(key: string, digestPrefix: string): number | null {
  if (!key.startsWith(digestPrefix)) return null;
  const m = DIGEST_NAME.exec(key.slice(digestPrefix.length));
  return m ? hourOfMatch(m) : null;
}

/** The hour a digest key names (`…/YYYY/MM/DD/HH.json`, any prefix), or null. */
export function hourOfKeyText(key: string): number | null {
  const m = DIGEST_TAIL.exec(key);
  return m ? hourOfMatch(m) : null;
}

/** The key of the digest of `hour`, with the same prefix as the digest key `like`. */
export function digestKeyLike(like: string, hour: number): string {
  return digestKey(hour, like.replace(DIGEST_TAIL, ''));
}

/** The digest prefixes of the UTC days holding the hours in [fromHour, toHour]. */
export function digestDayPrefixes(
  digestPrefix: string,
  fromHour: number,
  toHour: number,
): string[] {
  const prefixes: string[] = [];
  for (let d = Math.floor(fromHour / 86_400_000) * 86_400_000; d <= toHour; d += 86_400_000) {
    prefixes.push(`${digestPrefix}${hourPath(d).slice(0, 10)}/`);
  }
  return prefixes;
}

/**
 * The digest body, or why it is not one: it must parse, have the digest format, and cover a
 * whole UTC hour; the hour of its key (`expectedHour`) when that is known.
 */
export function parseDigest(
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
