import { S3Client } from '@aws-sdk/client-s3';
import { S3AuditSink } from '../adapters/aws/s3-audit-sink';
import { emfMetrics, observedAudit } from '../core/metrics';
import type { AuditSink } from '../core/ports';

/**
 * The audit sink every auditing function builds: one object per record in the Object Lock
 * bucket, counted into metrics as it is written (EMF lines in the log, no API call on the way).
 * The client gives up quickly, so a slow S3 turns into a 503 rather than a timed-out function.
 */
export function observedS3Audit(env: {
  AUDIT_BUCKET_NAME: string;
  AUDIT_PREFIX: string;
  AIRLOCK_STAGE: string;
}): AuditSink {
  return observedAudit(
    new S3AuditSink(
      new S3Client({ requestHandler: { connectionTimeout: 1000, requestTimeout: 3000 } }),
      env.AUDIT_BUCKET_NAME,
      env.AUDIT_PREFIX,
    ),
    emfMetrics(env.AIRLOCK_STAGE),
    Date.now,
  );
}
