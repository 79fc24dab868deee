import { ArnFormat, Aws, Duration, Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { CONTROL_TABLE } from '../lambdas/config/tables';
import {
  type AirlockApprovalFlow,
  APPROVAL_TABLE_SCHEMA,
  controlEnvironment,
} from './approval-flow';
import { AUDIT_BUCKET_LOGICAL_ID, AUDIT_PREFIX, type AuditBucket } from './audit-bucket';
import { durableTable } from './durable-table';
import { AirlockFunction } from './function-factory';

/**
 * The control table's schema: the contract with `DynamoControlState`, kept once in
 * `lambdas/config/tables.ts`.
 */
export const CONTROL_TABLE_SCHEMA = { partitionKey: CONTROL_TABLE.partitionKey } as const;

export interface AirlockControlProps {
  /**
   * The approval flow: the ops function lists and cancels its pending approvals, and resumes
   * their waiting executions with a denial.
   * @default none, required
   */
  readonly approval: AirlockApprovalFlow;
  /**
   * The audit bucket; the ops function appends a record under `audit/` for every call.
   * @default none, required
   */
  readonly audit: AuditBucket;
  /**
   * The HubSpot-call function: the ops function invokes its probe (`probe_read_token`) to
   * confirm a rotated read token, so the operators never need to invoke it themselves.
   * @default none, required
   */
  readonly hubspotCall: lambda.IFunction;
  /**
   * The deploy-time switch (`-c contained=true`, `-c readOnly=true`): an override the ops
   * function reports and cannot release.
   * @default both off
   */
  readonly forced?: { contained: boolean; readOnly: boolean };
  /**
   * Retention of the ops function's log group.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/** What the operator's CLI works with, for {@link AirlockControl.addOperatorPolicy}. */
export interface OperatorPolicyProps {
  /** Invoked by `rotate --which slack-signing` to check a request signed with the new secret. */
  readonly slackInteractions: lambda.IFunction;
  /** Read by `verify` and `export`. */
  readonly audit: AuditBucket;
  /** The four secrets `rotate` stores (HubSpot read and write tokens, Slack bot token and signing secret). */
  readonly secrets: readonly secretsmanager.ISecret[];
  /** The Slack bot token, the one secret the operator reads back (to confirm a rotation). */
  readonly slackBotToken: secretsmanager.ISecret;
  /** The monitoring construct's alarm-name prefix (`CrmAirlock-<stage>-`), read by `status`. */
  readonly alarmPrefix: string;
}

/**
 * The kill switch and read-only mode at run time (docs/ARCHITECTURE.md, "Security invariants"), and the ops function the
 * operator's CLI invokes.
 *
 * - The control table holds one item (`pk = 'control'`). On demand, point-in-time recoverable,
 *   AWS-managed encryption, retained: a deleted stack must not leave a contained gateway open
 *   on redeploy without anyone noticing the item went.
 * - Readers ({@link addReader}: validation, Slack callback, write): `dynamodb:GetItem` on this
 *   table, nothing else. They cache a read for 5 s, so a change reaches them within 10 s.
 * - The ops function: get/update the control item; get/update approvals and query the
 *   `by_status` index (list and cancel pending writes, read a task token);
 *   `states:SendTaskSuccess` (resume a waiting execution with a denial; no resource-level
 *   permission exists for it); append audit records; invoke the HubSpot-call function, whose
 *   probe confirms a rotated read token (the ops function sends only the probe, which answers
 *   no CRM data, and audits it). No secret, no execution start.
 * - The operator's policy ({@link addOperatorPolicy}): a customer-managed policy to attach to
 *   the operators' role, with exactly what `npx airlock` needs on AWS.
 */
export class AirlockControl extends Construct {
  public readonly table: dynamodb.Table;
  /** The ops function: status, contain, release, read-only on/off, the read-token probe. */
  public readonly ops: AirlockFunction;
  /** Set by {@link addOperatorPolicy}. */
  public operatorPolicy?: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: AirlockControlProps) {
    super(scope, id);
    this.table = durableTable(this, 'Table', { partitionKey: CONTROL_TABLE_SCHEMA.partitionKey });

    const approvalTable = props.approval.table;
    this.ops = new AirlockFunction(this, 'Ops', {
      entry: 'lambdas/aws/ops.ts',
      // 256 MB: a few DynamoDB calls, one S3 put per record, one Step Functions call per
      // cancelled write; it waits on them.
      memorySize: 256,
      // `contain` cancels every pending write one by one (at most 200 may wait), waits 11 s for
      // every cached read of the switch to expire, then sweeps again: room for both sweeps.
      timeout: Duration.seconds(120),
      invokedSynchronouslyBy: "the operator's CLI (npx airlock), RequestResponse",
      logRetention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      environment: {
        CONTROL_TABLE_NAME: this.table.tableName,
        ...controlEnvironment(props.forced),
        APPROVAL_TABLE_NAME: approvalTable.tableName,
        HUBSPOT_CALL_FUNCTION_NAME: props.hubspotCall.functionName,
        AUDIT_BUCKET_NAME: props.audit.bucket.bucketName,
        AUDIT_PREFIX,
      },
    });
    const role = this.ops.role;
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        // UpdateItem, not PutItem: a command writes only its own flag (see DynamoControlState).
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
        resources: [this.table.tableArn],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
        resources: [approvalTable.tableArn],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${approvalTable.tableArn}/index/${APPROVAL_TABLE_SCHEMA.byStatusIndex}`],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [props.hubspotCall.functionArn],
      }),
    );
    props.audit.grantAppend(role);
    const callback = new iam.Policy(this, 'TaskCallbackPolicy', {
      roles: [role],
      statements: [
        new iam.PolicyStatement({ actions: ['states:SendTaskSuccess'], resources: ['*'] }),
      ],
    });
    Validations.of(callback).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'states:SendTaskSuccess supports no resource-level permission (it is addressed by task ' +
        'token). This policy holds only that action (a test asserts it); the ops function reads ' +
        "tokens only from this stack's approvals table and sends only a denial.",
    });
  }

  /**
   * Lets a gateway function read the switch: `CONTROL_TABLE_NAME` in its environment and
   * `dynamodb:GetItem` on the control table, nothing else (it can never change the switch).
   */
  public addReader(fn: AirlockFunction): void {
    fn.addEnvironment('CONTROL_TABLE_NAME', this.table.tableName);
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['dynamodb:GetItem'], resources: [this.table.tableArn] }),
    );
  }

  /**
   * The customer-managed policy `OperatorPolicy`: exactly what the operator's CLI needs.
   * Invoke the ops and Slack-interactions functions (exact ARNs); list the audit bucket and
   * read its objects, their versions and retention; describe this stack's alarms; store the
   * four secrets and see their current version, read back only the Slack bot token; describe
   * this stack. `sts:GetCallerIdentity` needs no grant. The HubSpot token secrets' own policies
   * refuse their values to everyone but their function in any case.
   *
   * It does not allow invoking the HubSpot-call function, which answers a search with CRM
   * records and writes no audit record: a rotated read token is confirmed through the ops
   * function (`probe_read_token`), which runs only the probe and audits it.
   *
   * A holder of this policy can store the Slack signing secret, and so could sign Slack
   * approvals of their own: treat the policy as an approver-level credential, granted to the
   * people who may approve writes.
   */
  public addOperatorPolicy(props: OperatorPolicyProps): iam.ManagedPolicy {
    const stack = Stack.of(this);
    const alarms = stack.formatArn({
      service: 'cloudwatch',
      resource: 'alarm',
      resourceName: `${props.alarmPrefix}*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const bucket = props.audit.bucket;
    const policy = new iam.ManagedPolicy(this, 'OperatorPolicy', {
      description:
        'CRM Airlock operators (npx airlock): the kill switch, token rotation, audit verification and export. ' +
        'Approver-level: it can set the Slack signing secret, so give it only to people trusted to approve writes.',
      statements: [
        new iam.PolicyStatement({
          actions: ['lambda:InvokeFunction'],
          resources: [this.ops.function.functionArn, props.slackInteractions.functionArn],
        }),
        // Versions too: a record hidden behind a delete marker, or shadowed by a second
        // version, shows only in the version listing.
        new iam.PolicyStatement({
          actions: ['s3:ListBucket', 's3:ListBucketVersions'],
          resources: [bucket.bucketArn],
        }),
        new iam.PolicyStatement({
          actions: ['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectRetention'],
          resources: [bucket.arnForObjects('*')],
        }),
        new iam.PolicyStatement({ actions: ['cloudwatch:DescribeAlarms'], resources: [alarms] }),
        // Store a new value and see which version is current; never read a HubSpot token back.
        new iam.PolicyStatement({
          actions: ['secretsmanager:PutSecretValue', 'secretsmanager:DescribeSecret'],
          resources: props.secrets.map((s) => s.secretArn),
        }),
        // Slack's auth.test with the stored bot token confirms its rotation.
        new iam.PolicyStatement({
          actions: ['secretsmanager:GetSecretValue'],
          resources: [props.slackBotToken.secretArn],
        }),
        new iam.PolicyStatement({
          actions: ['cloudformation:DescribeStacks'],
          resources: [Aws.STACK_ID],
        }),
      ],
    });
    // cdk-nag names each finding after the resource string.
    Validations.of(policy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${AUDIT_BUCKET_LOGICAL_ID}.Arn>/*]`,
      reason:
        'verify and export read any audit object (every record, and its versions and retention, ' +
        'under any prefix the stack writes): the objects of one bucket, read-only. Nothing here ' +
        'can write, delete or re-lock an object.',
    });
    Validations.of(policy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:${props.alarmPrefix}*]`,
      reason:
        "status lists this stack's alarms by their name prefix (DescribeAlarms with " +
        'AlarmNamePrefix): the wildcard is the alarm name after the stack-and-stage prefix.',
    });
    this.operatorPolicy = policy;
    return policy;
  }
}
