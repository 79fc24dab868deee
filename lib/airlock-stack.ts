import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { SECRET_TTL_SECONDS } from '../lambdas/config/aws';
import { DEFAULT_PROMPT_POLICY, HUBSPOT_API, REQUEST_DEADLINE_MS } from '../lambdas/config/shared';
import { actionNames, enabledActions } from '../lambdas/core/catalog';
import { AirlockApi } from './api';
import { AirlockApprovalFlow, controlEnvironment, denySecretToOthers } from './approval-flow';
import { AUDIT_PREFIX, AuditBucket } from './audit-bucket';
import { AuditDigest } from './audit-digest';
import { type AirlockConfig, LOG_RETENTION_DAYS } from './config';
import { AirlockControl } from './control';
import { AirlockFunction } from './function-factory';
import { HubSpotSecrets } from './hubspot-secrets';
import { AirlockMonitoring } from './monitoring';
import { AirlockRateLimits } from './rate-limits';

/** Actions enabled on AWS: every action of the catalog, the writes held for approval. */
export const ALLOWED_ACTIONS: readonly string[] = actionNames();

/**
 * Writes are served only once Slack is configured (channel, workspace, approvers): without it a
 * write could never be decided, so it is refused at once (403) instead of waiting to expire.
 */
export function allowedActions(approval: AirlockConfig['approval']): string[] {
  const slackReady =
    approval.slackChannelId !== '' &&
    approval.slackTeamId !== '' &&
    approval.approverSlackIds.length > 0;
  return enabledActions(slackReady);
}

export interface AirlockStackProps extends StackProps {
  /**
   * The validated deployment configuration (`configFromContext` in `bin/app.ts`).
   * @default none, required
   */
  readonly config: AirlockConfig;
}

/**
 * CRM Airlock on AWS. This class only wires the constructs together; each concern (audit bucket,
 * secrets, functions, API) keeps its secure defaults and its cdk-nag acknowledgements inside.
 *
 * Who may do what (everything else is denied by default):
 * - the agent backend: execute-api:Invoke on the three `/v1` routes (the `InvokePolicy` output);
 * - Slack: `POST /slack/interactions`, unauthenticated at API Gateway; the function behind it
 *   verifies Slack's HMAC signature and the approver (see {@link AirlockApprovalFlow});
 * - the validation function: invoke the HubSpot-call function, put objects under `audit/`,
 *   create/read/update approvals and start the approval state machine, count in the rate-limit
 *   table (update and put items, nothing else); no secret, no write path, no delete, no
 *   retention change;
 * - the HubSpot-call function: read the read-token secret's value; nothing else;
 * - the approval flow's functions and state machine: as documented on {@link AirlockApprovalFlow}
 *   (only its write function reads the write token, and only its state machine invokes it);
 * - the approvals watch (scheduled, {@link AirlockMonitoring}): query the approvals table's
 *   `by_status` index; nothing else.
 * - the audit digest (scheduled, {@link AuditDigest}): list and read under `audit/` and
 *   `digests/`, create new objects under `digests/` only;
 * - the validation, Slack-callback and write functions: get the kill-switch item from the
 *   control table, nothing else there; the ops function sets it (see {@link AirlockControl});
 * - the operators: what the `OperatorPolicyArn` output grants (the ops function, the rotation
 *   checks, the audit bucket read-only, the alarms, the four secrets, this stack's outputs).
 *
 * Every function gets `AIRLOCK_STAGE`: the `Stage` dimension of the metrics it emits.
 */
export class AirlockStack extends Stack {
  public readonly audit: AuditBucket;
  public readonly secrets: HubSpotSecrets;
  public readonly validation: AirlockFunction;
  public readonly hubspotCall: AirlockFunction;
  public readonly approval: AirlockApprovalFlow;
  public readonly api: AirlockApi;
  public readonly rateLimits: AirlockRateLimits;
  public readonly monitoring: AirlockMonitoring;
  public readonly auditDigest: AuditDigest;
  public readonly control: AirlockControl;

  constructor(scope: Construct, id: string, props: AirlockStackProps) {
    super(scope, id, props);
    const { config } = props;
    const logRetention = config.logRetentionDays as logs.RetentionDays;

    this.audit = new AuditBucket(this, 'Audit', {
      retentionDays: config.auditRetentionDays,
      lockMode: config.auditLockMode,
    });
    this.auditDigest = new AuditDigest(this, 'AuditDigest', {
      audit: this.audit,
      stage: config.stage,
      logRetention,
    });
    this.secrets = new HubSpotSecrets(this, 'HubSpotSecrets', { stage: config.stage });

    this.hubspotCall = new AirlockFunction(this, 'HubSpotCall', {
      entry: 'lambdas/aws/hubspot-call.ts',
      // 512 MB: the HubSpot CRM modules and the TLS handshake to HubSpot make its cold start
      // CPU-bound, and Lambda's CPU share grows with memory; twice 256 MB costs fractions of a
      // cent per thousand calls and shortens the slowest requests.
      memorySize: 512,
      // Above the 8 s request deadline the caller enforces, so a call is always cut by the
      // deadline logic first, never killed mid-way by Lambda.
      timeout: Duration.seconds(10),
      invokedSynchronouslyBy: 'the validation function, RequestResponse',
      logRetention,
      environment: {
        HUBSPOT_READ_SECRET_ARN: this.secrets.readToken.secretArn,
        HUBSPOT_BASE_URL: HUBSPOT_API,
        SECRET_TTL_SECONDS: String(SECRET_TTL_SECONDS.default),
      },
    });
    this.secrets.grantReadTokenValue(this.hubspotCall.role);
    denySecretToOthers(this.secrets.readToken, this.hubspotCall.role);

    this.approval = new AirlockApprovalFlow(this, 'Approval', {
      control: { contained: config.contained, readOnly: config.readOnly },
      stage: config.stage,
      approval: config.approval,
      hubspotCall: this.hubspotCall.function,
      writeToken: this.secrets.writeToken,
      audit: this.audit,
      logRetention,
    });

    this.rateLimits = new AirlockRateLimits(this, 'RateLimits', { limits: config.limits });

    this.validation = new AirlockFunction(this, 'Validation', {
      entry: 'lambdas/aws/validation.ts',
      // 256 MB: JSON parsing, zod and small SDK clients (Lambda, S3, DynamoDB, Step Functions);
      // it mostly waits on them, and waiting is billed by memory.
      memorySize: 256,
      // The request deadline is 8 s; the rest leaves room to write the audit record of a
      // request that ran into the deadline, well inside API Gateway's 29 s integration limit.
      timeout: Duration.seconds(15),
      invokedSynchronouslyBy: 'API Gateway, Lambda proxy integration',
      logRetention,
      environment: {
        HUBSPOT_CALL_FUNCTION_NAME: this.hubspotCall.function.functionName,
        AUDIT_BUCKET_NAME: this.audit.bucket.bucketName,
        AUDIT_PREFIX,
        AIRLOCK_PROMPT_POLICY: DEFAULT_PROMPT_POLICY,
        AIRLOCK_REQUEST_DEADLINE_MS: String(REQUEST_DEADLINE_MS.default),
        AIRLOCK_ALLOWED_ACTIONS: allowedActions(config.approval).join(','),
        ...controlEnvironment(config),
        ...this.approval.validationEnvironment(),
        ...this.rateLimits.validationEnvironment(),
      },
    });
    // Exactly the function's ARN: not `grantInvoke`, which adds `<arn>:*` (every version/alias).
    this.validation.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [this.hubspotCall.function.functionArn],
      }),
    );
    this.audit.grantAppend(this.validation.role);
    this.approval.grantStartApproval(this.validation.role);
    this.rateLimits.grantCount(this.validation.role);

    // The kill switch at run time: the gateway functions read it (cached 5 s), the ops function
    // sets it; `-c contained=true` / `-c readOnly=true` stay as an override it cannot release.
    this.control = new AirlockControl(this, 'Control', {
      approval: this.approval,
      audit: this.audit,
      hubspotCall: this.hubspotCall.function,
      forced: { contained: config.contained, readOnly: config.readOnly },
      logRetention,
    });
    for (const reader of [this.validation, this.approval.slackInteractions, this.approval.write]) {
      this.control.addReader(reader);
    }

    this.api = new AirlockApi(this, 'Api', {
      handler: this.validation.function,
      slackInteractionsHandler: this.approval.slackInteractions.function,
      stageName: config.stage,
      rateLimit: config.apiRateLimit,
      burstLimit: config.apiBurstLimit,
      logRetention,
      // Requests refused by API Gateway itself (unsigned, denied, throttled) never reach the
      // audit log; their only trace is the access log, so it is kept as long as the records.
      accessLogRetention: retentionAtLeast(
        Math.max(config.logRetentionDays, config.auditRetentionDays),
      ),
    });

    const functions = {
      Validation: this.validation,
      HubSpotCall: this.hubspotCall,
      ApprovalNotify: this.approval.notify,
      HubSpotWrite: this.approval.write,
      ApprovalFinish: this.approval.finish,
      SlackInteractions: this.approval.slackInteractions,
      AuditDigest: this.auditDigest.fn,
      Ops: this.control.ops,
    };
    // The `Stage` dimension of every metric a function emits (EMF lines in its log).
    for (const f of Object.values(functions)) {
      f.addEnvironment('AIRLOCK_STAGE', config.stage);
    }

    this.monitoring = new AirlockMonitoring(this, 'Monitoring', {
      stage: config.stage,
      thresholds: config.alarmThresholds,
      ...(config.alarmEmail === undefined ? {} : { alarmEmail: config.alarmEmail }),
      functions,
      apiStage: this.api.api.deploymentStage,
      validationLogGroup: this.validation.logGroup,
      approvalTable: this.approval.table,
      logRetention,
    });

    const operatorPolicy = this.control.addOperatorPolicy({
      slackInteractions: this.approval.slackInteractions.function,
      audit: this.audit,
      secrets: [
        this.secrets.readToken,
        this.secrets.writeToken,
        this.approval.slackBotToken,
        this.approval.slackSigningSecret,
      ],
      slackBotToken: this.approval.slackBotToken,
      alarmPrefix: alarmNamePrefix(config.stage),
    });

    this.outputs();
    this.operatorOutputs(config.stage, operatorPolicy);
  }

  /** What the operator's CLI reads (`lambdas/ops/aws-stack.ts`, `STACK_OUTPUTS`). */
  private operatorOutputs(stage: string, operatorPolicy: iam.ManagedPolicy): void {
    const out = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    out(
      'OpsFunctionName',
      this.control.ops.function.functionName,
      'Function the operator CLI invokes: status, contain, release, read-only on/off',
    );
    out('ControlTableName', this.control.table.tableName, 'DynamoDB table of the kill switch');
    out(
      'HubSpotCallFunctionName',
      this.hubspotCall.function.functionName,
      'HubSpot-call function (the CLI checks a rotated read or write token with it)',
    );
    out(
      'SlackInteractionsFunctionName',
      this.approval.slackInteractions.function.functionName,
      'Slack callback function (the CLI checks a rotated signing secret with it)',
    );
    out('AlarmNamePrefix', alarmNamePrefix(stage), "Prefix of this stack's alarm names");
    out(
      'OperatorPolicyArn',
      operatorPolicy.managedPolicyArn,
      "Managed policy to attach to the operators' role: what npx airlock needs",
    );
  }

  private outputs(): void {
    const out = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    out('ApiUrl', this.api.v1Url, 'Base URL of the /v1 routes (sign requests with SigV4)');
    out(
      'InvokePolicyArn',
      this.api.invokePolicy.managedPolicyArn,
      "Managed policy to attach to the agent backend's role: execute-api:Invoke on the /v1 routes",
    );
    out('ReadTokenSecretArn', this.secrets.readToken.secretArn, 'Secret of the HubSpot read token');
    out('ReadTokenSecretName', this.secrets.readToken.secretName, 'Name of the read-token secret');
    out(
      'WriteTokenSecretArn',
      this.secrets.writeToken.secretArn,
      'Secret of the HubSpot write token',
    );
    out(
      'WriteTokenSecretName',
      this.secrets.writeToken.secretName,
      'Name of the write-token secret',
    );
    out('AuditBucketName', this.audit.bucket.bucketName, 'Object Lock bucket of the audit records');
    out(
      'AuditDigestFunctionName',
      this.auditDigest.fn.function.functionName,
      'Function writing the hourly audit digests (digests/ in the audit bucket)',
    );
    out(
      'SlackInteractivityUrl',
      this.api.slackInteractionsUrl,
      "Request URL for the Slack app's Interactivity & Shortcuts settings",
    );
    const { slackBotToken, slackSigningSecret } = this.approval;
    out('SlackBotTokenSecretArn', slackBotToken.secretArn, 'Secret of the Slack bot token');
    out('SlackBotTokenSecretName', slackBotToken.secretName, 'Name of the Slack bot-token secret');
    out(
      'SlackSigningSecretArn',
      slackSigningSecret.secretArn,
      "Secret of the Slack app's signing secret",
    );
    out(
      'SlackSigningSecretName',
      slackSigningSecret.secretName,
      'Name of the Slack signing-secret secret',
    );
    out('ApprovalTableName', this.approval.table.tableName, 'DynamoDB table of the approvals');
    out(
      'RateLimitTableName',
      this.rateLimits.table.tableName,
      'DynamoDB table of the rate-limit counters',
    );
    out(
      'AlarmTopicArn',
      this.monitoring.topic.topicArn,
      'SNS topic of the alarms (ALARM and OK); subscribe to it, or set -c alarmEmail',
    );
    out(
      'DashboardName',
      this.monitoring.dashboard.dashboardName,
      'CloudWatch dashboard of the gateway',
    );
    out(
      'ApprovalStateMachineArn',
      this.approval.stateMachine.stateMachineArn,
      'Step Functions state machine of the write approvals',
    );
  }
}

/** The prefix {@link AirlockMonitoring} gives every alarm name (a test holds the two together). */
export function alarmNamePrefix(stage: string): string {
  return `CrmAirlock-${stage}-`;
}

/** The shortest retention CloudWatch Logs accepts that is at least `days`. */
export function retentionAtLeast(days: number): logs.RetentionDays {
  const fit = LOG_RETENTION_DAYS.find((d) => d >= days);
  return (fit ?? logs.RetentionDays.INFINITE) as logs.RetentionDays;
}
