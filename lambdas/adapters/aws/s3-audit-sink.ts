import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { AuditRecord } from '../../core/audit';
import { auditKey, DEFAULT_AUDIT_PREFIX } from '../../core/audit-key';
import type { AuditSink } from '../../core/ports';

/**
 * The audit log on AWS: one object per record in the Object Lock bucket. Every PutObject
 * carries a SHA-256 checksum (Object Lock refuses uploads without one, and S3 verifies it).
 * Keys start with the hour, `audit/YYYY/MM/DD/HH/`, so a time window is a cheap prefix listing
 * (the key's format: lambdas/core/audit-key.ts).
 */
export class S3AuditSink implements AuditSink {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix = DEFAULT_AUDIT_PREFIX,
  ) {}

  /** The key `record` is written under: {@link auditKey}. */
  static key(prefix: string, record: AuditRecord): string {
    return auditKey(prefix, record);
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
