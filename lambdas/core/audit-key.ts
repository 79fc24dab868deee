import { randomBytes } from 'node:crypto';
import { AUDIT_OUTCOMES, type AuditOutcome, type AuditRecord } from './audit';

/**
 * The key of an audit record in the S3 audit bucket, written and read here only:
 *
 *     <prefix>YYYY/MM/DD/HH/<stamp>_<request id>_<outcome>_<8 hex>.json
 *
 * The hour and the stamp (`2026-11-29T101530123Z`) come from the record's own `timestamp`, so a
 * time window is a cheap prefix listing and the verifier can tell a record planted under
 * another hour; the request id (reduced to `[A-Za-z0-9_-]`, at most 64 characters) and the
 * outcome let a problem about a vanished record still say whose it was; the random part keeps
 * two records of one request in the same millisecond apart. See docs/ARCHITECTURE.md, "Evidence".
 */

/** The key prefix audit records are written under, unless configured otherwise. */
export const DEFAULT_AUDIT_PREFIX = 'audit/';

export const HOUR_MS = 3_600_000;

/** `YYYY/MM/DD/HH` of the UTC hour starting at `hourStart` (epoch ms). */
export function hourPath(hourStart: number): string {
  return hourPathOf(new Date(hourStart).toISOString());
}

/** `YYYY/MM/DD/HH` of an ISO 8601 UTC time, as written (the audit and digest keys' hour). */
function hourPathOf(t: string): string {
  return `${t.slice(0, 4)}/${t.slice(5, 7)}/${t.slice(8, 10)}/${t.slice(11, 13)}`;
}

/** The pattern of {@link hourPath}'s `YYYY/MM/DD/HH`, its four parts captured. */
export const HOUR_PATH_PATTERN = String.raw`(\d{4})/(\d{2})/(\d{2})/(\d{2})`;

/** The hour (epoch ms) of a match whose first four captures are {@link HOUR_PATH_PATTERN}'s. */
export function hourOfMatch(m: RegExpExecArray): number {
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]));
}

/** The key prefix of the audit objects of the hour starting at `hourStart`. */
export function auditHourPrefix(hourStart: number, auditPrefix = DEFAULT_AUDIT_PREFIX): string {
  return `${auditPrefix}${hourPath(hourStart)}/`;
}

/** The request id as a key carries it: the characters a key may hold, at most 64 of them. */
export function keyRequestId(requestId: string): string {
  return requestId.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 64);
}

/** The key a record is written under (each call a new one: the last part is random). */
export function auditKey(prefix: string, record: AuditRecord): string {
  const t = record.timestamp; // ISO 8601, UTC
  const hour = hourPathOf(t);
  const stamp = t.replace(/[:.]/g, '');
  const random = randomBytes(4).toString('hex');
  return `${prefix}${hour}/${stamp}_${keyRequestId(record.request_id)}_${record.outcome}_${random}.json`;
}

/** What a key says about its record; each part is read on its own, null or absent when missing. */
export interface AuditKeyParts {
  /** The hour (epoch ms) of the `…/YYYY/MM/DD/HH/<name>` the key sits under. */
  hour: number | null;
  /** The record time of the key's stamp, epoch ms. */
  stamp: number | null;
  /** The request id as the key carries it ({@link keyRequestId}); absent when empty. */
  requestId?: string;
  outcome?: AuditOutcome;
}

const nameOf = (key: string) => key.slice(key.lastIndexOf('/') + 1);

const AUDIT_KEY_HOUR = new RegExp(`${HOUR_PATH_PATTERN}/[^/]*$`);

/** The hour (epoch ms) of the `…/YYYY/MM/DD/HH/<name>` an audit key sits under, or null. */
export function hourOfAuditKey(key: string): number | null {
  const m = AUDIT_KEY_HOUR.exec(key);
  return m ? hourOfMatch(m) : null;
}

/** The record time written into an audit key (`…/2026-11-29T101530123Z_…`), epoch ms, or null. */
export function stampOfAuditKey(key: string): number | null {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})?Z_/.exec(nameOf(key));
  if (!m) return null;
  const ms = Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4]}.${m[5] ?? '000'}Z`);
  return Number.isFinite(ms) ? ms : null;
}

/**
 * The request id and outcome of the name. The id may hold `_`, the random part never does, and
 * no outcome ends in `_<another outcome>`, so the split is unambiguous.
 */
const KEY_NAME = new RegExp(`^[^_]+_(.*)_(${AUDIT_OUTCOMES.join('|')})_[0-9a-f]+\\.json$`);

/** The request id (absent when empty) and outcome a key's name carries, or null. */
function idAndOutcome(key: string): { requestId?: string; outcome: AuditOutcome } | null {
  const m = KEY_NAME.exec(nameOf(key));
  if (!m) return null;
  const outcome = m[2] as AuditOutcome;
  return m[1] ? { requestId: m[1], outcome } : { outcome };
}

/** The request id an audit key names, so a problem about a vanished record can still say whose. */
export function requestIdOfAuditKey(key: string): string | undefined {
  return idAndOutcome(key)?.requestId;
}

/** Everything a key says about its record (a key written by hand may say only part of it). */
export function parseAuditKey(key: string): AuditKeyParts {
  return { hour: hourOfAuditKey(key), stamp: stampOfAuditKey(key), ...idAndOutcome(key) };
}
