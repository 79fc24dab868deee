/**
 * The hourly audit digests on AWS (lib/audit-digest.ts): the schedule, the function's exact
 * permissions on the audit bucket (list and read audit/ and digests/, create under digests/ only), its
 * environment, its Errors alarm and its stack output.
 */
import { Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import {
  actionCovers,
  actionsOf,
  asArray,
  type CfnResource,
  policiesOfRole,
  referencedIds,
  type Synthesized,
  synthAirlock,
} from './helpers';

let dev: Synthesized;
beforeAll(() => {
  dev = synthAirlock();
});

const logicalId = (c: IConstruct) => Stack.of(c).getLogicalId(c.node.defaultChild as never);
const objectsArn = (prefix: string) => ({
  'Fn::Join': ['', [{ 'Fn::GetAtt': ['AuditBucket', 'Arn'] }, `/${prefix}*`]],
});

describe('the audit digest function', () => {
  const digest = () => dev.stack.auditDigest;

  it('runs every hour at minute 15 on an EventBridge schedule, the only thing allowed to invoke it', () => {
    const fn = logicalId(digest().fn.function);
    const rules = Object.entries(dev.json.Resources).filter(
      ([, r]) => r.Type === 'AWS::Events::Rule' && referencedIds(r.Properties?.Targets).has(fn),
    );
    expect(rules).toHaveLength(1);
    const [[ruleId, rule]] = rules as [[string, CfnResource]];
    expect(rule.Properties).toMatchObject({
      ScheduleExpression: 'cron(15 * * * ? *)',
      State: 'ENABLED',
      Targets: [
        expect.objectContaining({
          Arn: { 'Fn::GetAtt': [fn, 'Arn'] },
          RetryPolicy: { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 2 },
        }),
      ],
    });
    const permissions = Object.values(dev.json.Resources)
      .filter((r) => r.Type === 'AWS::Lambda::Permission')
      .map((r) => r.Properties ?? {})
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

  it('may list (objects and versions) and read under audit/ and digests/, and only create objects under digests/', () => {
    const statements = policiesOfRole(dev.json, logicalId(digest().fn.role))
      .flatMap((p) => p.statements)
      .filter((s) => !actionsOf(s).some((a) => a.startsWith('logs:') || a.startsWith('xray:')));
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        // The versions show a digest hidden behind a delete marker, which a run must not rebuild.
        Action: ['s3:ListBucket', 's3:ListBucketVersions'],
        Resource: { 'Fn::GetAtt': ['AuditBucket', 'Arn'] },
        Condition: { StringLike: { 's3:prefix': ['audit/*', 'digests/*'] } },
      },
      {
        Effect: 'Allow',
        Action: 's3:GetObject',
        Resource: [objectsArn('audit/'), objectsArn('digests/')],
      },
      {
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: objectsArn('digests/'),
        // Only puts carrying If-None-Match: a digest can be created, never replaced.
        Condition: { Null: { 's3:if-none-match': 'false' } },
      },
    ]);
  });

  it('can delete nothing, change no retention, and write no audit record', () => {
    const forbidden = [
      's3:DeleteObject',
      's3:DeleteObjectVersion',
      's3:PutObjectRetention',
      's3:PutObjectLegalHold',
      's3:BypassGovernanceRetention',
      's3:PutBucketPolicy',
      's3:PutLifecycleConfiguration',
    ];
    const statements = policiesOfRole(dev.json, logicalId(digest().fn.role)).flatMap(
      (p) => p.statements,
    );
    expect(statements.length).toBeGreaterThan(0);
    for (const s of statements) {
      for (const pattern of actionsOf(s)) {
        expect({ pattern, covers: forbidden.filter((a) => actionCovers(pattern, a)) }).toEqual({
          pattern,
          covers: [],
        });
        expect(pattern.toLowerCase().startsWith('s3:delete')).toBe(false);
        expect(pattern.toLowerCase().startsWith('kms:')).toBe(false);
      }
      if (actionsOf(s).some((a) => actionCovers(a, 's3:PutObject'))) {
        expect(asArray(s.Resource)).toEqual([objectsArn('digests/')]);
      }
    }
  });

  it('gets the bucket, the two prefixes and the stage, nothing else', () => {
    const fn = logicalId(digest().fn.function);
    expect(dev.json.Resources[fn]?.Properties).toMatchObject({
      Handler: 'index.handler',
      MemorySize: 256,
      Timeout: 300,
      Environment: {
        Variables: {
          AUDIT_BUCKET_NAME: { Ref: 'AuditBucket' },
          AUDIT_PREFIX: 'audit/',
          DIGEST_PREFIX: 'digests/',
          AIRLOCK_STAGE: 'dev',
          NODE_OPTIONS: '--enable-source-maps',
        },
      },
    });
    const environment = dev.json.Resources[fn]?.Properties?.Environment as
      | { Variables: Record<string, unknown> }
      | undefined;
    const env = environment?.Variables ?? {};
    expect(Object.keys(env)).toHaveLength(5);
  });

  it('has an Errors alarm, so a failed run is noticed', () => {
    const fn = logicalId(digest().fn.function);
    const alarms = Object.values(dev.json.Resources)
      .filter((r) => r.Type === 'AWS::CloudWatch::Alarm')
      .map((r) => r.Properties ?? {})
      .filter((a) => referencedIds(a.Dimensions).has(fn));
    expect(alarms).toEqual([
      expect.objectContaining({
        AlarmName: 'CrmAirlock-dev-AuditDigestErrors',
        MetricName: 'Errors',
        Threshold: 0,
      }),
    ]);
  });

  it('names the function in the stack outputs', () => {
    expect(dev.json.Outputs?.AuditDigestFunctionName).toMatchObject({
      Value: { Ref: logicalId(digest().fn.function) },
    });
  });
});
