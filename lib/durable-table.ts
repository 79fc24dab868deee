import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';

/** Props of a {@link durableTable}. */
export interface DurableTableProps {
  /** The string partition key's attribute name. */
  partitionKey: string;
  /** The attribute whose epoch seconds expire an item, if items expire. @default none */
  ttlAttribute?: string;
}

/**
 * A DynamoDB table whose items the gateway must not lose (the approvals, the kill switch):
 * on demand, point-in-time recoverable, encrypted with the `aws/dynamodb` AWS-managed key (no
 * key policy to maintain; the audit log, not a table, is the record that must survive), and
 * kept when the stack is deleted. The rate-limit counters, which are ephemeral, are not one.
 */
export function durableTable(scope: Construct, id: string, props: DurableTableProps) {
  return new dynamodb.Table(scope, id, {
    partitionKey: { name: props.partitionKey, type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    ...(props.ttlAttribute ? { timeToLiveAttribute: props.ttlAttribute } : {}),
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    encryption: dynamodb.TableEncryption.AWS_MANAGED,
    removalPolicy: RemovalPolicy.RETAIN,
  });
}
