import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { FunctionEnvironment } from '../lambdas/config/aws';
import { READ_LIMITS, type ReadLimitName } from '../lambdas/config/shared';
import { RATE_LIMIT_TABLE } from '../lambdas/config/tables';
import type { LimitsConfig } from './config';

export interface AirlockRateLimitsProps {
  /**
   * The limits the validation function enforces.
   * @default none, required
   */
  readonly limits: LimitsConfig;
}

/**
 * The counters of the rate limits (docs/ARCHITECTURE.md, "Data flow"): one DynamoDB table shared by every
 * instance of the validation function, read and written by `DynamoRateLimiter`
 * (`lambdas/adapters/aws/dynamo-rate-limiter.ts`); {@link RATE_LIMIT_TABLE}
 * (`lambdas/config/tables.ts`) is the schema contract between the two.
 *
 * The counters are ephemeral (the longest window is an hour) and the audit log, not this table,
 * records who read what: no point-in-time recovery, and the table goes with the stack.
 * Encrypted with the AWS-managed `aws/dynamodb` key.
 */
export class AirlockRateLimits extends Construct {
  public readonly table: dynamodb.Table;
  private readonly limits: LimitsConfig;

  constructor(scope: Construct, id: string, props: AirlockRateLimitsProps) {
    super(scope, id);
    this.limits = props.limits;
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: RATE_LIMIT_TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: RATE_LIMIT_TABLE.ttlAttribute,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: false },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(this.table).acknowledge({
      id: 'AwsSolutions-DDB3',
      reason:
        'Rate-limit counters are ephemeral: each item belongs to a window of at most one hour and ' +
        'expires by TTL. A restored copy would hold stale windows; who read what is in the audit ' +
        'log, not here. Point-in-time recovery would only add cost.',
    });
  }

  /**
   * Lets a principal count: `dynamodb:UpdateItem` (take from a window, add to a distinct
   * counter) and `dynamodb:PutItem` (mark a record as seen) on this table, nothing else (no
   * read, scan, delete, no index). Not `table.grant*`, which adds batch and describe actions.
   */
  public grantCount(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:UpdateItem', 'dynamodb:PutItem'],
        resources: [this.table.tableArn],
      }),
    );
  }

  /** The environment the validation function needs to enforce the limits. */
  public validationEnvironment(): FunctionEnvironment<'lambdas/aws/validation.ts'> {
    const env: FunctionEnvironment<'lambdas/aws/validation.ts'> = {
      RATE_LIMIT_TABLE_NAME: this.table.tableName,
    };
    // Each limit under the variable name the function's schema reads it from.
    for (const name of Object.keys(READ_LIMITS) as ReadLimitName[]) {
      env[READ_LIMITS[name].env] = String(this.limits[name]);
    }
    return env;
  }
}
