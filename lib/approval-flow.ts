import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { type FunctionEnvironment, SECRET_TTL_SECONDS } from '../lambdas/config/aws';
import { HUBSPOT_API } from '../lambdas/config/shared';
import { APPROVAL_TABLE } from '../lambdas/config/tables';
import { AUDIT_PREFIX, type AuditBucket } from './audit-bucket';
import type { ApprovalConfig } from './config';
import { durableTable } from './durable-table';
import { AirlockFunction } from './function-factory';

/**
 * The approvals table's schema: the contract with the DynamoDB adapter, kept once in
 * `lambdas/config/tables.ts`.
 */
export const APPROVAL_TABLE_SCHEMA = APPROVAL_TABLE;

/** Names of the state machine's states; tests and the operators' runbook refer to them. */
export const APPROVAL_STATES = {
  notify: 'Notify',
  decide: 'Decide',
  write: 'Write',
  completed: 'Completed',
  denied: 'Denied',
  expired: 'Expired',
  failed: 'Failed',
  writeFailed: 'WriteFailed',
  unknownDecision: 'UnknownDecision',
  done: 'Done',
  aborted: 'Aborted',
} as const;

/** The error names the write function throws that the `Write` state retries. */
export const WRITE_RETRY_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'Airlock.Retryable',
] as const;

const SLACK_ROTATION_REASON =
  'Slack bot tokens and signing secrets are issued by Slack (the app settings: OAuth & ' +
  'Permissions, Basic Information); no AWS-reachable API issues them, so a rotation Lambda has ' +
  'nothing to call. They are rotated in Slack, then stored here with put-secret-value.';

export interface AirlockApprovalFlowProps {
  /**
   * Deployment stage; part of the secret names (`crm-airlock/<stage>/slack-bot-token`).
   * @default none, required
   */
  readonly stage: string;
  /**
   * The approval settings from context (TTL, Slack channel, team, approvers, counts).
   * @default none, required
   */
  readonly approval: ApprovalConfig;
  /**
   * The read-only HubSpot-call function; the notify function invokes it to show the target
   * record's current name in the Slack message.
   * @default none, required
   */
  readonly hubspotCall: lambda.IFunction;
  /**
   * The HubSpot write-token secret; only the write function may read it.
   * @default none, required
   */
  readonly writeToken: secretsmanager.ISecret;
  /**
   * The deploy-time kill switch and read-only mode (`-c contained=true`, `-c readOnly=true`):
   * while either is on, approve clicks are refused (the write stays pending) and no write runs.
   * The run-time switch (the control table) is added by `AirlockControl.addReader`.
   * @default both off
   */
  readonly control?: { contained: boolean; readOnly: boolean };
  /**
   * The audit bucket; the finish and Slack functions append records under `audit/`.
   * @default none, required
   */
  readonly audit: AuditBucket;
  /**
   * Retention of the functions' and the state machine's log groups.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * Human approval of writes on AWS (docs/ARCHITECTURE.md, "The approval lifecycle"): a Standard Step Functions state
 * machine that posts each pending write to Slack, waits for an approver's click (a task token
 * with the approval TTL as timeout), then runs the write with the write token, once, bound to
 * the action hash it was started with.
 *
 * ```
 * Notify ──(waitForTaskToken, timeout = TTL)──▶ Decide ─approved─▶ Write ─▶ Completed ─▶ Done
 *   │ States.Timeout ─▶ Expired ─▶ Done           ├─denied──▶ Denied ─▶ Done
 *   │ Airlock.NotPending ─▶ Denied                 │
 *   └ States.ALL ────▶ Failed ─▶ Aborted          └─other───▶ UnknownDecision ─▶ Failed
 *                                      Write ─(States.ALL, after retries)─▶ WriteFailed ─▶ Aborted
 * ```
 *
 * `Failed` and `WriteFailed` record the outcome (`approval-finish`) and then end the execution
 * in a `Fail` state, so the console, `ExecutionsFailed` metrics and alarms see them as failures;
 * denied and expired writes are normal outcomes and succeed.
 *
 * The kill switch (`lib/control.ts`) cancels pending writes: the ops function marks each one
 * denied and resumes its execution with a denial; one cancelled before Notify stored its task
 * token makes Notify fail with `Airlock.NotPending`, which also leads to `Denied`.
 *
 * Who may do what:
 * - the state machine's role: invoke exactly the notify, write and finish functions (exact
 *   ARNs, no `:*` qualifier), deliver its logs, write X-Ray traces;
 * - `hubspot-write`: read the write-token secret (no other function can), get/update approvals,
 *   get the kill-switch item. Nothing but the state machine's role is granted
 *   `lambda:InvokeFunction` on it, and it has no resource policy;
 * - `approval-notify`: get/update approvals, read the Slack bot token, invoke the HubSpot-call
 *   function (read path only);
 * - `approval-finish`: get/update approvals, read the Slack bot token, append audit records;
 * - `slack-interactions` (behind the unauthenticated Slack route; it checks Slack's HMAC
 *   signature): read the signing secret, get/update/query approvals, get the kill-switch item,
 *   send task success or failure, append audit records. It cannot start, stop or read
 *   executions, nor write.
 * - whoever {@link grantStartApproval} names (the validation function): create/read/update
 *   approvals and start executions of this state machine, nothing else.
 */
export class AirlockApprovalFlow extends Construct {
  /** Approvals: one item per pending or decided write. */
  public readonly table: dynamodb.Table;
  /** The Slack bot token (`xoxb-…`), created with a random placeholder. */
  public readonly slackBotToken: secretsmanager.Secret;
  /** The Slack app's signing secret, created with a random placeholder. */
  public readonly slackSigningSecret: secretsmanager.Secret;
  public readonly notify: AirlockFunction;
  public readonly write: AirlockFunction;
  public readonly finish: AirlockFunction;
  /** Behind `POST /slack/interactions`: verifies Slack's signature, records decisions. */
  public readonly slackInteractions: AirlockFunction;
  public readonly stateMachine: sfn.StateMachine;
  /** The execution role of the state machine. */
  public readonly stateMachineRole: iam.Role;
  public readonly stateMachineLogGroup: logs.LogGroup;

  private readonly approval: ApprovalConfig;

  constructor(scope: Construct, id: string, props: AirlockApprovalFlowProps) {
    super(scope, id);
    this.approval = props.approval;
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;

    this.table = this.approvalsTable();
    this.slackBotToken = this.slackSecret(
      'SlackBotToken',
      props.stage,
      'slack-bot-token',
      'Slack bot token (xoxb-…, scope chat:write) of the approval app',
    );
    this.slackSigningSecret = this.slackSecret(
      'SlackSigningSecret',
      props.stage,
      'slack-signing-secret',
      'signing secret of the Slack approval app (verifies button clicks)',
    );

    const viaStateMachine = 'the approval state machine, Lambda task (RequestResponse)';

    this.notify = new AirlockFunction(this, 'ApprovalNotify', {
      entry: 'lambdas/aws/approval-notify.ts',
      // 256 MB: one Slack call, one HubSpot-call invocation, one DynamoDB update; it waits.
      memorySize: 256,
      // The HubSpot-call function's own 10 s limit, plus Slack's answer, with room to spare.
      timeout: Duration.seconds(30),
      invokedSynchronouslyBy: viaStateMachine,
      logRetention,
      environment: {
        APPROVAL_TABLE_NAME: this.table.tableName,
        SLACK_BOT_TOKEN_SECRET_ARN: this.slackBotToken.secretArn,
        SLACK_CHANNEL_ID: props.approval.slackChannelId,
        HUBSPOT_CALL_FUNCTION_NAME: props.hubspotCall.functionName,
      },
    });
    this.grantItems(this.notify.role, ['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    grantSecretValue(this.notify.role, this.slackBotToken);
    // Exactly the function's ARN: not `grantInvoke`, which adds `<arn>:*`.
    this.notify.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [props.hubspotCall.functionArn],
      }),
    );

    this.write = new AirlockFunction(this, 'HubSpotWrite', {
      entry: 'lambdas/aws/hubspot-write.ts',
      // 512 MB like the HubSpot-call function: the HubSpot client and TLS make it CPU-bound.
      memorySize: 512,
      // One note creation (plus the look-up of a note it may already have made), each within
      // the client's deadline; a timeout here is retried by nobody (not Airlock.Retryable).
      timeout: Duration.seconds(30),
      invokedSynchronouslyBy: viaStateMachine,
      logRetention,
      environment: {
        APPROVAL_TABLE_NAME: this.table.tableName,
        HUBSPOT_WRITE_SECRET_ARN: props.writeToken.secretArn,
        HUBSPOT_BASE_URL: HUBSPOT_API,
        SECRET_TTL_SECONDS: String(SECRET_TTL_SECONDS.default),
        ...controlEnvironment(props.control),
      },
    });
    this.grantItems(this.write.role, ['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    grantSecretValue(this.write.role, props.writeToken);
    denySecretToOthers(props.writeToken, this.write.role);

    this.finish = new AirlockFunction(this, 'ApprovalFinish', {
      entry: 'lambdas/aws/approval-finish.ts',
      // 256 MB: a DynamoDB update, an S3 put and a Slack message update.
      memorySize: 256,
      timeout: Duration.seconds(30),
      invokedSynchronouslyBy: viaStateMachine,
      logRetention,
      environment: {
        APPROVAL_TABLE_NAME: this.table.tableName,
        AUDIT_BUCKET_NAME: props.audit.bucket.bucketName,
        AUDIT_PREFIX,
        SLACK_BOT_TOKEN_SECRET_ARN: this.slackBotToken.secretArn,
      },
    });
    this.grantItems(this.finish.role, ['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    grantSecretValue(this.finish.role, this.slackBotToken);
    props.audit.grantAppend(this.finish.role);

    this.slackInteractions = new AirlockFunction(this, 'SlackInteractions', {
      entry: 'lambdas/aws/slack-interactions.ts',
      // 256 MB: HMAC check, a few DynamoDB calls and one Step Functions call; Slack wants an
      // answer within 3 s, so the cold start matters more than the cost.
      memorySize: 256,
      // Slack gives up after 3 s; anything slower is a failure the audit record must still note.
      timeout: Duration.seconds(10),
      invokedSynchronouslyBy: 'API Gateway, Lambda proxy integration (Slack interactivity)',
      logRetention,
      environment: {
        APPROVAL_TABLE_NAME: this.table.tableName,
        SLACK_SIGNING_SECRET_ARN: this.slackSigningSecret.secretArn,
        SLACK_TEAM_ID: props.approval.slackTeamId,
        SLACK_APPROVER_IDS: props.approval.approverSlackIds.join(','),
        AIRLOCK_USER_APPROVERS: JSON.stringify(props.approval.userApprovers),
        AUDIT_BUCKET_NAME: props.audit.bucket.bucketName,
        AUDIT_PREFIX,
        ...controlEnvironment(props.control),
      },
    });
    this.grantItems(this.slackInteractions.role, ['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    grantSecretValue(this.slackInteractions.role, this.slackSigningSecret);
    props.audit.grantAppend(this.slackInteractions.role);
    this.grantTaskCallback(this.slackInteractions.role);

    this.stateMachineLogGroup = new logs.LogGroup(this, 'StateMachineLogs', {
      retention: logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.stateMachineRole = this.executionRole();
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      comment: 'CRM Airlock: human approval of one write, bound to its action hash',
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(this.definition()),
      // The role's grants are exactly the ones `executionRole` writes: the tasks' generated
      // statements (which add `<function arn>:*`) are not wanted.
      role: this.stateMachineRole.withoutPolicyUpdates(),
      tracingEnabled: true,
      logs: {
        destination: this.stateMachineLogGroup,
        // ALL: every transition is logged; without execution data, so no state input or output
        // (action parameters, note bodies, error causes) lands in CloudWatch Logs.
        level: sfn.LogLevel.ALL,
        includeExecutionData: false,
      },
    });
    // Step Functions checks the role's log-delivery rights when it creates the state machine:
    // the role's policy must exist first (the Ref to the role alone does not order the policy).
    this.stateMachine.node.addDependency(this.stateMachineRole);
  }

  /**
   * The environment the validation function needs to hold writes for approval: the table, the
   * state machine, the TTL and the approvals each write action needs.
   */
  public validationEnvironment(): FunctionEnvironment<'lambdas/aws/validation.ts'> {
    return {
      APPROVAL_TABLE_NAME: this.table.tableName,
      STATE_MACHINE_ARN: this.stateMachine.stateMachineArn,
      AIRLOCK_APPROVAL_TTL_SECONDS: String(this.approval.approvalTtlSeconds),
      AIRLOCK_REQUIRED_APPROVALS: JSON.stringify(this.approval.requiredApprovals),
    };
  }

  /**
   * Lets a principal create and follow approvals: put/get/update items, query the table and its
   * two indexes, and start executions of this state machine (no other one, no stop, no
   * callback, no secret).
   */
  public grantStartApproval(grantee: iam.IGrantable): void {
    this.grantItems(grantee, ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'], {
      query: true,
    });
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['states:StartExecution'],
        resources: [this.stateMachine.stateMachineArn],
      }),
    );
  }

  /** ARNs of the table's two indexes, named exactly (no `index/*`). */
  public get indexArns(): string[] {
    return [APPROVAL_TABLE_SCHEMA.byRequestIndex, APPROVAL_TABLE_SCHEMA.byStatusIndex].map(
      (name) => `${this.table.tableArn}/index/${name}`,
    );
  }

  /**
   * Item actions on the table itself, and with `query`, `dynamodb:Query` on the table and its
   * indexes. Not `table.grant*`, which adds batch, scan and describe actions nobody here uses.
   */
  private grantItems(grantee: iam.IGrantable, actions: string[], opts: { query?: boolean } = {}) {
    const principal = grantee.grantPrincipal;
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions, resources: [this.table.tableArn] }),
    );
    if (opts.query) {
      principal.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['dynamodb:Query'],
          resources: [this.table.tableArn, ...this.indexArns],
        }),
      );
    }
  }

  /**
   * `states:SendTaskSuccess` and `states:SendTaskFailure`, in a policy of their own: these
   * actions take a task token, not a resource, so IAM only accepts Resource `*` for them. The
   * acknowledgement sits on this policy alone, not on the role's default policy.
   */
  private grantTaskCallback(role: iam.Role): void {
    const policy = new iam.Policy(this, 'TaskCallbackPolicy', {
      roles: [role],
      statements: [
        new iam.PolicyStatement({
          actions: ['states:SendTaskSuccess', 'states:SendTaskFailure'],
          resources: ['*'],
        }),
      ],
    });
    Validations.of(policy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'states:SendTaskSuccess and states:SendTaskFailure support no resource-level ' +
        'permissions (they are addressed by task token). The policy holds only these two ' +
        "actions (a test asserts it); a token is only known to this stack's approvals table " +
        'and the execution that issued it.',
    });
  }

  private approvalsTable(): dynamodb.Table {
    const table = durableTable(this, 'Table', {
      partitionKey: APPROVAL_TABLE_SCHEMA.partitionKey,
      ttlAttribute: APPROVAL_TABLE_SCHEMA.ttlAttribute,
    });
    table.addGlobalSecondaryIndex({
      indexName: APPROVAL_TABLE_SCHEMA.byRequestIndex,
      partitionKey: { name: 'request_id', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    table.addGlobalSecondaryIndex({
      indexName: APPROVAL_TABLE_SCHEMA.byStatusIndex,
      partitionKey: { name: 'status', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'created_at', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    return table;
  }

  private slackSecret(
    id: string,
    stage: string,
    name: string,
    what: string,
  ): secretsmanager.Secret {
    const secret = new secretsmanager.Secret(this, id, {
      secretName: `crm-airlock/${stage}/${name}`,
      description:
        `CRM Airlock (${stage}): ${what}. Created with a random placeholder; replace it with ` +
        'the value from the Slack app settings (aws secretsmanager put-secret-value).',
    });
    Validations.of(secret).acknowledge({ id: 'AwsSolutions-SMG4', reason: SLACK_ROTATION_REASON });
    return secret;
  }

  /** The state machine's role: invoke the three task functions by exact ARN, logs, X-Ray. */
  private executionRole(): iam.Role {
    const role = new iam.Role(this, 'StateMachineRole', {
      // Only Step Functions acting for this account may assume it (confused-deputy guard).
      assumedBy: new iam.ServicePrincipal('states.amazonaws.com').withConditions({
        StringEquals: { 'aws:SourceAccount': Stack.of(this).account },
      }),
      description: 'CRM Airlock approval state machine: invoke its task functions, logs, X-Ray',
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [this.notify, this.write, this.finish].map((f) => f.function.functionArn),
      }),
    );
    // CloudWatch Logs delivery (vended logs) and X-Ray: the actions Step Functions documents for
    // logging and tracing; none of them supports resource-level permissions.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          'logs:CreateLogDelivery',
          'logs:GetLogDelivery',
          'logs:UpdateLogDelivery',
          'logs:DeleteLogDelivery',
          'logs:ListLogDeliveries',
          'logs:PutResourcePolicy',
          'logs:DescribeResourcePolicies',
          'logs:DescribeLogGroups',
        ],
        resources: ['*'],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          'xray:PutTraceSegments',
          'xray:PutTelemetryRecords',
          'xray:GetSamplingRules',
          'xray:GetSamplingTargets',
        ],
        resources: ['*'],
      }),
    );
    const policy = role.node.tryFindChild('DefaultPolicy');
    if (policy) {
      Validations.of(policy).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Only the CloudWatch Logs delivery actions (vended logs of the state machine) and ' +
          'the X-Ray actions have Resource "*": neither supports resource-level permissions. ' +
          'The Lambda invocations name the three function ARNs exactly; a test asserts both.',
      });
    }
    return role;
  }

  /** The flow of one approval; input `{ approval_id, request_id, action_hash }`. */
  private definition(): sfn.IChainable {
    const S = APPROVAL_STATES;
    const at = sfn.JsonPath.stringAt;
    const approvalId = at('$.approval_id');
    const actionHash = at('$.action_hash');

    const finish = (id: string, payload: Record<string, unknown>) =>
      new tasks.LambdaInvoke(this, id, {
        lambdaFunction: this.finish.function,
        payload: sfn.TaskInput.fromObject({ approval_id: approvalId, ...payload }),
        payloadResponseOnly: true,
        // The finish result is not needed downstream; the state's input passes through.
        resultPath: sfn.JsonPath.DISCARD,
      }).addRetry({
        // The outcome must reach the audit log: a failed Finish (S3, DynamoDB, Slack) runs
        // again, and it audits each outcome once however often it runs.
        errors: ['States.TaskFailed'],
        maxAttempts: 5,
        interval: Duration.seconds(2),
        backoffRate: 2,
      });
    const done = new sfn.Succeed(this, S.done, {
      comment: 'Completed, denied or expired: the outcome is recorded.',
    });
    const aborted = new sfn.Fail(this, S.aborted, {
      error: 'Airlock.ApprovalFailed',
      cause:
        'The approval ended in failure; the outcome is recorded in the approvals table and the ' +
        'audit log.',
    });

    const completed = finish(S.completed, {
      outcome: 'completed',
      note_id: at('$.write.note_id'),
      // The write's whole result (note id and the HubSpot calls it made), for the audit record.
      write: sfn.JsonPath.objectAt('$.write'),
    }).next(done);
    const denied = finish(S.denied, { outcome: 'denied' }).next(done);
    const expired = finish(S.expired, { outcome: 'expired', error: at('$.error') }).next(done);
    const failed = finish(S.failed, { outcome: 'failed', error: at('$.error') }).next(aborted);
    const writeFailed = finish(S.writeFailed, { outcome: 'failed', error: at('$.error') }).next(
      aborted,
    );
    // `Failed` reads `$.error`; a decision that is neither approved nor denied gets one here.
    const unknownDecision = new sfn.Pass(this, S.unknownDecision, {
      result: sfn.Result.fromObject({
        Error: 'Airlock.UnknownDecision',
        Cause: 'The approval callback sent a decision other than approved or denied.',
      }),
      resultPath: '$.error',
    }).next(failed);

    const write = new tasks.LambdaInvoke(this, S.write, {
      lambdaFunction: this.write.function,
      payload: sfn.TaskInput.fromObject({ approval_id: approvalId, action_hash: actionHash }),
      payloadResponseOnly: true,
      resultPath: '$.write',
      retryOnServiceExceptions: false,
    })
      .addRetry({
        errors: [...WRITE_RETRY_ERRORS],
        maxAttempts: 3,
        interval: Duration.seconds(2),
        backoffRate: 2,
      })
      .addCatch(writeFailed, { errors: [sfn.Errors.ALL], resultPath: '$.error' })
      .next(completed);

    const decide = new sfn.Choice(this, S.decide)
      .when(sfn.Condition.stringEquals('$.decision.decision', 'approved'), write)
      .when(sfn.Condition.stringEquals('$.decision.decision', 'denied'), denied)
      .otherwise(unknownDecision);

    const notify = new tasks.LambdaInvoke(this, S.notify, {
      lambdaFunction: this.notify.function,
      integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
      payload: sfn.TaskInput.fromObject({
        approval_id: approvalId,
        action_hash: actionHash,
        task_token: sfn.JsonPath.taskToken,
      }),
      // The approval's expiry: no click within the TTL and the wait ends in States.Timeout.
      taskTimeout: sfn.Timeout.duration(Duration.seconds(this.approval.approvalTtlSeconds)),
      resultPath: '$.decision',
    })
      .addCatch(expired, { errors: [sfn.Errors.TIMEOUT], resultPath: '$.error' })
      // Not pending before it was even posted: the kill switch cancelled it (nothing else
      // decides an approval nobody has seen). A denial, recorded by Finish like any other.
      .addCatch(denied, { errors: ['Airlock.NotPending'], resultPath: '$.error' })
      .addCatch(failed, { errors: [sfn.Errors.ALL], resultPath: '$.error' });

    return notify.next(decide);
  }
}

/** `secretsmanager:GetSecretValue` on exactly one secret; not `grantRead` (adds Describe). */
function grantSecretValue(grantee: iam.IGrantable, secret: secretsmanager.ISecret): void {
  grantee.grantPrincipal.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['secretsmanager:GetSecretValue'],
      resources: [secret.secretArn],
    }),
  );
}

/**
 * The deploy-time kill switch and read-only flags (`-c contained=true`, `-c readOnly=true`) as
 * every function that reads the switch gets them (`controlEnv` in `lambdas/config/aws.ts`).
 */
export function controlEnvironment(control?: {
  contained: boolean;
  readOnly: boolean;
}): FunctionEnvironment<
  | 'lambdas/aws/validation.ts'
  | 'lambdas/aws/hubspot-write.ts'
  | 'lambdas/aws/slack-interactions.ts'
  | 'lambdas/aws/ops.ts'
> {
  return {
    AIRLOCK_CONTAINED: String(control?.contained ?? false),
    AIRLOCK_READ_ONLY: String(control?.readOnly ?? false),
  };
}

/**
 * Defence in depth on a token: the secret's own policy refuses its value to every principal but
 * `reader`, so a broad identity policy elsewhere in the account cannot read it either.
 */
export function denySecretToOthers(secret: secretsmanager.ISecret, reader: iam.IRole): void {
  secret.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'OnlyItsFunctionReadsTheValue',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ['secretsmanager:GetSecretValue'],
      resources: ['*'],
      conditions: { ArnNotEquals: { 'aws:PrincipalArn': reader.roleArn } },
    }),
  );
}
