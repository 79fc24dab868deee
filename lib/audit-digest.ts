import { Duration, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import {
  AUDIT_BUCKET_LOGICAL_ID,
  AUDIT_PREFIX,
  type AuditBucket,
  DIGEST_PREFIX,
} from './audit-bucket';
import { AirlockFunction } from './function-factory';

/** The key prefix of the hourly digests, next to `audit/` in the audit bucket. */
export { DIGEST_PREFIX };

/**
 * When the digest function runs: every hour at :15. The code digests an hour once it ended 10
 * minutes ago, so the run at :15 covers the hour before, its late records included.
 */
export const AUDIT_DIGEST_SCHEDULE = events.Schedule.cron({ minute: '15' });

export interface AuditDigestProps {
  /**
   * The audit bucket: records are read under `audit/`, digests written under `digests/`.
   * @default none, required
   */
  readonly audit: AuditBucket;
  /**
   * The deployment stage, named in the schedule's description.
   * @default none, required
   */
  readonly stage: string;
  /**
   * Retention of the function's log group.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * Hourly digests of the audit log (CloudTrail-style log file integrity): a scheduled function
 * writes `digests/YYYY/MM/DD/HH.json` for each settled hour, listing the SHA-256 of every record
 * of the hour and chained to the digest before (`lambdas/core/evidence/digest.ts`).
 *
 * Its role may list the bucket (objects and their versions) under `audit/` and `digests/` only,
 * read objects there, and put objects under `digests/` only, and only as conditional puts
 * (`If-None-Match`, which can create but never replace). Nothing that deletes, changes retention
 * or legal hold, or writes a record. The version listing lets a run refuse to chain over a digest
 * hidden behind a delete marker or written twice. Digests land in the same Object Lock bucket, so
 * they get its default retention like the records, and the bucket policy refuses, for everyone,
 * a put without `If-None-Match` and a delete under `digests/` as under `audit/`. The bucket is
 * SSE-S3, so no KMS permission is needed.
 */
export class AuditDigest extends Construct {
  public readonly fn: AirlockFunction;
  public readonly schedule: events.Rule;

  constructor(scope: Construct, id: string, props: AuditDigestProps) {
    super(scope, id);
    const { bucket } = props.audit;

    this.fn = new AirlockFunction(this, 'Function', {
      entry: 'lambdas/aws/audit-digest.ts',
      // 256 MB: list, read and hash small JSON objects, one hour at a time; the SDK's cold start
      // is CPU-bound, and 24 runs a day cost next to nothing at any size.
      memorySize: 256,
      // An hour of records reads in seconds; 5 minutes leaves room to catch up many missed hours.
      // A run cut short keeps the digests it wrote, and the next run goes on from them.
      timeout: Duration.minutes(5),
      invokedSynchronouslyBy: 'nobody (EventBridge schedule)',
      scheduledWithoutDlqBecause:
        'Invoked asynchronously by its EventBridge schedule every hour with an empty event: a ' +
        'failed run loses nothing, its Errors alarm reports it, and the next run digests every ' +
        'hour the failed one missed (up to 48 per run).',
      ...(props.logRetention === undefined ? {} : { logRetention: props.logRetention }),
      environment: {
        AUDIT_BUCKET_NAME: bucket.bucketName,
        AUDIT_PREFIX,
        DIGEST_PREFIX,
      },
    });

    const role = this.fn.role;
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket', 's3:ListBucketVersions'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${AUDIT_PREFIX}*`, `${DIGEST_PREFIX}*`] } },
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [
          bucket.arnForObjects(`${AUDIT_PREFIX}*`),
          bucket.arnForObjects(`${DIGEST_PREFIX}*`),
        ],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [bucket.arnForObjects(`${DIGEST_PREFIX}*`)],
        // Only a put that cannot replace an existing digest (If-None-Match present).
        conditions: { Null: { 's3:if-none-match': 'false' } },
      }),
    );
    const policy = role.node.tryFindChild('DefaultPolicy');
    if (policy) {
      for (const prefix of [AUDIT_PREFIX, DIGEST_PREFIX]) {
        Validations.of(policy).acknowledge({
          id: `AwsSolutions-IAM5[Resource::<${AUDIT_BUCKET_LOGICAL_ID}.Arn>/${prefix}*]`,
          reason:
            'The digest function reads every record of an hour (keys not known in advance) and ' +
            'the digests under their prefix; the prefix is the narrowest resource covering them. ' +
            'It may only read there (s3:GetObject), and put only new digests under digests/.',
        });
      }
    }

    this.schedule = new events.Rule(this, 'Schedule', {
      description: `CRM Airlock (${props.stage}): digest the audit records of the last hour`,
      schedule: AUDIT_DIGEST_SCHEDULE,
      targets: [
        new targets.LambdaFunction(this.fn.function, {
          // A run that could not start within the hour is superseded by the next one.
          maxEventAge: Duration.hours(1),
          retryAttempts: 2,
        }),
      ],
    });
    Validations.of(this.schedule).acknowledge({
      id: 'Serverless-EventBusDLQ',
      reason:
        'The scheduled event carries no data: an undelivered one only delays the digests by an ' +
        'hour, and the next run writes every hour that was missed. A dead-letter queue would ' +
        'collect empty timer events.',
    });
  }
}
