import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import {
  alarmStates,
  callerIdentity,
  invokeOps,
  OpsCommandError,
  resolveStack,
  STACK_OUTPUTS,
} from '../../lambdas/ops/aws-stack';
import { invokePayload } from '../helpers/aws-stand-ins';

const REGION = { region: 'eu-west-1' };

/** Every output the CLI reads, as `cdk deploy` would have written it. */
const OUTPUTS = Object.entries(STACK_OUTPUTS).map(([field, key]) => ({
  OutputKey: key,
  OutputValue: `value-of-${field}`,
}));

describe("the CLI's view of the deployed stack", () => {
  const cfn = mockClient(CloudFormationClient);
  const lambda = mockClient(LambdaClient);
  const cw = mockClient(CloudWatchClient);
  const sts = mockClient(STSClient);
  beforeEach(() => {
    cfn.reset();
    lambda.reset();
    cw.reset();
    sts.reset();
  });
  afterAll(() => {
    cfn.restore();
    lambda.restore();
    cw.restore();
    sts.restore();
  });

  describe('resolveStack', () => {
    it('returns the outputs by the names the CLI uses', async () => {
      cfn.on(DescribeStacksCommand, { StackName: 'CrmAirlock-dev' }).resolves({
        Stacks: [
          {
            StackName: 'CrmAirlock-dev',
            StackStatus: 'UPDATE_COMPLETE',
            CreationTime: new Date(),
            Outputs: [...OUTPUTS, { OutputKey: 'ApiUrl', OutputValue: 'https://x' }],
          },
        ],
      });
      const outputs = await resolveStack(new CloudFormationClient(REGION), 'CrmAirlock-dev');
      expect(outputs).toEqual(
        Object.fromEntries(Object.keys(STACK_OUTPUTS).map((f) => [f, `value-of-${f}`])),
      );
      expect(outputs.opsFunctionName).toBe('value-of-opsFunctionName');
      expect(outputs.alarmPrefix).toBe('value-of-alarmPrefix');
    });

    it('names every output an older deployment lacks', async () => {
      cfn.on(DescribeStacksCommand).resolves({
        Stacks: [
          {
            StackName: 'CrmAirlock-dev',
            StackStatus: 'UPDATE_COMPLETE',
            CreationTime: new Date(),
            Outputs: OUTPUTS.filter(
              (o) => o.OutputKey !== 'OpsFunctionName' && o.OutputKey !== 'AlarmNamePrefix',
            ),
          },
        ],
      });
      await expect(
        resolveStack(new CloudFormationClient(REGION), 'CrmAirlock-dev'),
      ).rejects.toThrow('Stack CrmAirlock-dev has no output OpsFunctionName, AlarmNamePrefix');
    });

    it('says which stack was not found, and where to look', async () => {
      cfn.on(DescribeStacksCommand).rejects(
        Object.assign(new Error('Stack with id CrmAirlock-qa does not exist'), {
          name: 'ValidationError',
        }),
      );
      await expect(resolveStack(new CloudFormationClient(REGION), 'CrmAirlock-qa')).rejects.toThrow(
        /Stack CrmAirlock-qa was not found .*--stack and --region/,
      );
    });

    it('passes on any other failure with its name', async () => {
      cfn
        .on(DescribeStacksCommand)
        .rejects(Object.assign(new Error('User is not authorized'), { name: 'AccessDenied' }));
      await expect(
        resolveStack(new CloudFormationClient(REGION), 'CrmAirlock-dev'),
      ).rejects.toThrow(
        'Describing stack CrmAirlock-dev failed: AccessDenied: User is not authorized',
      );
    });
  });

  describe('invokeOps', () => {
    const event = { command: 'contain' as const, by: 'arn:aws:iam::1:user/op', reason: 'leak' };

    it('sends the command as JSON and returns the answer', async () => {
      const answer = {
        ok: true,
        request_id: 'ops-1',
        forced: { contained: false, readOnly: false },
        command: 'contain',
        control: { contained: true, readOnly: false },
        changed: true,
        cancelled: [],
      };
      lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: invokePayload(answer) });
      const result = await invokeOps(new LambdaClient(REGION), 'ops-fn', event);
      expect(result).toEqual(answer);
      const input = lambda.commandCalls(InvokeCommand)[0]?.args[0].input;
      expect(input?.FunctionName).toBe('ops-fn');
      expect(JSON.parse(Buffer.from(input?.Payload as Uint8Array).toString('utf8'))).toEqual(event);
    });

    it('turns a function error into a message with its type and text', async () => {
      lambda.on(InvokeCommand).resolves({
        StatusCode: 200,
        FunctionError: 'Unhandled',
        Payload: invokePayload({
          errorType: 'Error',
          errorMessage: 'Invalid function configuration',
        }),
      });
      await expect(invokeOps(new LambdaClient(REGION), 'ops-fn', event)).rejects.toThrow(
        'The ops function ops-fn failed (Error: Invalid function configuration)',
      );
    });

    it("throws the function's refusal with its code", async () => {
      lambda.on(InvokeCommand).resolves({
        StatusCode: 200,
        Payload: invokePayload({
          ok: false,
          request_id: 'ops-2',
          error: { code: 'validation_failed', message: 'by: too long' },
        }),
      });
      const failure = await invokeOps(new LambdaClient(REGION), 'ops-fn', event).catch(
        (e: unknown) => e,
      );
      expect(failure).toBeInstanceOf(OpsCommandError);
      expect(failure).toMatchObject({
        code: 'validation_failed',
        message: 'by: too long',
        requestId: 'ops-2',
      });
    });

    it('refuses an answer that is not the ops shape', async () => {
      lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: invokePayload([1, 2]) });
      await expect(invokeOps(new LambdaClient(REGION), 'ops-fn', event)).rejects.toThrow(
        'unexpected shape',
      );
    });
  });

  describe('alarmStates', () => {
    it('lists every page of the alarms under the prefix', async () => {
      const since = new Date('2030-01-01T10:00:00.000Z');
      cw.on(DescribeAlarmsCommand, { AlarmNamePrefix: 'CrmAirlock-dev-', NextToken: undefined })
        .resolves({
          MetricAlarms: [
            {
              AlarmName: 'CrmAirlock-dev-ValidationErrors',
              StateValue: 'OK',
              StateReason: 'Threshold Crossed: no datapoints',
              StateUpdatedTimestamp: since,
            },
          ],
          NextToken: 'page-2',
        })
        .on(DescribeAlarmsCommand, { AlarmNamePrefix: 'CrmAirlock-dev-', NextToken: 'page-2' })
        .resolves({
          MetricAlarms: [
            {
              AlarmName: 'CrmAirlock-dev-ContactReadSpike',
              StateValue: 'ALARM',
              StateReason: 'Threshold Crossed: 1 datapoint [250.0] was greater than 200.0',
              StateUpdatedTimestamp: since,
            },
          ],
        });
      const alarms = await alarmStates(new CloudWatchClient(REGION), 'CrmAirlock-dev-');
      expect(alarms).toEqual([
        {
          name: 'CrmAirlock-dev-ValidationErrors',
          state: 'OK',
          reason: 'Threshold Crossed: no datapoints',
          since: '2030-01-01T10:00:00.000Z',
        },
        {
          name: 'CrmAirlock-dev-ContactReadSpike',
          state: 'ALARM',
          reason: 'Threshold Crossed: 1 datapoint [250.0] was greater than 200.0',
          since: '2030-01-01T10:00:00.000Z',
        },
      ]);
      expect(cw.commandCalls(DescribeAlarmsCommand)).toHaveLength(2);
    });
  });

  describe('callerIdentity', () => {
    it("returns the caller's ARN", async () => {
      sts.on(GetCallerIdentityCommand).resolves({
        Arn: 'arn:aws:sts::123456789012:assumed-role/airlock-operator/alice',
        Account: '123456789012',
        UserId: 'AROAEXAMPLE:alice',
      });
      expect(await callerIdentity(new STSClient(REGION))).toBe(
        'arn:aws:sts::123456789012:assumed-role/airlock-operator/alice',
      );
    });

    it('fails when STS names nobody', async () => {
      sts.on(GetCallerIdentityCommand).resolves({});
      await expect(callerIdentity(new STSClient(REGION))).rejects.toThrow('no ARN');
    });
  });
});
