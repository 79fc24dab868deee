import type { AuditRecord } from '../audit';

/**
 * The shapes shared by audit verification, the hourly digests and evidence packs. Local mode
 * proves its log with a hash chain; AWS with Object Lock, S3 checksums and hourly digests.
 */

export type IntegrityMethod = 'hash-chain' | 'object-lock-digests';

export type IntegrityProblemKind =
  /** A record the chain or a digest names is not there. */
  | 'missing'
  /** A record's bytes differ from what its hash, checksum or digest says. */
  | 'altered'
  /** A line or object that is not a JSON audit record. */
  | 'unparsable'
  /** The end of the local log was cut off (HEAD is ahead of the last line). */
  | 'truncated'
  /** An S3 object whose stored checksum does not match its bytes. */
  | 'checksum_mismatch'
  /** An audit object without Object Lock retention, or with retention already past. */
  | 'not_locked'
  /** An hour of the window with no digest (past the time its digest is due). */
  | 'no_digest'
  /** An audit object no digest lists (written after its hour's digest, or planted). */
  | 'not_in_digest'
  /** A digest whose `previous` does not match the digest before it. */
  | 'digest_chain_broken';

export interface IntegrityProblem {
  kind: IntegrityProblemKind;
  /** Where: `file:line` locally, the S3 key on AWS, a pack file name offline. */
  where: string;
  detail: string;
  request_id?: string;
}

export interface IntegrityResult {
  /** True when no problem was found. */
  ok: boolean;
  method: IntegrityMethod;
  /** How many records (lines or objects) were checked. */
  checked: number;
  problems: IntegrityProblem[];
  /** What the check could not prove, said plainly (e.g. "the hour 14:00 is not digested yet"). */
  notes: string[];
}

/** One audit record as stored: its exact bytes (one line, no newline) and its parsed form. */
export interface StoredRecord {
  /** The exact stored text: the local chained line, or the S3 object's body. */
  line: string;
  record: AuditRecord;
  /** `file:line` locally, the S3 key on AWS. */
  where: string;
}

/** An object of the audit bucket, as the verifier and the digest function see it. */
export interface ArchiveObject {
  key: string;
  body: Buffer;
  versionId?: string;
  /** S3's stored SHA-256 checksum, base64, when the object has one. */
  checksumSha256?: string;
  /** Object Lock mode (`COMPLIANCE` or `GOVERNANCE`), when S3 reports one. */
  lockMode?: string;
  /** Object Lock retain-until date, ISO 8601, when S3 reports one. */
  retainUntil?: string;
}

/**
 * One version of a key of the audit bucket, as a version listing shows it: a stored version or a
 * delete marker (which hides the versions under it from `list` and `get` without removing them).
 */
export interface ArchiveVersion {
  key: string;
  versionId: string;
  /** True for the version `list` and `get` see (or the delete marker hiding the key). */
  isLatest: boolean;
  deleteMarker: boolean;
  /** When S3 stored this version (or marker), ISO 8601, when known. */
  lastModified?: string;
}

/** The audit bucket, as a port (S3 on AWS, an in-memory fake in tests). */
export interface AuditArchive {
  /** Every key under `prefix`, sorted. */
  list(prefix: string): Promise<string[]>;
  /** One object; throws when it does not exist. */
  get(key: string): Promise<ArchiveObject>;
  /** Writes `body` under `key` unless the key exists (never overwrites). */
  putOnce(key: string, body: string): Promise<'created' | 'exists'>;
  /**
   * Every version and delete marker of every key under `prefix`, the newest of a key first when
   * the store says when each was written. Optional: without it, records hidden behind a delete
   * marker and objects shadowed by a second version go unchecked (and the verifier says so).
   * Throws `AirlockError('method_not_allowed')` when the store turns out to have no version
   * listing (an S3 stand-in), which callers treat as if the method were absent.
   */
  listVersions?(prefix: string): Promise<ArchiveVersion[]>;
}
