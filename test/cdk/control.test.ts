/**
 * The kill switch at run time on AWS (lib/control.ts): the control table, who may read and who
 * may set it, the ops function's grants, the operators' policy, and the outputs the CLI reads.
 */
import { Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { CONTROL_TABLE } from '../../lambdas/adapters/aws/dynamo-control-state';
import { STACK_OUTPUTS } from '../../lambdas/ops/aws-stack';
import { alarmNamePrefix } from '../../lib/airlock-stack';
import { CONTROL_TABLE_SCHEMA } from '../../lib/control';
import {
  actionsOf,
  allPolicies,
  type CfnTemplate,
  grantsOf as grantsFrom,
  policiesOfRole,
  referencedIds,
  type Synthesized,
  synthAirlock,
} from './helpers';

let dev: Synthesized;
let json: CfnTemplate;
const id = (c: IConstruct) => Stack.of(c).getLogicalId(c.node.defaultChild as never);
let ids: {
  table: string;
  opsFn: string;
  opsRole: string;
  validationRole: string;
  slackRole: string;
  writeRole: string;
  approvalTable: string;
  operatorPolicy: string;
  hubspotCallFn: string;
  slackFn: string;
  secrets: string[];
};

beforeAll(() => {
  dev = synthAirlock();
  json = dev.json;
  const { control, approval } = dev.stack;
  ids = {
    table: id(control.table),
    opsFn: id(control.ops.function),
    opsRole: id(control.ops.role),
    validationRole: id(dev.stack.validation.role),
    slackRole: id(approval.slackInteractions.role),
    writeRole: id(approval.write.role),
    approvalTable: id(approval.table),
    operatorPolicy: Stack.of(control).getLogicalId(
      control.operatorPolicy?.node.defaultChild as never,
    ),
    hubspotCallFn: id(dev.stack.hubspotCall.function),
    slackFn: id(approval.slackInteractions.function),
    secrets: [
      dev.stack.secrets.readToken,
      dev.stack.secrets.writeToken,
      approval.slackBotToken,
      approval.slackSigningSecret,
    ].map((s) => id(s)),
  };
});

const resource = (logicalId: string, template: CfnTemplate = json) => {
  const r = template.Resources[logicalId];
  if (!r) throw new Error(`no resource ${logicalId}`);
  return r;
};
const arnOf = (logicalId: string) => ({ 'Fn::GetAtt': [logicalId, 'Arn'] });
const env = (fn: string, template: CfnTemplate = json) =>
  (resource(fn, template).Properties as { Environment: { Variables: Record<string, unknown> } })
    .Environment.Variables;

const grantsOf = (roleLogicalId: string) => grantsFrom(json, roleLogicalId);

describe('control table', () => {
  it('has the schema the DynamoDB adapter expects: one string key pk', () => {
    expect(CONTROL_TABLE_SCHEMA.partitionKey).toBe(CONTROL_TABLE.partitionKey);
    const p = resource(ids.table).Properties;
    expect(p?.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
    expect(p?.AttributeDefinitions).toEqual([{ AttributeName: 'pk', AttributeType: 'S' }]);
    expect(p?.GlobalSecondaryIndexes).toBeUndefined();
  });

  it('is on demand, point-in-time recoverable, encrypted with the AWS-managed key, and retained', () => {
    const t = resource(ids.table);
    expect(t.Properties?.BillingMode).toBe('PAY_PER_REQUEST');
    expect(t.Properties?.PointInTimeRecoverySpecification).toEqual({
      PointInTimeRecoveryEnabled: true,
    });
    expect(t.Properties?.SSESpecification).toEqual({ SSEEnabled: true });
    expect(t.DeletionPolicy).toBe('Retain');
    expect(t.UpdateReplacePolicy).toBe('Retain');
  });

  it('lets the validation, Slack and write functions only get the item, and only the ops function update it', () => {
    const onTable = allPolicies(json).flatMap((p) =>
      p.statements
        .filter((s) => referencedIds(s.Resource).has(ids.table))
        .map((s) => ({ kind: p.kind, roles: p.roles, actions: actionsOf(s).sort() })),
    );
    expect(onTable).toEqual(
      expect.arrayContaining([
        { kind: 'identity', roles: [ids.validationRole], actions: ['dynamodb:GetItem'] },
        { kind: 'identity', roles: [ids.slackRole], actions: ['dynamodb:GetItem'] },
        { kind: 'identity', roles: [ids.writeRole], actions: ['dynamodb:GetItem'] },
        {
          kind: 'identity',
          roles: [ids.opsRole],
          actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
        },
      ]),
    );
    expect(onTable).toHaveLength(4);
  });

  it('gives each reader the table name in CONTROL_TABLE_NAME, next to the deploy-time override', () => {
    for (const fn of [
      dev.stack.validation.function,
      dev.stack.approval.slackInteractions.function,
      dev.stack.approval.write.function,
      dev.stack.control.ops.function,
    ]) {
      expect(env(id(fn))).toMatchObject({
        CONTROL_TABLE_NAME: { Ref: ids.table },
        AIRLOCK_CONTAINED: 'false',
        AIRLOCK_READ_ONLY: 'false',
      });
    }
  });
});

describe('the validation function', () => {
  it('can neither change the switch nor read any secret', () => {
    const statements = policiesOfRole(json, ids.validationRole).flatMap((p) => p.statements);
    const onControl = statements.filter((s) => referencedIds(s.Resource).has(ids.table));
    expect(onControl.flatMap((s) => actionsOf(s))).toEqual(['dynamodb:GetItem']);
    for (const s of statements) {
      for (const a of actionsOf(s))
        expect(a.toLowerCase().startsWith('secretsmanager:')).toBe(false);
      for (const secret of ids.secrets) expect(referencedIds(s.Resource).has(secret)).toBe(false);
    }
  });
});

describe('the ops function', () => {
  it('may only get/update the switch, get/update approvals, query pending ones, invoke the HubSpot-call function, append audit records and resume an execution', () => {
    // The same two actions on the control and approvals tables: CDK merges them into one statement.
    expect(grantsOf(ids.opsRole)).toEqual([
      {
        Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
        Resource: [arnOf(ids.approvalTable), arnOf(ids.table)],
      },
      {
        Action: ['dynamodb:Query'],
        Resource: { 'Fn::Join': ['', [arnOf(ids.approvalTable), '/index/by_status']] },
      },
      { Action: ['lambda:InvokeFunction'], Resource: arnOf(ids.hubspotCallFn) },
      {
        Action: ['s3:PutObject'],
        Resource: { 'Fn::Join': ['', [arnOf('AuditBucket'), '/audit/*']] },
      },
      { Action: ['states:SendTaskSuccess'], Resource: '*' },
    ]);
  });

  it('has its environment contract: the switch, the override, the approvals, the HubSpot-call function, the audit bucket', () => {
    expect(env(ids.opsFn)).toEqual({
      CONTROL_TABLE_NAME: { Ref: ids.table },
      AIRLOCK_CONTAINED: 'false',
      AIRLOCK_READ_ONLY: 'false',
      APPROVAL_TABLE_NAME: { Ref: ids.approvalTable },
      HUBSPOT_CALL_FUNCTION_NAME: { Ref: ids.hubspotCallFn },
      AUDIT_BUCKET_NAME: { Ref: 'AuditBucket' },
      AUDIT_PREFIX: 'audit/',
      AIRLOCK_STAGE: 'dev',
      NODE_OPTIONS: '--enable-source-maps',
    });
    // Two sweeps of up to 200 pending writes, 11 s apart.
    expect(resource(ids.opsFn).Properties).toMatchObject({ MemorySize: 256, Timeout: 120 });
  });

  it('can be invoked only through the operator policy: no Lambda permission, no other grant', () => {
    const permissions = Object.values(json.Resources).filter(
      (r) =>
        r.Type === 'AWS::Lambda::Permission' &&
        referencedIds(r.Properties?.FunctionName).has(ids.opsFn),
    );
    expect(permissions).toEqual([]);
    const invokers = allPolicies(json).filter((p) =>
      p.statements.some(
        (s) =>
          actionsOf(s).includes('lambda:InvokeFunction') &&
          referencedIds(s.Resource).has(ids.opsFn),
      ),
    );
    expect(invokers.map((p) => p.logicalId)).toEqual([ids.operatorPolicy]);
  });

  it('reports the deploy-time override it cannot release (-c contained=true, -c readOnly=true)', () => {
    const forced = synthAirlock({ contained: 'true', readOnly: 'true' });
    expect(env(id(forced.stack.control.ops.function), forced.json)).toMatchObject({
      AIRLOCK_CONTAINED: 'true',
      AIRLOCK_READ_ONLY: 'true',
    });
  });
});

describe('the operator policy', () => {
  it('grants exactly what the CLI needs, nothing that writes audit records or reads another stack', () => {
    const policy = resource(ids.operatorPolicy);
    expect(policy.Type).toBe('AWS::IAM::ManagedPolicy');
    expect(policy.Properties?.Roles).toBeUndefined();
    const statements = (
      policy.Properties as { PolicyDocument: { Statement: Record<string, unknown>[] } }
    ).PolicyDocument.Statement.map(
      (s): Record<string, unknown> => ({ ...s, Action: [s.Action].flat().sort() }),
    );
    const secretRefs = ids.secrets
      .map((s) => ({ Ref: s }))
      .sort((a, b) => a.Ref.localeCompare(b.Ref));
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Action: ['lambda:InvokeFunction'],
        Resource: expect.arrayContaining([arnOf(ids.opsFn), arnOf(ids.slackFn)]),
      },
      {
        Effect: 'Allow',
        Action: ['s3:ListBucket', 's3:ListBucketVersions'],
        Resource: arnOf('AuditBucket'),
      },
      {
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:GetObjectRetention', 's3:GetObjectVersion'],
        Resource: { 'Fn::Join': ['', [arnOf('AuditBucket'), '/*']] },
      },
      {
        Effect: 'Allow',
        Action: ['cloudwatch:DescribeAlarms'],
        Resource: {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':cloudwatch:',
              { Ref: 'AWS::Region' },
              ':',
              { Ref: 'AWS::AccountId' },
              ':alarm:CrmAirlock-dev-*',
            ],
          ],
        },
      },
      {
        Effect: 'Allow',
        Action: ['secretsmanager:DescribeSecret', 'secretsmanager:PutSecretValue'],
        Resource: secretRefs,
      },
      {
        Effect: 'Allow',
        Action: ['secretsmanager:GetSecretValue'],
        Resource: { Ref: ids.secrets[2] },
      },
      {
        Effect: 'Allow',
        Action: ['cloudformation:DescribeStacks'],
        Resource: { Ref: 'AWS::StackId' },
      },
    ]);
    expect(statements[0]?.Resource).toHaveLength(2);
  });

  it('does not let an operator invoke the HubSpot-call function, which answers CRM records unaudited', () => {
    const invokers = allPolicies(json).filter((p) =>
      p.statements.some(
        (s) =>
          actionsOf(s).includes('lambda:InvokeFunction') &&
          referencedIds(s.Resource).has(ids.hubspotCallFn),
      ),
    );
    expect(invokers.map((p) => p.logicalId)).not.toContain(ids.operatorPolicy);
    // The ops function invokes it for the probe, and the gateway roles that always did.
    expect(invokers.flatMap((p) => p.roles)).toEqual(
      expect.arrayContaining([ids.opsRole, ids.validationRole]),
    );
  });

  it('tells whoever attaches it that it is an approver-level credential', () => {
    const policy = resource(ids.operatorPolicy).Properties as { Description: string };
    expect(policy.Description).toMatch(/Approver-level: it can set the Slack signing secret/);
  });

  it('leaves the HubSpot token secrets refusing their values to everyone but their function', () => {
    for (const secret of ids.secrets.slice(0, 2)) {
      const deny = Object.values(json.Resources).find(
        (r) =>
          r.Type === 'AWS::SecretsManager::ResourcePolicy' &&
          referencedIds(r.Properties?.SecretId).has(secret),
      );
      expect(JSON.stringify(deny?.Properties?.ResourcePolicy)).toContain('"Effect":"Deny"');
    }
  });
});

describe('outputs for the operator CLI', () => {
  it('outputs every value the CLI resolves', () => {
    const outputs = json.Outputs ?? {};
    for (const key of Object.values(STACK_OUTPUTS)) {
      expect({ key, present: key in outputs }).toEqual({ key, present: true });
    }
    expect(outputs.OpsFunctionName?.Value).toEqual({ Ref: ids.opsFn });
    expect(outputs.ControlTableName?.Value).toEqual({ Ref: ids.table });
    expect(outputs.HubSpotCallFunctionName?.Value).toEqual({ Ref: ids.hubspotCallFn });
    expect(outputs.SlackInteractionsFunctionName?.Value).toEqual({ Ref: ids.slackFn });
    expect(outputs.OperatorPolicyArn?.Value).toEqual({ Ref: ids.operatorPolicy });
    expect(outputs.AlarmTopicArn?.Value).toEqual({ Ref: id(dev.stack.monitoring.topic) });
  });

  it("outputs the prefix every one of the stack's alarm names starts with", () => {
    expect(json.Outputs?.AlarmNamePrefix?.Value).toBe('CrmAirlock-dev-');
    expect(alarmNamePrefix('dev')).toBe('CrmAirlock-dev-');
    const names = Object.values(json.Resources)
      .filter((r) => r.Type === 'AWS::CloudWatch::Alarm')
      .map((r) => String(r.Properties?.AlarmName));
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(name.startsWith('CrmAirlock-dev-')).toBe(true);
  });
});
