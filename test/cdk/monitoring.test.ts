/**
 * Watch and limit on AWS (lib/monitoring.ts, lib/rate-limits.ts): the alarms come from the one
 * declaration of the rules, every alarm reaches the topic both ways, the topic takes TLS only,
 * the dashboard shows what the runbook needs, the rate-limit table and its grants, the env
 * contract, and the approvals watch.
 */
import { Stack } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { APPROVAL_TABLE } from '../../lambdas/adapters/aws/dynamo-approval-store';
import { RATE_LIMIT_TABLE } from '../../lambdas/adapters/aws/dynamo-rate-limiter';
import { alarmRules, DEFAULT_THRESHOLDS } from '../../lambdas/core/alarms';
import { NAMESPACE } from '../../lambdas/core/metrics';
import { TOP_READERS_QUERY } from '../../lib/monitoring';
import {
  actionsOf,
  allPolicies,
  type CfnResource,
  type CfnTemplate,
  policiesOfRole,
  referencedIds,
  type Synthesized,
  synthAirlock,
} from './helpers';

let dev: Synthesized;
/** Another stage, another read threshold, and an alarm address: one synthesis for all three. */
let custom: Synthesized;
const CUSTOM = {
  stage: 'qa',
  alarmThresholds: '{"contactReadsPerMinute":50}',
  alarmEmail: 'ops@example.com',
};

beforeAll(() => {
  dev = synthAirlock();
  custom = synthAirlock(CUSTOM);
});

const logicalId = (c: IConstruct) => Stack.of(c).getLogicalId(c.node.defaultChild as never);

/** The environment variables of a function, by logical id. */
const envOf = (s: Synthesized, fn: string): Record<string, unknown> => {
  const env = s.json.Resources[fn]?.Properties?.Environment as
    | { Variables: Record<string, unknown> }
    | undefined;
  if (!env) throw new Error(`no environment on ${fn}`);
  return env.Variables;
};

const resourcesOf = (json: CfnTemplate, type: string): [string, CfnResource][] =>
  Object.entries(json.Resources).filter(([, r]) => r.Type === type);

type AlarmProps = Record<string, unknown>;
const alarms = (json: CfnTemplate): AlarmProps[] =>
  resourcesOf(json, 'AWS::CloudWatch::Alarm').map(([, r]) => r.Properties ?? {});
const alarmNamed = (json: CfnTemplate, name: string): AlarmProps => {
  const found = alarms(json).filter((a) => a.AlarmName === name);
  expect(found).toHaveLength(1);
  return found[0] as AlarmProps;
};

/**
 * The dashboard body as an object: the `Fn::Join` parts joined, each reference replaced by a
 * readable placeholder (`<Ref:Id>`, `<GetAtt:Id.Attr>`), then parsed.
 */
function dashboardBody(json: CfnTemplate): {
  widgets: { type: string; properties: Record<string, unknown> }[];
} {
  const [[, dashboard]] = resourcesOf(json, 'AWS::CloudWatch::Dashboard') as [
    [string, CfnResource],
  ];
  const body = dashboard.Properties?.DashboardBody as { 'Fn::Join': [string, unknown[]] };
  const text = body['Fn::Join'][1]
    .map((part) => {
      if (typeof part === 'string') return part;
      const p = part as { Ref?: string; 'Fn::GetAtt'?: string[] };
      return p.Ref ? `<Ref:${p.Ref}>` : `<GetAtt:${p['Fn::GetAtt']?.join('.')}>`;
    })
    .join('');
  return JSON.parse(text);
}

describe('alarms from the declared rules', () => {
  it.each(alarmRules(DEFAULT_THRESHOLDS).map((r) => [r.id, r] as const))(
    'creates %s exactly as its rule says, on the CrmAirlock metric of this stage',
    (id, rule) => {
      expect(alarmNamed(dev.json, `CrmAirlock-dev-${id}`)).toMatchObject({
        Namespace: NAMESPACE,
        MetricName: rule.metric,
        Dimensions: [{ Name: 'Stage', Value: 'dev' }],
        Statistic: rule.statistic,
        Period: rule.periodSeconds,
        EvaluationPeriods: rule.evaluationPeriods,
        Threshold: rule.threshold,
        ComparisonOperator: rule.comparison,
        TreatMissingData: 'notBreaching',
        AlarmDescription: rule.description,
      });
    },
  );

  it('creates no other alarm on the gateway metrics', () => {
    const ours = alarms(dev.json).filter((a) => a.Namespace === NAMESPACE);
    expect(ours.map((a) => a.AlarmName).sort()).toEqual(
      alarmRules()
        .map((r) => `CrmAirlock-dev-${r.id}`)
        .sort(),
    );
  });

  it('takes the thresholds and the stage from context', () => {
    const rule = alarmRules({ ...DEFAULT_THRESHOLDS, contactReadsPerMinute: 50 }).find(
      (r) => r.id === 'ContactReadRate',
    );
    expect(alarmNamed(custom.json, 'CrmAirlock-qa-ContactReadRate')).toMatchObject({
      MetricName: 'ContactReads',
      Dimensions: [{ Name: 'Stage', Value: 'qa' }],
      Threshold: 50,
      Period: 60,
      AlarmDescription: rule?.description,
    });
    expect(rule?.description).toContain('More than 50 contact records');
    // The other thresholds keep their defaults.
    expect(alarmNamed(custom.json, 'CrmAirlock-qa-ApprovalsPendingTooLong').Threshold).toBe(30);
  });
});

describe('alarms on functions and API', () => {
  it('watches the Errors of every function, the approvals watch included', () => {
    const functions = resourcesOf(dev.json, 'AWS::Lambda::Function').map(([id]) => id);
    // The audit digest and the ops function included.
    expect(functions).toHaveLength(9);
    const errorAlarms = alarms(dev.json).filter((a) => a.Namespace === 'AWS/Lambda');
    expect(errorAlarms).toHaveLength(functions.length);
    for (const fn of functions) {
      const alarm = errorAlarms.find((a) => referencedIds(a.Dimensions).has(fn)) as AlarmProps;
      expect(alarm).toMatchObject({
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: fn } }],
        Statistic: 'Sum',
        Period: 300,
        EvaluationPeriods: 1,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
      });
      // The description names the function and the runbook step.
      expect(JSON.stringify(alarm.AlarmDescription)).toMatch(/The \w+ function failed/);
      expect(JSON.stringify(alarm.AlarmDescription)).toContain('check its logs');
    }
    expect(errorAlarms.map((a) => a.AlarmName).sort()).toEqual(
      [
        'Validation',
        'HubSpotCall',
        'ApprovalNotify',
        'HubSpotWrite',
        'ApprovalFinish',
        'SlackInteractions',
        'ApprovalsWatch',
        'AuditDigest',
        'Ops',
      ]
        .map((f) => `CrmAirlock-dev-${f}Errors`)
        .sort(),
    );
  });

  it("watches the API stage's 5XXError", () => {
    const stage = logicalId(dev.stack.api.api.deploymentStage);
    expect(alarmNamed(dev.json, 'CrmAirlock-dev-Api5xx')).toMatchObject({
      Namespace: 'AWS/ApiGateway',
      MetricName: '5XXError',
      Dimensions: [
        { Name: 'ApiName', Value: dev.stack.api.api.restApiName },
        { Name: 'Stage', Value: { Ref: stage } },
      ],
      Statistic: 'Sum',
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('sends every alarm, and its return to OK, to the alarm topic', () => {
    const topic = logicalId(dev.stack.monitoring.topic);
    const all = alarms(dev.json);
    expect(all).toHaveLength(alarmRules().length + 9 + 1);
    for (const a of all) {
      expect({ name: a.AlarmName, alarm: a.AlarmActions, ok: a.OKActions }).toEqual({
        name: a.AlarmName,
        alarm: [{ Ref: topic }],
        ok: [{ Ref: topic }],
      });
      expect(String(a.AlarmName)).toMatch(/^CrmAirlock-dev-/);
    }
  });
});

describe('alarm topic', () => {
  it('refuses publishing without TLS and lets only this stack’s alarms publish', () => {
    const topic = logicalId(dev.stack.monitoring.topic);
    const policies = allPolicies(dev.json).filter(
      (p) =>
        p.kind === 'resource' && dev.json.Resources[p.logicalId]?.Type === 'AWS::SNS::TopicPolicy',
    );
    expect(policies).toHaveLength(1);
    expect(policies[0]?.statements).toEqual([
      {
        Sid: 'AllowPublishThroughSSLOnly',
        Effect: 'Deny',
        Principal: '*',
        Action: 'sns:Publish',
        Resource: { Ref: topic },
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      },
      {
        // The topic policy replaces SNS's default one: without this, no alarm could publish.
        Sid: 'AlarmsOfThisStackPublish',
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: 'sns:Publish',
        Resource: { Ref: topic },
        Condition: {
          ArnLike: {
            'aws:SourceArn': {
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
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
        },
      },
    ]);
  });

  it('subscribes the alarm address only when alarmEmail is set', () => {
    expect(resourcesOf(dev.json, 'AWS::SNS::Subscription')).toEqual([]);
    const subscriptions = resourcesOf(custom.json, 'AWS::SNS::Subscription');
    expect(subscriptions.map(([, r]) => r.Properties)).toEqual([
      {
        Protocol: 'email',
        Endpoint: 'ops@example.com',
        TopicArn: { Ref: logicalId(custom.stack.monitoring.topic) },
      },
    ]);
  });

  it.each([
    ['AwsSolutions', () => new AwsSolutionsChecks()],
    ['Serverless', () => new ServerlessChecks()],
  ])('leaves no unacknowledged %s finding with an alarm address either', (_name, pack) => {
    const report = pack().validateScope(custom.app);
    expect(report.violations.map((v) => v.ruleName)).toEqual([]);
  });
});

describe('dashboard', () => {
  const metricWidget = (title: string) => {
    const w = dashboardBody(dev.json).widgets.find((x) => x.properties.title === title);
    expect(w).toBeDefined();
    return w?.properties as { metrics: unknown[][]; annotations?: unknown };
  };
  const names = (metrics: unknown[][]) =>
    metrics.map((m) => (typeof m[0] === 'string' ? `${m[0]}/${m[1]}` : JSON.stringify(m[0])));

  it('is named after the stage and opens on the alarm states', () => {
    const [[, d]] = resourcesOf(dev.json, 'AWS::CloudWatch::Dashboard') as [[string, CfnResource]];
    expect(d.Properties?.DashboardName).toBe('CrmAirlock-dev');
    const [first] = dashboardBody(dev.json).widgets;
    expect(first?.type).toBe('alarm');
    expect(first?.properties.alarms).toHaveLength(alarms(dev.json).length);
  });

  it('shows traffic, latency (HubSpot average and p99, API Gateway) and errors', () => {
    expect(names(metricWidget('Traffic (requests per 5 minutes)').metrics)).toContain(
      'CrmAirlock/Requests',
    );
    const latency = metricWidget('Latency (ms)').metrics;
    expect(latency).toContainEqual([
      'CrmAirlock',
      'HubSpotLatency',
      'Stage',
      'dev',
      { label: 'HubSpot, p99', stat: 'p99' },
    ]);
    expect(names(latency)).toContain('AWS/ApiGateway/Latency');
    const errors = names(metricWidget('Errors (per 5 minutes)').metrics);
    expect(errors).toEqual(
      expect.arrayContaining(['CrmAirlock/ServerErrors', 'AWS/ApiGateway/5XXError']),
    );
    expect(errors.filter((n) => n === 'AWS/Lambda/Errors')).toHaveLength(9);
  });

  it('shows contact reads per minute with the alarm threshold as a line', () => {
    const reads = metricWidget('Reads per minute');
    expect(reads.metrics).toContainEqual([
      'CrmAirlock',
      'ContactReads',
      'Stage',
      'dev',
      { label: 'Contact records read', period: 60, stat: 'Sum' },
    ]);
    expect(reads.annotations).toEqual({
      horizontal: [expect.objectContaining({ value: 100, yAxis: 'left' })],
    });
    // The line follows the configured threshold.
    const customReads = dashboardBody(custom.json).widgets.find(
      (w) => w.properties.title === 'Reads per minute',
    )?.properties as { annotations: { horizontal: { value: number }[] } };
    expect(customReads.annotations.horizontal[0]?.value).toBe(50);
  });

  it('shows rejections by reason with a SEARCH over the [Stage, Reason] dimension set', () => {
    expect(metricWidget('Rejections by reason (per 5 minutes)').metrics).toEqual([
      [
        {
          expression: `SEARCH('{CrmAirlock,Stage,Reason} Stage="dev" MetricName="Rejections"', 'Sum', 300)`,
        },
      ],
    ]);
  });

  it('shows approvals requested, approved, denied, expired, pending and the oldest wait', () => {
    expect(names(metricWidget('Approvals').metrics)).toEqual([
      'CrmAirlock/ApprovalsRequested',
      'CrmAirlock/ApprovalsApproved',
      'CrmAirlock/ApprovalsDenied',
      'CrmAirlock/ApprovalsExpired',
      'CrmAirlock/ApprovalsPending',
      'CrmAirlock/OldestPendingMinutes',
    ]);
  });

  it('lists the users with the most records read, from the validation function logs', () => {
    const logs = dashboardBody(dev.json).widgets.filter((w) => w.type === 'log');
    expect(logs).toHaveLength(1);
    const validationLogs = logicalId(dev.stack.validation.logGroup);
    expect(logs[0]?.properties.query).toBe(
      `SOURCE '<Ref:${validationLogs}>' | ${TOP_READERS_QUERY}`,
    );
    expect(TOP_READERS_QUERY).toBe(
      'fields UserId, RecordsReturned | filter ispresent(RecordsReturned) | stats sum(RecordsReturned) as records by UserId | sort records desc | limit 10',
    );
  });
});

describe('rate limits', () => {
  const table = () => logicalId(dev.stack.rateLimits.table);

  it('keeps the counters in a pay-per-request table keyed and expired as the adapter expects', () => {
    const r = dev.json.Resources[table()];
    expect(r?.Properties).toMatchObject({
      KeySchema: [{ AttributeName: RATE_LIMIT_TABLE.partitionKey, KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'key', AttributeType: 'S' }],
      TimeToLiveSpecification: { AttributeName: RATE_LIMIT_TABLE.ttlAttribute, Enabled: true },
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true },
    });
    expect(RATE_LIMIT_TABLE).toEqual({ partitionKey: 'key', ttlAttribute: 'ttl' });
    expect(r?.Properties?.GlobalSecondaryIndexes).toBeUndefined();
    // Ephemeral counters: no point-in-time recovery, deleted with the stack.
    expect(r?.Properties?.PointInTimeRecoverySpecification).toEqual({
      PointInTimeRecoveryEnabled: false,
    });
    expect(r?.DeletionPolicy).toBe('Delete');
  });

  it('lets only the validation function touch it, with UpdateItem and PutItem only', () => {
    const holders = allPolicies(dev.json).filter((p) =>
      p.statements.some((s) => referencedIds(s.Resource).has(table())),
    );
    const validationRole = logicalId(dev.stack.validation.role);
    expect(holders.flatMap((p) => (p.kind === 'identity' ? p.roles : [p.logicalId]))).toEqual([
      validationRole,
    ]);
    const statements = holders.flatMap((p) =>
      p.statements.filter((s) => referencedIds(s.Resource).has(table())),
    );
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Action: ['dynamodb:PutItem', 'dynamodb:UpdateItem'],
        Resource: { 'Fn::GetAtt': [table(), 'Arn'] },
      },
    ]);
  });
});

describe('environment contract', () => {
  it('gives every function the stage as AIRLOCK_STAGE', () => {
    for (const s of [dev, custom]) {
      const stage = s === dev ? 'dev' : 'qa';
      const functions = resourcesOf(s.json, 'AWS::Lambda::Function');
      expect(functions).toHaveLength(9);
      for (const [fn] of functions) {
        expect({ fn, stage: envOf(s, fn).AIRLOCK_STAGE }).toEqual({ fn, stage });
      }
    }
  });

  it('gives the validation function the rate-limit table and the limits from context', () => {
    const limited = envOf(custom, logicalId(custom.stack.validation.function));
    expect(limited).toMatchObject({
      RATE_LIMIT_TABLE_NAME: { Ref: logicalId(custom.stack.rateLimits.table) },
      AIRLOCK_STAGE: 'qa',
      AIRLOCK_READS_PER_MINUTE: '30',
      AIRLOCK_READS_PER_HOUR: '300',
      AIRLOCK_DISTINCT_RECORDS_PER_HOUR: '200',
      AIRLOCK_HUBSPOT_SEARCH_PER_SECOND: '4',
      AIRLOCK_HUBSPOT_CALLS_PER_TEN_SECONDS: '90',
    });
  });
});

describe('approvals watch', () => {
  const watch = () => dev.stack.monitoring.approvalsWatch;

  it('runs every 5 minutes on an EventBridge schedule, the only thing allowed to invoke it', () => {
    const fn = logicalId(watch().function);
    // The rules that target this function (the audit digest has its own schedule).
    const rules = resourcesOf(dev.json, 'AWS::Events::Rule').filter(([, r]) =>
      referencedIds(r.Properties?.Targets).has(fn),
    );
    expect(rules).toHaveLength(1);
    const [[ruleId, rule]] = rules as [[string, CfnResource]];
    expect(rule.Properties).toMatchObject({
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      Targets: [expect.objectContaining({ Arn: { 'Fn::GetAtt': [fn, 'Arn'] } })],
    });
    const permissions = resourcesOf(dev.json, 'AWS::Lambda::Permission')
      .map(([, r]) => r.Properties ?? {})
      .filter((p) => referencedIds(p.FunctionName).has(fn));
    expect(permissions).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [fn, 'Arn'] },
        Principal: 'events.amazonaws.com',
        SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] },
      },
    ]);
  });

  it('may only query the by_status index of the approvals table', () => {
    const statements = policiesOfRole(dev.json, logicalId(watch().role))
      .flatMap((p) => p.statements)
      .filter((s) => !actionsOf(s).some((a) => a.startsWith('logs:') || a.startsWith('xray:')));
    const approvalTable = logicalId(dev.stack.approval.table);
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Action: 'dynamodb:Query',
        Resource: {
          'Fn::Join': [
            '',
            [{ 'Fn::GetAtt': [approvalTable, 'Arn'] }, `/index/${APPROVAL_TABLE.byStatusIndex}`],
          ],
        },
      },
    ]);
  });

  it('gets the approvals table and the stage, nothing else', () => {
    const fn = logicalId(watch().function);
    expect(dev.json.Resources[fn]?.Properties).toMatchObject({
      Handler: 'index.handler',
      MemorySize: 256,
      Timeout: 30,
      Environment: {
        Variables: {
          APPROVAL_TABLE_NAME: { Ref: logicalId(dev.stack.approval.table) },
          AIRLOCK_STAGE: 'dev',
          NODE_OPTIONS: '--enable-source-maps',
        },
      },
    });
    expect(Object.keys(envOf(dev, fn))).toHaveLength(3);
  });
});
