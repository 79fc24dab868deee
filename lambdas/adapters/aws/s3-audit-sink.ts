import { randomBytes } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { AuditRecord } from '../../core/audit';
import type { AuditSink } from '../../core/ports';

/**
 * The audit log on AWS: one object per record in the Object Lock bucket. Every PutObject
 * carries a SHA-256 checksum (Object Lock refuses uploads without one, and S3 verifies it).
 * Keys start with the hour, `audit/YYYY/MM/DD/HH/`, so a time window is a cheap prefix listing.
 */
export class S3AuditSink implements AuditSink {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix = 'audit/',
  ) {}

  static key(prefix: string, record: AuditRecord): string {
    const t = record.timestamp; // ISO 8601, UTC
    const hour = `${t.slice(0, 4)}/${t.slice(5, 7)}/${t.slice(8, 10)}/${t.slice(11, 13)}`;
    const stamp = t.replace(/[:.]/g, '');
    const id = record.request_id.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 64);
    // The random part keeps two records of one request in the same millisecond apart.
    return `${prefix}${hour}/${stamp}_${id}_${record.outcome}_${randomBytes(4).toString('hex')}.json`;
  }

  async append(record: AuditRecord): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: S3AuditSink.key(this.prefix, record),
        Body: JSON.stringify(record),
        ContentType: 'application/json',
        ChecksumAlgorithm: 'SHA256',
        // Written once: S3 refuses the put if the key exists (and the bucket policy refuses a
        // put without this condition), so no record can be shadowed by a newer version.
        IfNoneMatch: '*',
      }),
    );
  }
}
