import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { AUDIT_PREFIX, DIGEST_PREFIX } from '../lambdas/config/shared';
import type { AuditLockMode } from './config';

/** The logical id of the audit bucket. Never change it: a new id means a new, empty bucket. */
export const AUDIT_BUCKET_LOGICAL_ID = 'AuditBucket';

/**
 * The key prefixes of the audit records and of their hourly digests (lib/audit-digest.ts), in
 * this bucket under the same write-once, never-delete policy; stated once in
 * `lambdas/config/shared.ts`.
 */
export { AUDIT_PREFIX, DIGEST_PREFIX };

export interface AuditBucketProps {
  /**
   * Days each record is locked by the bucket's Object Lock default retention.
   * @default none, required
   */
  readonly retentionDays: number;
  /**
   * Object Lock mode of the default retention.
   * @default none, required (the config picks COMPLIANCE for prod)
   */
  readonly lockMode: AuditLockMode;
  /**
   * Days the server access logs of the audit bucket are kept.
   * @default retentionDays: the log of who read or tried to touch a record lives as long as it
   */
  readonly accessLogRetentionDays?: number;
}

/**
 * The audit log on AWS: one object per audit record in a bucket nobody can rewrite (docs/ARCHITECTURE.md, "Evidence").
 *
 * - Object Lock with a default retention (COMPLIANCE in production): a locked version cannot be
 *   deleted or overwritten by anyone until it expires, whatever IAM says.
 * - Versioned (Object Lock requires it), TLS 1.2+ only, public access blocked, ACLs disabled.
 * - SSE-S3 encryption, deliberately not a customer-managed KMS key: the threat here is tampering,
 *   not disclosure to AWS, and a CMK would add a way to destroy the log without deleting it
 *   (schedule the key for deletion and every record becomes unreadable), plus a KMS request per
 *   record and a key policy to maintain.
 * - Retained when the stack is deleted, under a guarded logical id.
 * - Server access logs go to a separate, ordinary bucket, so every read and every refused
 *   delete of an audit record is itself on record.
 * - Its policy refuses, for every principal, under `audit/` and `digests/`: a put that could
 *   replace an existing object (one without `If-None-Match`), and `s3:DeleteObject`, which under
 *   Object Lock still adds a delete marker hiding the locked version from every plain read.
 *
 * Writers get `s3:PutObject` on `audit/*` only, through {@link grantAppend}; this construct grants
 * nothing that deletes, re-locks or bypasses retention.
 */
export class AuditBucket extends Construct {
  /** The Object Lock bucket holding the audit records. */
  public readonly bucket: s3.Bucket;
  /** The bucket receiving the audit bucket's server access logs. */
  public readonly accessLogsBucket: s3.Bucket;
  /** The prefix records are written under (`audit/`). */
  public readonly prefix = AUDIT_PREFIX;

  constructor(scope: Construct, id: string, props: AuditBucketProps) {
    super(scope, id);
    const accessLogDays = props.accessLogRetentionDays ?? props.retentionDays;

    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      // Server access log delivery supports SSE-S3 only, not SSE-KMS.
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          id: 'expire-access-logs',
          expiration: Duration.days(accessLogDays),
          noncurrentVersionExpiration: Duration.days(7),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
        { id: 'remove-expired-delete-markers', expiredObjectDeleteMarker: true },
      ],
    });
    Validations.of(this.accessLogsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This bucket is the server access log target of the audit bucket; logging it into ' +
        'itself would loop, and a third bucket would only move the question.',
    });

    const retention = Duration.days(props.retentionDays);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      objectLockEnabled: true,
      objectLockDefaultRetention:
        props.lockMode === 'COMPLIANCE'
          ? s3.ObjectLockRetention.compliance(retention)
          : s3.ObjectLockRetention.governance(retention),
      versioned: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'audit-bucket/',
      // No lifecycle rule: expiring records is a deletion, and deletions are what this bucket
      // exists to prevent. Records are small JSON objects; storage-class transitions would cost
      // more (minimum object sizes) than they save.
    });
    (this.bucket.node.defaultChild as s3.CfnBucket).overrideLogicalId(AUDIT_BUCKET_LOGICAL_ID);
    // Records and digests are written once and never hidden, for every principal. Otherwise
    // whoever may put and delete could hide a record behind a delete marker, put new versions of
    // the digests from its hour on (recomputed and chained), and leave a current view that
    // verifies; the locked originals would only show in the version listing.
    const protectedObjects = [AUDIT_PREFIX, DIGEST_PREFIX].map((p) =>
      this.bucket.arnForObjects(`${p}*`),
    );
    // A put that could replace the current version of an existing key (shadowing the locked
    // original with a newer one): only a conditional put (If-None-Match) passes.
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyAuditOverwrite',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: protectedObjects,
        conditions: { Null: { 's3:if-none-match': 'true' } },
      }),
    );
    // A delete without a version id adds a delete marker, which Object Lock allows and which
    // hides the record from list and get. s3:DeleteObjectVersion stays with Object Lock, which
    // refuses it for a locked version until its retention ends: retention expiry is how old
    // records (and digests) go, version by version. A stray delete marker goes the same way.
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyAuditDeleteMarker',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:DeleteObject'],
        resources: protectedObjects,
      }),
    );
  }

  /**
   * Lets a principal add audit records: `s3:PutObject` on `audit/*`, nothing else. Deliberately
   * not `bucket.grantPut`, which also grants `s3:PutObjectRetention`, `s3:PutObjectLegalHold` and
   * `s3:Abort*`. Records get the bucket's default retention, so writers must not send Object Lock
   * headers of their own (that would need `s3:PutObjectRetention`).
   */
  public grantAppend(grantee: iam.IGrantable): void {
    const principal = grantee.grantPrincipal;
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects(`${AUDIT_PREFIX}*`)],
      }),
    );
    // Acknowledged on the grantee's default policy only (where a role puts the statement), and
    // only for this exact resource string.
    const policy = Construct.isConstruct(principal)
      ? principal.node.tryFindChild('DefaultPolicy')
      : undefined;
    if (policy) {
      Validations.of(policy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${AUDIT_BUCKET_LOGICAL_ID}.Arn>/${AUDIT_PREFIX}*]`,
        reason:
          'Each audit record is a new object with a unique key under audit/; the prefix is the ' +
          'narrowest resource that covers keys not yet known. The only action is s3:PutObject, ' +
          'and Object Lock keeps existing versions from being overwritten or deleted.',
      });
    }
  }
}
