import { App, Validations } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { defineAirlockApp } from '../../lib/airlock-app';
import { cdkJsonContext, type Synthesized, synthAirlock } from './helpers';

let dev: Synthesized;
beforeAll(() => {
  dev = synthAirlock();
});

/** Every acknowledgement recorded in the tree: where, which rule, why. */
function acknowledgements(root: IConstruct): { path: string; id: string; reason: unknown }[] {
  return root.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) =>
        Object.entries(m.data as Record<string, unknown>).map(([id, reason]) => ({
          path: c.node.path,
          id: id.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );
}

describe('cdk-nag', () => {
  it.each([
    ['AwsSolutions', () => new AwsSolutionsChecks()],
    ['Serverless', () => new ServerlessChecks()],
  ])('%s reports no unacknowledged finding', (_name, pack) => {
    const report = pack().validateScope(dev.app);
    const findings = report.violations.map(
      (v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('gives every acknowledgement a written reason', () => {
    const acks = acknowledgements(dev.app);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect({ ...ack, reason: typeof ack.reason }).toEqual({ ...ack, reason: 'string' });
      expect((ack.reason as string).length).toBeGreaterThan(60);
    }
  });

  it('acknowledges exactly these findings, each on its narrowest construct (none stack-wide)', () => {
    const s = 'CrmAirlock-dev';
    const listed = acknowledgements(dev.app)
      .map((a) => `${a.path}: ${a.id}`)
      .sort();
    expect(listed).toEqual(
      [
        `${s}/Api/InvokePolicy: AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<ApiRestApiE35FEAFE>/dev/GET/v1/actions/*]`,
        `${s}/Api/RestApi/CloudWatchRole: AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]`,
        `${s}/Api/RestApi/DeploymentStage.dev: AwsSolutions-APIG3`,
        `${s}/Api/RestApi: AwsSolutions-APIG2`,
        `${s}/Api/RestApi/Default/slack/interactions/POST: AwsSolutions-APIG4`,
        `${s}/Api/RestApi/Default/slack/interactions/POST: AwsSolutions-COG4`,
        `${s}/Approval/ApprovalFinish/Function/Resource: Serverless-LambdaAsyncFailureDestination`,
        `${s}/Approval/ApprovalFinish/Function/Resource: Serverless-LambdaDLQ`,
        `${s}/Approval/ApprovalFinish/Role/DefaultPolicy: AwsSolutions-IAM5[Resource::*]`,
        `${s}/Approval/ApprovalFinish/Role/DefaultPolicy: AwsSolutions-IAM5[Resource::<AuditBucket.Arn>/audit/*]`,
        `${s}/Approval/ApprovalNotify/Function/Resource: Serverless-LambdaAsyncFailureDestination`,
        `${s}/Approval/ApprovalNotify/Function/Resource: Serverless-LambdaDLQ`,
        `${s}/Approval/ApprovalNotify/Role/DefaultPolicy: AwsSolutions-IAM5[Resource::*]`,
        `${s}/Approval/HubSpotWrite/Function/Resource: Serverless-LambdaAsyncFailureDestination`,
        `${s}/Approval/HubSpotWrite/Function/Resource: Serverless-LambdaDLQ`,
        `${s}/Approval/HubSpotWrite/Role/DefaultPolicy: AwsSolutions-IAM5[Resource::*]`,
        `${s}/Approval/SlackBotToken: AwsSolutions-SMG4`,
        `${s}/Approval/SlackInteractions/Function/Resource: Serverless-LambdaAsyncFailureDestination`,
        `${s}/Approval/SlackInteractions/Function/Resource: Serverless-LambdaDLQ`,
        `${s}/Approval/SlackInteractions/Role/DefaultPolicy: AwsSolutions-IAM5[Resource::*]`,
        `${s}/Approval/SlackInteractions/Role/DefaultPolicy: AwsSolutions-IAM5[Resource::<AuditBucket.Arn>/audit/*]`,
        `${s}/Approval/SlackSigningSecret: AwsSolutions-SMG4`,
        `${s}/Approval/StateMachineRole/DefaultPolicy: AwsSolutions-IAM5[Resource::*]`,
        `${s}/Approval/TaskCallbackPolicy: AwsSolutions-IAM5[Resource::*]`,
        `${s}/Api/RestApi/Default/v1/actions/POST: AwsSolutions-COG4`,
        `${s}/Api/RestApi/Default/v1/actions/{request_id}/GET: AwsSolutions-COG4`,
        `${s}/Api/RestApi/Default/v1/tools/GET: AwsSolutions-COG4`,
        `${s}/Audit/AccessLogs: AwsSolutions-S1`,
        `${s}/Control/OperatorPolicy: AwsSolutions-IAM5[Resource::<AuditBucket.Arn>/*]`,
        `${s}/Control/OperatorPolicy: AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:CrmAirlock-dev-*]`,
        `${s}/Control/Ops/Function/Resource: Serverless-LambdaAsyncFailureDestination`,
        `${s}/Control/Ops/Function/Resource: Serverless-LambdaDLQ`,
        `${s}/Control/Ops/Role/DefaultPolicy: AwsSolutions-IAM5[Resource::*]`,
        `${s}/Control/Ops/Role/DefaultPolicy: AwsSolutions-IAM5[Resource::<AuditBucket.Arn>/audit/*]`,
        `${s}/Control/TaskCallbackPolicy: AwsSolutions-IAM5[Resource::*]`,
        `${s}/AuditDigest/Function/Function/Resource: Serverless-LambdaAsyncFailureDestination`,
        `${s}/AuditDigest/Function/Function/Resource: Serverless-LambdaDLQ`,
        `${s}/AuditDigest/Function/Role/DefaultPolicy: AwsSolutions-IAM5[Resource::*]`,
        `${s}/AuditDigest/Function/Role/DefaultPolicy: AwsSolutions-IAM5[Resource::<AuditBucket.Arn>/audit/*]`,
        `${s}/AuditDigest/Function/Role/DefaultPolicy: AwsSolutions-IAM5[Resource::<AuditBucket.Arn>/digests/*]`,
        `${s}/AuditDigest/Schedule: Serverless-EventBusDLQ`,
        `${s}/Monitoring/AlarmTopic: AwsSolutions-SNS2`,
        `${s}/Monitoring/ApprovalsWatch/Function/Resource: Serverless-LambdaAsyncFailureDestination`,
        `${s}/Monitoring/ApprovalsWatch/Function/Resource: Serverless-LambdaDLQ`,
        `${s}/Monitoring/ApprovalsWatch/Role/DefaultPolicy: AwsSolutions-IAM5[Resource::*]`,
        `${s}/Monitoring/ApprovalsWatchSchedule: Serverless-EventBusDLQ`,
        `${s}/RateLimits/Table: AwsSolutions-DDB3`,
        `${s}/HubSpotCall/Function/Resource: Serverless-LambdaAsyncFailureDestination`,
        `${s}/HubSpotCall/Function/Resource: Serverless-LambdaDLQ`,
        `${s}/HubSpotCall/Role/DefaultPolicy: AwsSolutions-IAM5[Resource::*]`,
        `${s}/HubSpotSecrets/ReadToken: AwsSolutions-SMG4`,
        `${s}/HubSpotSecrets/WriteToken: AwsSolutions-SMG4`,
        `${s}/Validation/Function/Resource: Serverless-LambdaAsyncFailureDestination`,
        `${s}/Validation/Function/Resource: Serverless-LambdaDLQ`,
        `${s}/Validation/Role/DefaultPolicy: AwsSolutions-IAM5[Resource::*]`,
        `${s}/Validation/Role/DefaultPolicy: AwsSolutions-IAM5[Resource::<AuditBucket.Arn>/audit/*]`,
      ].sort(),
    );
  });

  it('fails synthesis of the app on a new finding, so both packs are registered', () => {
    const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
    const stack = defineAirlockApp(app);
    new s3.Bucket(stack, 'CarelessBucket');
    new lambda.CfnFunction(stack, 'CarelessFunction', {
      role: 'arn:aws:iam::123456789012:role/careless',
      code: { zipFile: 'exports.handler = async () => 1;' },
      handler: 'index.handler',
      runtime: 'nodejs24.x',
    });
    let failure = '';
    try {
      app.synth();
    } catch (err) {
      failure = String(err);
    }
    expect(failure).toContain('AwsSolutions-S1');
    expect(failure).toContain('Serverless-LambdaDefaultMemorySize');
    expect(failure).not.toContain('CrmAirlock-dev/Audit/');
  });
});
