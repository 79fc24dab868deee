/**
 * The approval flow on AWS (lib/approval-flow.ts): who may invoke the write path, who may read
 * the write token, what the Slack callback may do, and the shape of the state machine.
 */
import { Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { APPROVAL_TABLE } from '../../lambdas/adapters/aws/dynamo-approval-store';
import { APPROVAL_TABLE_SCHEMA, WRITE_RETRY_ERRORS } from '../../lib/approval-flow';
import {
  actionCovers,
  actionsOf,
  allPolicies,
  asArray,
  type CfnTemplate,
  grantsOf as grantsFrom,
  policiesOfRole,
  referencedIds,
  type Statement,
  type Synthesized,
  synthAirlock,
} from './helpers';
import { type AslDefinition, approvalFlowDefinition } from './state-machine-harness';

let dev: Synthesized;
let json: CfnTemplate;
let definition: AslDefinition;
const id = (c: IConstruct) => Stack.of(c).getLogicalId(c.node.defaultChild as never);
let ids: {
  table: string;
  stateMachine: string;
  stateMachineRole: string;
  stateMachineLogs: string;
  notifyFn: string;
  writeFn: string;
  finishFn: string;
  slackFn: string;
  hubspotCallFn: string;
  notifyRole: string;
  writeRole: string;
  finishRole: string;
  slackRole: string;
  validationRole: string;
  writeSecret: string;
  botToken: string;
  signingSecret: string;
  controlTable: string;
  opsRole: string;
};

beforeAll(() => {
  dev = synthAirlock();
  json = dev.json;
  const { approval: flow } = dev.stack;
  ids = {
    table: id(flow.table),
    stateMachine: id(flow.stateMachine),
    stateMachineRole: id(flow.stateMachineRole),
    stateMachineLogs: id(flow.stateMachineLogGroup),
    notifyFn: id(flow.notify.function),
    writeFn: id(flow.write.function),
    finishFn: id(flow.finish.function),
    slackFn: id(flow.slackInteractions.function),
    hubspotCallFn: id(dev.stack.hubspotCall.function),
    notifyRole: id(flow.notify.role),
    writeRole: id(flow.write.role),
    finishRole: id(flow.finish.role),
    slackRole: id(flow.slackInteractions.role),
    validationRole: id(dev.stack.validation.role),
    writeSecret: id(dev.stack.secrets.writeToken),
    botToken: id(flow.slackBotToken),
    signingSecret: id(flow.slackSigningSecret),
    controlTable: id(dev.stack.control.table),
    opsRole: id(dev.stack.control.ops.role),
  };
  definition = approvalFlowDefinition(dev).definition;
});

const resource = (logicalId: string, template: CfnTemplate = json) => {
  const r = template.Resources[logicalId];
  if (!r) throw new Error(`no resource ${logicalId}`);
  return r;
};
/** A resource's property, typed by the caller; throws when the resource does not exist. */
const prop = <T>(logicalId: string, name: string, template: CfnTemplate = json): T =>
  resource(logicalId, template).Properties?.[name] as T;
const arnOf = (logicalId: string) => ({ 'Fn::GetAtt': [logicalId, 'Arn'] });
const AUDIT_OBJECTS = { 'Fn::Join': ['', [arnOf('AuditBucket'), '/audit/*']] };

const grantsOf = (roleLogicalId: string) => grantsFrom(json, roleLogicalId);

/** Every Allow statement in the template that could let its holder call `action` on `target`. */
function holdersOf(action: string, targetLogicalId: string): string[] {
  const holders: string[] = [];
  for (const policy of allPolicies(json)) {
    for (const s of policy.statements.filter((x: Statement) => x.Effect === 'Allow')) {
      if (!actionsOf(s).some((a) => actionCovers(a, action))) continue;
      const resources = asArray(s.Resource);
      if (resources.includes('*') || referencedIds(s.Resource).has(targetLogicalId)) {
        holders.push(
          ...(policy.kind === 'identity' ? policy.roles : [`${policy.kind}:${policy.logicalId}`]),
        );
      }
    }
  }
  return holders;
}

describe('approvals table', () => {
  it('has the schema the DynamoDB adapter expects: approval_id, by_request, by_status, ttl', () => {
    expect(APPROVAL_TABLE_SCHEMA).toEqual(APPROVAL_TABLE);
    const p = resource(ids.table).Properties;
    expect(p?.KeySchema).toEqual([{ AttributeName: 'approval_id', KeyType: 'HASH' }]);
    expect(p?.AttributeDefinitions).toEqual(
      expect.arrayContaining([
        { AttributeName: 'approval_id', AttributeType: 'S' },
        { AttributeName: 'request_id', AttributeType: 'S' },
        { AttributeName: 'status', AttributeType: 'S' },
        { AttributeName: 'created_at', AttributeType: 'S' },
      ]),
    );
    expect(p?.AttributeDefinitions).toHaveLength(4);
    expect(p?.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: 'by_request',
        KeySchema: [{ AttributeName: 'request_id', KeyType: 'HASH' }],
        Projection: { ProjectionType: 'ALL' },
      },
      {
        IndexName: 'by_status',
        KeySchema: [
          { AttributeName: 'status', KeyType: 'HASH' },
          { AttributeName: 'created_at', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ]);
    expect(p?.TimeToLiveSpecification).toEqual({ AttributeName: 'ttl', Enabled: true });
  });

  it('is on demand, point-in-time recoverable, encrypted with the AWS-managed key, and retained', () => {
    const t = resource(ids.table);
    expect(t.Properties?.BillingMode).toBe('PAY_PER_REQUEST');
    expect(t.Properties?.PointInTimeRecoverySpecification).toEqual({
      PointInTimeRecoveryEnabled: true,
    });
    // SSEEnabled without a key id: the `aws/dynamodb` AWS-managed KMS key.
    expect(t.Properties?.SSESpecification).toEqual({ SSEEnabled: true });
    expect(t.DeletionPolicy).toBe('Retain');
    expect(t.UpdateReplacePolicy).toBe('Retain');
  });
});

describe('Slack secrets', () => {
  it('creates the bot token and the signing secret without a value, and outputs them', () => {
    for (const [secret, name, output] of [
      [ids.botToken, 'crm-airlock/dev/slack-bot-token', 'SlackBotTokenSecret'],
      [ids.signingSecret, 'crm-airlock/dev/slack-signing-secret', 'SlackSigningSecret'],
    ] as const) {
      const p = resource(secret).Properties;
      expect(p?.Name).toBe(name);
      expect(p?.SecretString).toBeUndefined();
      expect(p?.GenerateSecretString).toEqual({});
      expect(json.Outputs?.[`${output}Arn`]?.Value).toEqual({ Ref: secret });
      expect(json.Outputs?.[`${output}Name`]?.Value).toBeDefined();
    }
  });

  it.each([
    ['the bot token', () => ids.botToken, () => [ids.notifyRole, ids.finishRole]],
    ['the signing secret', () => ids.signingSecret, () => [ids.slackRole]],
  ])('lets only the functions that need it read %s', (_name, secret, roles) => {
    expect(holdersOf('secretsmanager:GetSecretValue', secret()).sort()).toEqual(roles().sort());
  });
});

describe('the write path', () => {
  it('can be invoked by the state machine role only: no other grant, no Lambda permission', () => {
    expect(holdersOf('lambda:InvokeFunction', ids.writeFn)).toEqual([ids.stateMachineRole]);
    const permissions = Object.values(json.Resources).filter(
      (r) =>
        r.Type === 'AWS::Lambda::Permission' &&
        referencedIds(r.Properties?.FunctionName).has(ids.writeFn),
    );
    expect(permissions).toEqual([]);
    expect(resource(ids.writeFn).Properties?.Policy).toBeUndefined();
  });

  it("lets only the write function's role read the write token, and only its value", () => {
    const holders = allPolicies(json)
      .filter((p) => p.statements.some((s) => referencedIds(s.Resource).has(ids.writeSecret)))
      .flatMap((p) => (p.kind === 'identity' ? p.roles : [`${p.kind}:${p.logicalId}`]));
    expect(holders).toEqual([ids.writeRole]);
    expect(holdersOf('secretsmanager:GetSecretValue', ids.writeSecret)).toEqual([ids.writeRole]);
    const statements = policiesOfRole(json, ids.writeRole)
      .flatMap((p) => p.statements)
      .filter((s) => referencedIds(s.Resource).has(ids.writeSecret));
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: { Ref: ids.writeSecret },
      },
    ]);
  });

  it('gives the write function exactly: the write token, get/update approvals, get the kill switch', () => {
    expect(grantsOf(ids.writeRole)).toEqual([
      { Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], Resource: arnOf(ids.table) },
      { Action: ['secretsmanager:GetSecretValue'], Resource: { Ref: ids.writeSecret } },
      { Action: ['dynamodb:GetItem'], Resource: arnOf(ids.controlTable) },
    ]);
  });
});

describe('the other functions of the flow', () => {
  it('lets the Slack callback only read its signing secret, get/update approvals, get the kill switch, append audit records and send task success or failure', () => {
    expect(grantsOf(ids.slackRole)).toEqual(
      expect.arrayContaining([
        { Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], Resource: arnOf(ids.table) },
        { Action: ['secretsmanager:GetSecretValue'], Resource: { Ref: ids.signingSecret } },
        { Action: ['s3:PutObject'], Resource: AUDIT_OBJECTS },
        { Action: ['dynamodb:GetItem'], Resource: arnOf(ids.controlTable) },
        { Action: ['states:SendTaskFailure', 'states:SendTaskSuccess'], Resource: '*' },
      ]),
    );
    expect(grantsOf(ids.slackRole)).toHaveLength(5);
  });

  it('keeps the task-callback actions in policies of their own: both for the Slack callback, SendTaskSuccess alone for the ops function', () => {
    const callbackStatements = allPolicies(json)
      .flatMap((p) => p.statements.map((s) => ({ p, s })))
      .filter(({ s }) => actionsOf(s).some((a) => a.startsWith('states:SendTask')));
    expect(
      callbackStatements.map(({ p, s }) => ({
        roles: p.roles,
        statements: p.statements.length,
        actions: actionsOf(s).sort(),
        resource: s.Resource,
      })),
    ).toEqual([
      {
        roles: [ids.slackRole],
        statements: 1,
        actions: ['states:SendTaskFailure', 'states:SendTaskSuccess'],
        resource: '*',
      },
      { roles: [ids.opsRole], statements: 1, actions: ['states:SendTaskSuccess'], resource: '*' },
    ]);
  });

  it('lets the notify function get/update approvals, read the bot token and invoke the HubSpot-call function', () => {
    expect(grantsOf(ids.notifyRole)).toEqual([
      { Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], Resource: arnOf(ids.table) },
      { Action: ['secretsmanager:GetSecretValue'], Resource: { Ref: ids.botToken } },
      { Action: ['lambda:InvokeFunction'], Resource: arnOf(ids.hubspotCallFn) },
    ]);
  });

  it('lets the finish function get/update approvals, read the bot token and append audit records', () => {
    expect(grantsOf(ids.finishRole)).toEqual([
      { Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], Resource: arnOf(ids.table) },
      { Action: ['secretsmanager:GetSecretValue'], Resource: { Ref: ids.botToken } },
      { Action: ['s3:PutObject'], Resource: AUDIT_OBJECTS },
    ]);
  });

  it('lets only the validation function start executions, of exactly this state machine', () => {
    expect(holdersOf('states:StartExecution', ids.stateMachine)).toEqual([ids.validationRole]);
    const states = policiesOfRole(json, ids.validationRole)
      .flatMap((p) => p.statements)
      .filter((s) => actionsOf(s).some((a) => a.startsWith('states:')));
    expect(states).toEqual([
      { Effect: 'Allow', Action: 'states:StartExecution', Resource: { Ref: ids.stateMachine } },
    ]);
  });

  it('gives each function its environment contract', () => {
    const env = (fn: string) =>
      prop<{ Variables: Record<string, unknown> }>(fn, 'Environment').Variables;
    // AIRLOCK_STAGE: the `Stage` dimension of the metrics every function emits.
    const common = { AIRLOCK_STAGE: 'dev', NODE_OPTIONS: '--enable-source-maps' };
    expect(env(ids.notifyFn)).toEqual({
      APPROVAL_TABLE_NAME: { Ref: ids.table },
      SLACK_BOT_TOKEN_SECRET_ARN: { Ref: ids.botToken },
      SLACK_CHANNEL_ID: '',
      HUBSPOT_CALL_FUNCTION_NAME: { Ref: ids.hubspotCallFn },
      ...common,
    });
    expect(env(ids.writeFn)).toEqual({
      APPROVAL_TABLE_NAME: { Ref: ids.table },
      HUBSPOT_WRITE_SECRET_ARN: { Ref: ids.writeSecret },
      HUBSPOT_BASE_URL: 'https://api.hubapi.com',
      SECRET_TTL_SECONDS: '60',
      // The kill switch and read-only mode stop writes here too, not only at the validation.
      CONTROL_TABLE_NAME: { Ref: ids.controlTable },
      AIRLOCK_CONTAINED: 'false',
      AIRLOCK_READ_ONLY: 'false',
      ...common,
    });
    expect(env(ids.finishFn)).toEqual({
      APPROVAL_TABLE_NAME: { Ref: ids.table },
      AUDIT_BUCKET_NAME: { Ref: 'AuditBucket' },
      AUDIT_PREFIX: 'audit/',
      SLACK_BOT_TOKEN_SECRET_ARN: { Ref: ids.botToken },
      ...common,
    });
    expect(env(ids.slackFn)).toEqual({
      APPROVAL_TABLE_NAME: { Ref: ids.table },
      SLACK_SIGNING_SECRET_ARN: { Ref: ids.signingSecret },
      SLACK_TEAM_ID: '',
      SLACK_APPROVER_IDS: '',
      AIRLOCK_USER_APPROVERS: '{}',
      AUDIT_BUCKET_NAME: { Ref: 'AuditBucket' },
      AUDIT_PREFIX: 'audit/',
      CONTROL_TABLE_NAME: { Ref: ids.controlTable },
      AIRLOCK_CONTAINED: 'false',
      AIRLOCK_READ_ONLY: 'false',
      ...common,
    });
  });

  it('passes the Slack settings and approval counts from context to the functions', () => {
    const custom = synthAirlock({
      approval: {
        approvalTtlSeconds: 600,
        slackChannelId: 'C0123456789',
        slackTeamId: 'T0123456789',
        approverSlackIds: ['U0123456789', 'U0987654321'],
        requiredApprovals: { create_note: 2 },
        userApprovers: { 'u-42': ['U0123456789'] },
      },
    });
    const { approval: flow, validation } = custom.stack;
    const env = (c: IConstruct) =>
      prop<{ Variables: Record<string, unknown> }>(id(c), 'Environment', custom.json).Variables;
    expect(env(flow.notify.function).SLACK_CHANNEL_ID).toBe('C0123456789');
    expect(env(flow.slackInteractions.function)).toMatchObject({
      SLACK_TEAM_ID: 'T0123456789',
      SLACK_APPROVER_IDS: 'U0123456789,U0987654321',
      AIRLOCK_USER_APPROVERS: '{"u-42":["U0123456789"]}',
    });
    expect(env(validation.function)).toMatchObject({
      AIRLOCK_APPROVAL_TTL_SECONDS: '600',
      AIRLOCK_REQUIRED_APPROVALS: '{"create_note":2}',
      // With Slack configured, writes are served (held for approval).
      AIRLOCK_ALLOWED_ACTIONS:
        'search_contact,search_company,get_last_email_interaction,create_note',
    });
    const notify = approvalFlowDefinition(custom).definition.States.Notify;
    expect(notify?.TimeoutSeconds).toBe(600);
  });
});

describe('state machine', () => {
  it('is a Standard workflow, traced, logging every event without execution data', () => {
    const p = resource(ids.stateMachine).Properties;
    expect(p?.StateMachineType).toBe('STANDARD');
    expect(p?.TracingConfiguration).toEqual({ Enabled: true });
    expect(p?.LoggingConfiguration).toEqual({
      Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: arnOf(ids.stateMachineLogs) } }],
      IncludeExecutionData: false,
      Level: 'ALL',
    });
    const logs = resource(ids.stateMachineLogs);
    expect(logs.Properties?.RetentionInDays).toBe(30);
    expect(logs.DeletionPolicy).toBe('Retain');
  });

  it('runs under a role Step Functions assumes for this account only, created with its policy before it', () => {
    const sm = resource(ids.stateMachine);
    expect(sm.Properties?.RoleArn).toEqual(arnOf(ids.stateMachineRole));
    const trust = allPolicies(json).find(
      (p) => p.kind === 'trust' && p.logicalId === ids.stateMachineRole,
    );
    expect(trust?.statements).toEqual([
      {
        Effect: 'Allow',
        Action: 'sts:AssumeRole',
        Principal: { Service: 'states.amazonaws.com' },
        Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
      },
    ]);
    const policy = policiesOfRole(json, ids.stateMachineRole);
    expect(policy).toHaveLength(1);
    expect(asArray(sm.DependsOn)).toContain(policy[0]?.logicalId);
    expect(resource(ids.stateMachineRole).Properties?.ManagedPolicyArns).toBeUndefined();
  });

  it('lets its role invoke exactly the notify, write and finish functions (no qualifier), plus logs delivery and X-Ray', () => {
    const statements = policiesOfRole(json, ids.stateMachineRole).flatMap((p) => p.statements);
    const invoke = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('lambda:')));
    expect(invoke).toHaveLength(1);
    expect(actionsOf(invoke[0] as Statement)).toEqual(['lambda:InvokeFunction']);
    expect(asArray(invoke[0]?.Resource)).toEqual(
      expect.arrayContaining([arnOf(ids.notifyFn), arnOf(ids.writeFn), arnOf(ids.finishFn)]),
    );
    expect(asArray(invoke[0]?.Resource)).toHaveLength(3);
    for (const s of statements.filter((x) => x !== invoke[0])) {
      expect(s.Resource).toBe('*');
      for (const a of actionsOf(s)) {
        expect(a).toMatch(
          /^(logs:(Create|Get|Update|Delete)LogDelivery|logs:ListLogDeliveries|logs:PutResourcePolicy|logs:DescribeResourcePolicies|logs:DescribeLogGroups|xray:(PutTraceSegments|PutTelemetryRecords|GetSamplingRules|GetSamplingTargets))$/,
        );
      }
    }
  });

  it('waits in Notify for a task token, with the approval TTL as timeout, expiring to Expired, denying what the kill switch cancelled', () => {
    const notify = definition.States.Notify;
    expect(definition.StartAt).toBe('Notify');
    expect(notify?.Resource).toBe('arn:aws:states:::lambda:invoke.waitForTaskToken');
    expect(notify?.TimeoutSeconds).toBe(3600);
    expect(notify?.Parameters).toEqual({
      FunctionName: expect.stringContaining(`:function:${ids.notifyFn}`),
      Payload: {
        'approval_id.$': '$.approval_id',
        'action_hash.$': '$.action_hash',
        'task_token.$': '$$.Task.Token',
      },
    });
    expect(notify?.ResultPath).toBe('$.decision');
    expect(notify?.Next).toBe('Decide');
    expect(notify?.Catch).toEqual([
      { ErrorEquals: ['States.Timeout'], ResultPath: '$.error', Next: 'Expired' },
      { ErrorEquals: ['Airlock.NotPending'], ResultPath: '$.error', Next: 'Denied' },
      { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Failed' },
    ]);
  });

  it('writes only on "approved", with the hash the execution was started with', () => {
    expect(definition.States.Decide).toEqual({
      Type: 'Choice',
      Choices: [
        { Variable: '$.decision.decision', StringEquals: 'approved', Next: 'Write' },
        { Variable: '$.decision.decision', StringEquals: 'denied', Next: 'Denied' },
      ],
      Default: 'UnknownDecision',
    });
    expect(definition.States.UnknownDecision?.Next).toBe('Failed');
    const write = definition.States.Write;
    expect(write?.Resource).toMatch(new RegExp(`:function:${ids.writeFn}$`));
    expect(write?.Parameters).toEqual({
      'approval_id.$': '$.approval_id',
      'action_hash.$': '$.action_hash',
    });
    expect(write?.ResultPath).toBe('$.write');
    expect(write?.Retry).toEqual([
      {
        ErrorEquals: [...WRITE_RETRY_ERRORS],
        IntervalSeconds: 2,
        MaxAttempts: 3,
        BackoffRate: 2,
      },
    ]);
    expect(write?.Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'WriteFailed' },
    ]);
    expect(write?.Next).toBe('Completed');
  });

  it('records every outcome with the finish function, then ends: Succeed, or Fail for failures', () => {
    const finishArn = expect.stringMatching(new RegExp(`:function:${ids.finishFn}$`));
    const ends: Record<string, [Record<string, unknown>, string]> = {
      Completed: [
        { outcome: 'completed', 'note_id.$': '$.write.note_id', 'write.$': '$.write' },
        'Done',
      ],
      Denied: [{ outcome: 'denied' }, 'Done'],
      Expired: [{ outcome: 'expired', 'error.$': '$.error' }, 'Done'],
      Failed: [{ outcome: 'failed', 'error.$': '$.error' }, 'Aborted'],
      WriteFailed: [{ outcome: 'failed', 'error.$': '$.error' }, 'Aborted'],
    };
    for (const [name, [payload, next]] of Object.entries(ends)) {
      const state = definition.States[name];
      expect({ name, resource: state?.Resource }).toEqual({ name, resource: finishArn });
      expect(state?.Parameters).toEqual({ 'approval_id.$': '$.approval_id', ...payload });
      expect(state?.Next).toBe(next);
    }
    expect(definition.States.Done?.Type).toBe('Succeed');
    expect(definition.States.Aborted).toMatchObject({
      Type: 'Fail',
      Error: 'Airlock.ApprovalFailed',
    });
  });
});

describe('Slack route', () => {
  it('is POST /slack/interactions, the only method without IAM authorization, proxied to the Slack function', () => {
    const methods = Object.entries(json.Resources).filter(
      ([, r]) => r.Type === 'AWS::ApiGateway::Method',
    );
    const open = methods.filter(([, m]) => m.Properties?.AuthorizationType !== 'AWS_IAM');
    expect(open).toHaveLength(1);
    const [, method] = open[0] as [string, (typeof methods)[number][1]];
    expect(method.Properties?.AuthorizationType).toBe('NONE');
    expect(method.Properties?.HttpMethod).toBe('POST');
    const [resourceId] = referencedIds(method.Properties?.ResourceId);
    const interactions = resource(String(resourceId));
    expect(interactions.Properties?.PathPart).toBe('interactions');
    const [parentId] = referencedIds(interactions.Properties?.ParentId);
    const slack = resource(String(parentId));
    expect(slack.Properties?.PathPart).toBe('slack');
    expect(slack.Properties?.ParentId).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/^ApiRestApi/), 'RootResourceId'],
    });
    const integration = method.Properties?.Integration as { Type: string; Uri: unknown };
    expect(integration.Type).toBe('AWS_PROXY');
    expect([...referencedIds(integration.Uri)]).toEqual([ids.slackFn]);
  });

  it('outputs the interactivity URL for the Slack app', () => {
    expect(JSON.stringify(json.Outputs?.SlackInteractivityUrl?.Value)).toContain(
      '/slack/interactions',
    );
  });
});
