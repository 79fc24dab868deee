import { Match } from 'aws-cdk-lib/assertions';
import { AUDIT_BUCKET_LOGICAL_ID } from '../../lib/audit-bucket';
import {
  actionCovers,
  actionsOf,
  allPolicies,
  asArray,
  type CfnTemplate,
  logicalIdOf,
  policiesOfRole,
  referencedIds,
  type Synthesized,
  synthAirlock,
} from './helpers';

let dev: Synthesized;
let json: CfnTemplate;
let ids: {
  validationRole: string;
  hubspotCallRole: string;
  validationFunction: string;
  hubspotCallFunction: string;
  readSecret: string;
  writeSecret: string;
  accessLogsBucket: string;
  restApi: string;
  writeRole: string;
  slackFunction: string;
  stateMachine: string;
  table: string;
  rateLimitTable: string;
  controlTable: string;
};

beforeAll(() => {
  dev = synthAirlock();
  json = dev.json;
  ids = {
    validationRole: logicalIdOf(json, 'AWS::IAM::Role', 'ValidationRole'),
    hubspotCallRole: logicalIdOf(json, 'AWS::IAM::Role', 'HubSpotCallRole'),
    validationFunction: logicalIdOf(json, 'AWS::Lambda::Function', 'ValidationFunction'),
    hubspotCallFunction: logicalIdOf(json, 'AWS::Lambda::Function', 'HubSpotCallFunction'),
    readSecret: logicalIdOf(json, 'AWS::SecretsManager::Secret', 'HubSpotSecretsReadToken'),
    writeSecret: logicalIdOf(json, 'AWS::SecretsManager::Secret', 'HubSpotSecretsWriteToken'),
    accessLogsBucket: logicalIdOf(json, 'AWS::S3::Bucket', 'AuditAccessLogs'),
    restApi: logicalIdOf(json, 'AWS::ApiGateway::RestApi', 'ApiRestApi'),
    writeRole: logicalIdOf(json, 'AWS::IAM::Role', 'ApprovalHubSpotWriteRole'),
    slackFunction: logicalIdOf(json, 'AWS::Lambda::Function', 'ApprovalSlackInteractionsFunction'),
    stateMachine: logicalIdOf(json, 'AWS::StepFunctions::StateMachine', 'ApprovalStateMachine'),
    table: logicalIdOf(json, 'AWS::DynamoDB::Table', 'ApprovalTable'),
    rateLimitTable: logicalIdOf(json, 'AWS::DynamoDB::Table', 'RateLimitsTable'),
    controlTable: logicalIdOf(json, 'AWS::DynamoDB::Table', 'ControlTable'),
  };
});

const resource = (logicalId: string) => {
  const r = json.Resources[logicalId];
  if (!r) throw new Error(`no resource ${logicalId}`);
  return r;
};

/** The statements of the bucket policy attached to a bucket. */
const bucketPolicyStatements = (bucketLogicalId: string): unknown[] => {
  const policies = Object.values(json.Resources).filter(
    (r) =>
      r.Type === 'AWS::S3::BucketPolicy' &&
      JSON.stringify(r.Properties?.Bucket) === JSON.stringify({ Ref: bucketLogicalId }),
  );
  expect(policies).toHaveLength(1);
  const doc = policies[0]?.Properties?.PolicyDocument as { Statement: unknown[] } | undefined;
  return asArray(doc?.Statement);
};

/** Versioned, SSE-S3 encrypted, and every kind of public access blocked. */
function expectPrivateEncryptedVersioned(p: Record<string, unknown> | undefined): void {
  expect(p?.VersioningConfiguration).toEqual({ Status: 'Enabled' });
  expect(p?.BucketEncryption).toEqual({
    ServerSideEncryptionConfiguration: [
      { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } },
    ],
  });
  expect(p?.PublicAccessBlockConfiguration).toEqual({
    BlockPublicAcls: true,
    BlockPublicPolicy: true,
    IgnorePublicAcls: true,
    RestrictPublicBuckets: true,
  });
}

describe('audit bucket', () => {
  it('keeps the logical id AuditBucket, so a refactor cannot replace it with an empty bucket', () => {
    expect(AUDIT_BUCKET_LOGICAL_ID).toBe('AuditBucket');
    expect(resource('AuditBucket').Type).toBe('AWS::S3::Bucket');
    expect(resource('AuditBucket').Properties).toHaveProperty('ObjectLockEnabled', true);
  });

  it('locks every record in GOVERNANCE mode for 30 days outside prod', () => {
    expect(resource('AuditBucket').Properties?.ObjectLockConfiguration).toEqual({
      ObjectLockEnabled: 'Enabled',
      Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 30 } },
    });
  });

  it('is versioned, SSE-S3 encrypted and blocks every kind of public access', () => {
    const p = resource('AuditBucket').Properties;
    expectPrivateEncryptedVersioned(p);
    expect(p?.OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
  });

  it('is retained when the stack is deleted or the resource replaced', () => {
    expect(resource('AuditBucket').DeletionPolicy).toBe('Retain');
    expect(resource('AuditBucket').UpdateReplacePolicy).toBe('Retain');
  });

  it('has no lifecycle rule that could expire records', () => {
    expect(resource('AuditBucket').Properties?.LifecycleConfiguration).toBeUndefined();
  });

  it('sends its server access logs to a separate bucket that accepts them from S3 logging', () => {
    expect(resource('AuditBucket').Properties?.LoggingConfiguration).toEqual({
      DestinationBucketName: { Ref: ids.accessLogsBucket },
      LogFilePrefix: 'audit-bucket/',
    });
    const statements = bucketPolicyStatements(ids.accessLogsBucket);
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Allow',
        Principal: { Service: 'logging.s3.amazonaws.com' },
        Action: 's3:PutObject',
        Condition: expect.objectContaining({
          ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': ['AuditBucket', 'Arn'] } },
        }),
      }),
    );
  });

  it('keeps the access-log bucket private, encrypted, versioned, retained and expiring', () => {
    const p = resource(ids.accessLogsBucket).Properties;
    expectPrivateEncryptedVersioned(p);
    expect(p?.ObjectLockEnabled).toBeUndefined();
    expect(resource(ids.accessLogsBucket).DeletionPolicy).toBe('Retain');
    expect(p?.LifecycleConfiguration).toEqual({
      Rules: expect.arrayContaining([
        expect.objectContaining({ Status: 'Enabled', ExpirationInDays: 30 }),
      ]),
    });
  });

  it.each([
    ['the audit bucket', () => 'AuditBucket'],
    ['the access-log bucket', () => ids.accessLogsBucket],
  ])('refuses any request to %s that is not over TLS 1.2+', (_name, bucketId) => {
    const statements = bucketPolicyStatements(bucketId());
    const bucketArn = { 'Fn::GetAtt': [bucketId(), 'Arn'] };
    const bothArns = [bucketArn, { 'Fn::Join': ['', [bucketArn, '/*']] }];
    expect(statements).toContainEqual({
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 's3:*',
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      Resource: bothArns,
    });
    expect(statements).toContainEqual({
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 's3:*',
      Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } },
      Resource: bothArns,
    });
  });
});

describe('IAM: least privilege', () => {
  const forbiddenOnAuditObjects = [
    's3:DeleteObject',
    's3:DeleteObjectVersion',
    's3:DeleteObjectTagging',
    's3:DeleteObjectVersionTagging',
    's3:PutObjectRetention',
    's3:PutObjectLegalHold',
    's3:BypassGovernanceRetention',
    's3:PutBucketObjectLockConfiguration',
    's3:PutLifecycleConfiguration',
    's3:PutBucketPolicy',
    's3:DeleteBucket',
    's3:DeleteBucketPolicy',
    's3:PutBucketVersioning',
  ];

  it('grants nobody a way to delete audit objects or change their retention', () => {
    for (const policy of allPolicies(json)) {
      for (const s of policy.statements.filter((x) => x.Effect === 'Allow')) {
        for (const pattern of actionsOf(s)) {
          const hit = forbiddenOnAuditObjects.find((a) => actionCovers(pattern, a));
          expect({ policy: policy.logicalId, action: pattern, covers: hit }).toEqual({
            policy: policy.logicalId,
            action: pattern,
            covers: undefined,
          });
        }
        expect(s.NotAction).toBeUndefined();
      }
    }
  });

  it('uses no wildcard in any allowed action', () => {
    // The only `s3:*` in the template is in the buckets' TLS-only Deny statements, which take
    // rights away; every Allow names its actions exactly. There are no CDK helper functions
    // (custom resources, log retention) in this stack, so nothing is excluded.
    for (const policy of allPolicies(json)) {
      for (const s of policy.statements.filter((x) => x.Effect === 'Allow')) {
        for (const action of actionsOf(s)) {
          expect({ policy: policy.logicalId, action }).toEqual({
            policy: policy.logicalId,
            action: expect.not.stringContaining('*'),
          });
        }
      }
    }
  });

  it('allows Resource "*" only for actions that have no resource-level permissions', () => {
    // X-Ray (every function and the state machine), CloudWatch Logs delivery (the state
    // machine's vended logs), and the task-token callbacks (the Slack function): none of them
    // can be scoped to a resource. The approval-flow tests pin who holds which.
    const noResourceLevel = new Set([
      'xray:PutTraceSegments',
      'xray:PutTelemetryRecords',
      'xray:GetSamplingRules',
      'xray:GetSamplingTargets',
      'logs:CreateLogDelivery',
      'logs:GetLogDelivery',
      'logs:UpdateLogDelivery',
      'logs:DeleteLogDelivery',
      'logs:ListLogDeliveries',
      'logs:PutResourcePolicy',
      'logs:DescribeResourcePolicies',
      'logs:DescribeLogGroups',
      'states:SendTaskSuccess',
      'states:SendTaskFailure',
    ]);
    let starStatements = 0;
    for (const policy of allPolicies(json).filter((p) => p.kind === 'identity')) {
      for (const s of policy.statements.filter((x) => asArray(x.Resource).includes('*'))) {
        starStatements++;
        for (const action of actionsOf(s)) {
          expect({
            policy: policy.logicalId,
            action,
            allowed: noResourceLevel.has(action),
          }).toEqual({ policy: policy.logicalId, action, allowed: true });
        }
      }
    }
    expect(starStatements).toBeGreaterThan(0);
  });

  it('gives the validation function no access to any secret', () => {
    const policies = policiesOfRole(json, ids.validationRole);
    expect(policies.length).toBeGreaterThan(0);
    for (const policy of policies) {
      for (const s of policy.statements) {
        for (const action of actionsOf(s)) {
          expect(action.toLowerCase().startsWith('secretsmanager:')).toBe(false);
          expect(action).not.toBe('*');
        }
        expect(referencedIds(s.Resource).has(ids.readSecret)).toBe(false);
        expect(referencedIds(s.Resource).has(ids.writeSecret)).toBe(false);
      }
    }
    expect(resource(ids.validationRole).Properties?.ManagedPolicyArns).toBeUndefined();
    expect(resource(ids.validationRole).Properties?.Policies).toBeUndefined();
    // Secret resource policies may only refuse: none grants anything to anyone.
    const secretStatements = Object.values(json.Resources)
      .filter((r) => r.Type === 'AWS::SecretsManager::ResourcePolicy')
      .flatMap(
        (r) =>
          (r.Properties?.ResourcePolicy as { Statement: { Effect: string }[] } | undefined)
            ?.Statement ?? [],
      );
    expect(secretStatements.length).toBeGreaterThan(0);
    expect(secretStatements.every((st) => st.Effect === 'Deny')).toBe(true);
  });

  it('makes each HubSpot token secret refuse its value to everyone but its one function', () => {
    const policyOf = (secretId: string) =>
      Object.values(json.Resources).find(
        (r) =>
          r.Type === 'AWS::SecretsManager::ResourcePolicy' &&
          referencedIds(r.Properties?.SecretId).has(secretId),
      )?.Properties?.ResourcePolicy as { Statement: Record<string, unknown>[] } | undefined;
    const expectOnly = (secretId: string, roleId: string) =>
      expect(policyOf(secretId)?.Statement).toEqual([
        expect.objectContaining({
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 'secretsmanager:GetSecretValue',
          Condition: { ArnNotEquals: { 'aws:PrincipalArn': { 'Fn::GetAtt': [roleId, 'Arn'] } } },
        }),
      ]);
    expectOnly(ids.readSecret, logicalIdOf(json, 'AWS::IAM::Role', 'HubSpotCallRole'));
    expectOnly(ids.writeSecret, logicalIdOf(json, 'AWS::IAM::Role', 'ApprovalHubSpotWriteRole'));
  });

  const auditObjects = (prefix: string) => ({
    'Fn::Join': ['', [{ 'Fn::GetAtt': ['AuditBucket', 'Arn'] }, `/${prefix}*`]],
  });

  it('refuses, for every principal, a put that could overwrite an existing record or digest', () => {
    const statements = bucketPolicyStatements('AuditBucket');
    expect(statements).toContainEqual({
      Sid: 'DenyAuditOverwrite',
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 's3:PutObject',
      Resource: [auditObjects('audit/'), auditObjects('digests/')],
      Condition: { Null: { 's3:if-none-match': 'true' } },
    });
  });

  it('refuses, for every principal, a delete marker over a record or digest, and leaves version deletes to Object Lock', () => {
    const statements = bucketPolicyStatements('AuditBucket');
    expect(statements).toContainEqual({
      Sid: 'DenyAuditDeleteMarker',
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 's3:DeleteObject',
      Resource: [auditObjects('audit/'), auditObjects('digests/')],
    });
    // Deleting a version is what Object Lock refuses until retention ends, and how old records go.
    const denied = (statements as { Effect?: string; Action?: unknown }[])
      .filter((s) => s.Effect === 'Deny')
      .flatMap((s) => asArray(s.Action as string | string[]));
    expect(denied).not.toContain('s3:DeleteObjectVersion');
  });

  it('lets the validation function invoke exactly the HubSpot-call function, put objects under audit/, keep approvals, start the approval flow, count rate limits and read the kill switch', () => {
    const statements = policiesOfRole(json, ids.validationRole).flatMap((p) => p.statements);
    const grants = statements
      .filter((s) => !actionsOf(s).some((a) => a.startsWith('logs:') || a.startsWith('xray:')))
      .map((s) => ({ Action: s.Action, Resource: s.Resource }));
    expect(grants).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        Resource: { 'Fn::GetAtt': [ids.hubspotCallFunction, 'Arn'] },
      },
      {
        Action: 's3:PutObject',
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['AuditBucket', 'Arn'] }, '/audit/*']] },
      },
      {
        Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        Resource: { 'Fn::GetAtt': [ids.table, 'Arn'] },
      },
      {
        Action: 'dynamodb:Query',
        Resource: [
          { 'Fn::GetAtt': [ids.table, 'Arn'] },
          { 'Fn::Join': ['', [{ 'Fn::GetAtt': [ids.table, 'Arn'] }, '/index/by_request']] },
          { 'Fn::Join': ['', [{ 'Fn::GetAtt': [ids.table, 'Arn'] }, '/index/by_status']] },
        ],
      },
      { Action: 'states:StartExecution', Resource: { Ref: ids.stateMachine } },
      {
        Action: ['dynamodb:PutItem', 'dynamodb:UpdateItem'],
        Resource: { 'Fn::GetAtt': [ids.rateLimitTable, 'Arn'] },
      },
      { Action: 'dynamodb:GetItem', Resource: { 'Fn::GetAtt': [ids.controlTable, 'Arn'] } },
    ]);
  });

  it('lets the HubSpot-call function read the read token only, never the write token', () => {
    const statements = policiesOfRole(json, ids.hubspotCallRole).flatMap((p) => p.statements);
    const secretStatements = statements.filter((s) =>
      actionsOf(s).some((a) => a.toLowerCase().startsWith('secretsmanager:')),
    );
    expect(secretStatements).toEqual([
      {
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: { Ref: ids.readSecret },
      },
    ]);
    for (const s of statements) {
      expect(referencedIds(s.Resource).has(ids.writeSecret)).toBe(false);
    }
    const others = statements.filter((s) => !secretStatements.includes(s));
    for (const s of others) {
      for (const a of actionsOf(s))
        expect(a).toMatch(/^(logs:(CreateLogStream|PutLogEvents)|xray:)/);
    }
  });

  it("grants the write token to the approval flow's write function only", () => {
    const holders = allPolicies(json)
      .filter((p) => p.statements.some((s) => referencedIds(s.Resource).has(ids.writeSecret)))
      .flatMap((p) => (p.kind === 'identity' ? p.roles : [`${p.kind}:${p.logicalId}`]));
    expect(holders).toEqual([ids.writeRole]);
  });

  it('lets each function write only to its own log group, with no managed policy', () => {
    const functions = Object.entries(json.Resources).filter(
      ([, r]) => r.Type === 'AWS::Lambda::Function',
    );
    expect(functions).toHaveLength(9);
    for (const [fn, f] of functions) {
      const role = String(referencedIds(f.Properties?.Role).values().next().value);
      const loggingConfig = resource(fn).Properties?.LoggingConfig as
        | { LogGroup: { Ref: string } }
        | undefined;
      const logGroup = loggingConfig?.LogGroup.Ref;
      expect(logGroup).toBeDefined();
      const logStatements = policiesOfRole(json, role)
        .flatMap((p) => p.statements)
        .filter((s) => actionsOf(s).some((a) => a.startsWith('logs:')));
      expect(logStatements).toEqual([
        {
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: { 'Fn::GetAtt': [logGroup, 'Arn'] },
        },
      ]);
      expect(resource(role).Properties?.ManagedPolicyArns).toBeUndefined();
    }
  });
});

describe('secrets', () => {
  it('creates both token secrets without a value in the template', () => {
    for (const [id, name] of [
      [ids.readSecret, 'crm-airlock/dev/hubspot-read-token'],
      [ids.writeSecret, 'crm-airlock/dev/hubspot-write-token'],
    ] as const) {
      const p = resource(id).Properties;
      expect(p?.Name).toBe(name);
      expect(p?.SecretString).toBeUndefined();
      // Created with an empty token: until the real one is stored, the functions answer 503
      // without calling HubSpot (a random placeholder would be sent to HubSpot as a token).
      expect(p?.GenerateSecretString).toEqual({
        SecretStringTemplate: '{"token":""}',
        GenerateStringKey: 'placeholder',
      });
    }
  });
});

describe('functions', () => {
  it('pins runtime, arm64, tracing, memory, timeout and a retained log group on every function', () => {
    const functions = dev.template.findResources('AWS::Lambda::Function');
    expect(Object.keys(functions)).toHaveLength(9);
    for (const fn of Object.values(functions)) {
      const p = fn.Properties;
      expect(p.Runtime).toBe('nodejs24.x');
      expect(p.Architectures).toEqual(['arm64']);
      expect(p.TracingConfig).toEqual({ Mode: 'Active' });
      expect(typeof p.MemorySize).toBe('number');
      expect(typeof p.Timeout).toBe('number');
      expect(p.Environment.Variables.NODE_OPTIONS).toBe('--enable-source-maps');
      const logGroup = resource(p.LoggingConfig.LogGroup.Ref);
      expect(logGroup.Type).toBe('AWS::Logs::LogGroup');
      expect(logGroup.Properties?.RetentionInDays).toBe(30);
    }
  });

  it('sets retention on every log group', () => {
    // Nine functions (the audit digest and the ops function included), the API's access and
    // execution logs, the state machine's logs.
    const groups = Object.values(dev.template.findResources('AWS::Logs::LogGroup'));
    expect(groups.length).toBe(12);
    for (const g of groups) expect(g.Properties.RetentionInDays).toBe(30);
  });

  it('gives the validation function its environment contract and 256 MB / 15 s', () => {
    dev.template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      MemorySize: 256,
      Timeout: 15,
      Environment: {
        Variables: {
          HUBSPOT_CALL_FUNCTION_NAME: { Ref: ids.hubspotCallFunction },
          AUDIT_BUCKET_NAME: { Ref: 'AuditBucket' },
          AUDIT_PREFIX: 'audit/',
          AIRLOCK_PROMPT_POLICY: 'block',
          AIRLOCK_REQUEST_DEADLINE_MS: '8000',
          AIRLOCK_ALLOWED_ACTIONS:
            // Slack is not configured in cdk.json: writes are refused until it is.
            'search_contact,search_company,get_last_email_interaction',
          AIRLOCK_CONTAINED: 'false',
          AIRLOCK_READ_ONLY: 'false',
          APPROVAL_TABLE_NAME: { Ref: ids.table },
          STATE_MACHINE_ARN: { Ref: ids.stateMachine },
          AIRLOCK_APPROVAL_TTL_SECONDS: '3600',
          AIRLOCK_REQUIRED_APPROVALS: '{"create_note":1}',
          RATE_LIMIT_TABLE_NAME: { Ref: ids.rateLimitTable },
          AIRLOCK_STAGE: 'dev',
          AIRLOCK_READS_PER_MINUTE: '30',
          AIRLOCK_READS_PER_HOUR: '300',
          AIRLOCK_DISTINCT_RECORDS_PER_HOUR: '200',
          AIRLOCK_HUBSPOT_SEARCH_PER_SECOND: '4',
          AIRLOCK_HUBSPOT_CALLS_PER_TEN_SECONDS: '90',
          NODE_OPTIONS: '--enable-source-maps',
        },
      },
    });
  });

  it('gives the HubSpot-call function its environment contract and 512 MB / 10 s, and no secret value', () => {
    const p = resource(ids.hubspotCallFunction).Properties as Record<string, unknown>;
    expect(p.MemorySize).toBe(512);
    expect(p.Timeout).toBe(10);
    expect((p.Environment as { Variables: unknown }).Variables).toEqual({
      HUBSPOT_READ_SECRET_ARN: { Ref: ids.readSecret },
      HUBSPOT_BASE_URL: 'https://api.hubapi.com',
      SECRET_TTL_SECONDS: '60',
      AIRLOCK_STAGE: 'dev',
      NODE_OPTIONS: '--enable-source-maps',
    });
  });
});

describe('API', () => {
  const methods = () => Object.values(dev.template.findResources('AWS::ApiGateway::Method'));

  it('requires IAM (SigV4) authorization on every method but the Slack callback', () => {
    const all = methods().filter((m) => m.Properties.HttpMethod !== 'OPTIONS');
    expect(all).toHaveLength(4);
    const open = all.filter((m) => m.Properties.AuthorizationType !== 'AWS_IAM');
    expect(open).toHaveLength(1);
    expect(open[0]?.Properties.AuthorizationType).toBe('NONE');
    expect(referencedIds(open[0]?.Properties.Integration.Uri).has(ids.slackFunction)).toBe(true);
  });

  it('serves exactly the three /v1 routes via the validation function and POST /slack/interactions via the Slack function', () => {
    const paths = Object.entries(json.Resources)
      .filter(([, r]) => r.Type === 'AWS::ApiGateway::Resource')
      .map(([id, r]) => [id, r.Properties?.PathPart] as const);
    // biome-ignore lint/suspicious/noExplicitAny: findResources returns untyped CloudFormation
    const pathOf = (m: { [key: string]: any }) =>
      paths.find(([id]) => id === m.Properties.ResourceId.Ref)?.[1];
    expect(
      methods()
        .map((m) => `${m.Properties.HttpMethod} ${pathOf(m)}`)
        .sort(),
    ).toEqual(['GET tools', 'GET {request_id}', 'POST actions', 'POST interactions']);
    for (const m of methods()) {
      expect(m.Properties.Integration.Type).toBe('AWS_PROXY');
      const target = pathOf(m) === 'interactions' ? ids.slackFunction : ids.validationFunction;
      expect([...referencedIds(m.Properties.Integration.Uri)]).toEqual([target]);
    }
  });

  it('leaves body validation to the audited validation function: no request model or validator at the edge', () => {
    for (const m of methods()) {
      expect(m.Properties.RequestValidatorId).toBeUndefined();
      expect(m.Properties.RequestModels).toBeUndefined();
    }
    expect(Object.keys(dev.template.findResources('AWS::ApiGateway::Model'))).toEqual([]);
  });

  it('throttles the stage, logs JSON access lines, logs errors without data trace, traces with X-Ray', () => {
    const stages = Object.values(dev.template.findResources('AWS::ApiGateway::Stage'));
    expect(stages).toHaveLength(1);
    const p = stages[0]?.Properties;
    expect(p.StageName).toBe('dev');
    expect(p.TracingEnabled).toBe(true);
    expect(p.MethodSettings).toEqual([
      {
        HttpMethod: '*',
        ResourcePath: '/*',
        ThrottlingRateLimit: 20,
        ThrottlingBurstLimit: 40,
        LoggingLevel: 'ERROR',
        DataTraceEnabled: false,
        MetricsEnabled: false,
      },
      {
        HttpMethod: 'POST',
        ResourcePath: '/~1slack~1interactions',
        ThrottlingRateLimit: 5,
        ThrottlingBurstLimit: 10,
        LoggingLevel: 'ERROR',
        DataTraceEnabled: false,
        MetricsEnabled: false,
      },
    ]);
    const format = JSON.parse(p.AccessLogSetting.Format) as Record<string, string>;
    expect(format).toMatchObject({
      requestId: '$context.requestId',
      caller: '$context.identity.caller',
      userArn: '$context.identity.userArn',
      ip: '$context.identity.sourceIp',
      method: '$context.httpMethod',
      path: '$context.path',
      status: '$context.status',
      latency: '$context.responseLatency',
      responseLength: '$context.responseLength',
    });
    expect(referencedIds(p.AccessLogSetting.DestinationArn).size).toBe(1);
    const logGroup = resource([...referencedIds(p.AccessLogSetting.DestinationArn)][0] as string);
    expect(logGroup.Properties?.RetentionInDays).toBe(30);
  });

  it('creates the execution log group with retention before the stage can create it without', () => {
    const [stageId, stage] = Object.entries(json.Resources).find(
      ([, r]) => r.Type === 'AWS::ApiGateway::Stage',
    ) ?? ['', undefined];
    expect(stageId).not.toBe('');
    const execLogs = Object.entries(json.Resources).find(
      ([, r]) =>
        r.Type === 'AWS::Logs::LogGroup' &&
        JSON.stringify(r.Properties?.LogGroupName ?? '').includes('API-Gateway-Execution-Logs_'),
    );
    expect(execLogs?.[1].Properties?.RetentionInDays).toBe(30);
    expect(asArray(stage?.DependsOn)).toContain(execLogs?.[0]);
  });

  it('outputs a managed policy granting execute-api:Invoke on exactly the three /v1 routes', () => {
    const managed = dev.template.findResources('AWS::IAM::ManagedPolicy');
    // The agent's invoke policy, and the operators' policy (pinned in the control tests).
    const invokeId = logicalIdOf(json, 'AWS::IAM::ManagedPolicy', 'ApiInvokePolicy');
    expect(Object.keys(managed).sort()).toEqual(
      [invokeId, logicalIdOf(json, 'AWS::IAM::ManagedPolicy', 'ControlOperatorPolicy')].sort(),
    );
    const policies = [managed[invokeId]];
    const statements = policies[0]?.Properties.PolicyDocument.Statement as {
      Effect: string;
      Action: string;
      Resource: { 'Fn::Join': [string, unknown[]] }[];
    }[];
    expect(statements).toHaveLength(1);
    expect(statements[0]?.Effect).toBe('Allow');
    expect(statements[0]?.Action).toBe('execute-api:Invoke');
    const resources = statements[0]?.Resource ?? [];
    expect(resources).toHaveLength(3);
    const suffixes = resources.map((r) => {
      const parts = r['Fn::Join'][1];
      expect(parts).toContainEqual({ Ref: ids.restApi });
      return parts[parts.length - 1];
    });
    expect(suffixes.sort()).toEqual([
      '/dev/GET/v1/actions/*',
      '/dev/GET/v1/tools',
      '/dev/POST/v1/actions',
    ]);
    expect(json.Outputs?.InvokePolicyArn?.Value).toEqual({ Ref: invokeId });
  });

  it("answers API Gateway's own errors in the gateway's error format, without echoing ARNs", () => {
    const responses = Object.values(dev.template.findResources('AWS::ApiGateway::GatewayResponse'));
    const byType = new Map(responses.map((r) => [r.Properties.ResponseType, r.Properties]));
    expect(byType.get('ACCESS_DENIED')?.StatusCode).toBe('401');
    expect(byType.get('MISSING_AUTHENTICATION_TOKEN')?.StatusCode).toBe('401');
    expect(byType.get('THROTTLED')?.ResponseParameters).toMatchObject({
      'gatewayresponse.header.Retry-After': "'1'",
    });
    for (const r of responses) {
      const template = r.Properties.ResponseTemplates['application/json'] as string;
      const body = JSON.parse(template) as {
        request_id: string;
        error: { code: string; message: string };
      };
      expect(body.request_id).toBe('$context.requestId');
      expect(body.error.code).toMatch(/^[a-z_]+$/);
      expect(template).not.toContain('$context.error');
      expect(template).not.toContain('$context.identity');
    }
  });

  it('gives no Lambda permission to the console test-invoke, which bypasses authorization', () => {
    const permissions = Object.values(
      dev.template.findResources('AWS::Lambda::Permission', {
        Properties: { Principal: 'apigateway.amazonaws.com' },
      }),
    );
    expect(permissions).toHaveLength(4);
    for (const p of permissions) {
      expect(JSON.stringify(p.Properties.SourceArn)).not.toContain('test-invoke-stage');
    }
  });
});

describe('outputs', () => {
  it('outputs the API and Slack URLs, the invoke and operator policies, the secrets, the audit bucket and its digest, the approval flow, the rate-limit and control tables, the functions the operator CLI invokes, the alarm topic, the alarm prefix and the dashboard', () => {
    expect(Object.keys(json.Outputs ?? {}).sort()).toEqual([
      'AlarmNamePrefix',
      'AlarmTopicArn',
      'ApiUrl',
      'ApprovalStateMachineArn',
      'ApprovalTableName',
      'AuditBucketName',
      'AuditDigestFunctionName',
      'ControlTableName',
      'DashboardName',
      'HubSpotCallFunctionName',
      'InvokePolicyArn',
      'OperatorPolicyArn',
      'OpsFunctionName',
      'RateLimitTableName',
      'ReadTokenSecretArn',
      'ReadTokenSecretName',
      'SlackBotTokenSecretArn',
      'SlackBotTokenSecretName',
      'SlackInteractionsFunctionName',
      'SlackInteractivityUrl',
      'SlackSigningSecretArn',
      'SlackSigningSecretName',
      'WriteTokenSecretArn',
      'WriteTokenSecretName',
    ]);
    dev.template.hasOutput('ReadTokenSecretArn', { Value: { Ref: ids.readSecret } });
    dev.template.hasOutput('WriteTokenSecretArn', { Value: { Ref: ids.writeSecret } });
    dev.template.hasOutput('ApiUrl', {
      Value: Match.objectLike({
        'Fn::Join': Match.arrayWith([Match.arrayWith([{ Ref: ids.restApi }])]),
      }),
    });
  });
});

describe('configuration from context', () => {
  it('locks records in COMPLIANCE mode for 365 days and protects the stack in prod', () => {
    const prod = synthAirlock({ stage: 'prod' });
    expect(prod.stack.stackName).toBe('CrmAirlock-prod');
    expect(prod.stack.terminationProtection).toBe(true);
    expect(prod.json.Resources.AuditBucket?.Properties?.ObjectLockConfiguration).toEqual({
      ObjectLockEnabled: 'Enabled',
      Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 365 } },
    });
    prod.template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'crm-airlock/prod/hubspot-read-token',
    });
    // The access log is the only trace of requests API Gateway refuses itself: kept a year too.
    const stage = Object.values(prod.json.Resources).find(
      (r) => r.Type === 'AWS::ApiGateway::Stage',
    );
    const setting = stage?.Properties?.AccessLogSetting as { DestinationArn: unknown } | undefined;
    const accessLogId = [...referencedIds(setting?.DestinationArn)][0] ?? '';
    expect(prod.json.Resources[accessLogId]?.Properties?.RetentionInDays).toBe(365);
  });

  it('contains the gateway with -c contained=true, and turns writes off with -c readOnly=true', () => {
    const contained = synthAirlock({ contained: 'true', readOnly: 'true' });
    contained.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: { AIRLOCK_CONTAINED: 'true', AIRLOCK_READ_ONLY: 'true' } },
    });
  });

  it('takes lock mode, retention and throttling from -c values (strings)', () => {
    const custom = synthAirlock({
      auditLockMode: 'COMPLIANCE',
      auditRetentionDays: '90',
      apiRateLimit: '5',
      apiBurstLimit: '9',
    });
    expect(custom.json.Resources.AuditBucket?.Properties?.ObjectLockConfiguration).toEqual({
      ObjectLockEnabled: 'Enabled',
      Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 90 } },
    });
    custom.template.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: Match.arrayWith([
        Match.objectLike({ HttpMethod: '*', ThrottlingRateLimit: 5, ThrottlingBurstLimit: 9 }),
      ]),
    });
  });
});
