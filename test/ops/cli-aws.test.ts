import { Readable } from 'node:stream';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { S3AuditArchive } from '../../lambdas/adapters/aws/s3-audit-archive';
import { S3AuditSink } from '../../lambdas/adapters/aws/s3-audit-sink';
import type { AuditRecord } from '../../lambdas/core/audit';
import { digestHours } from '../../lambdas/core/evidence/digest';
import { type Emulator, startEmulator } from '../../lambdas/emulator/server';
import { awsOps } from '../../lambdas/ops/aws-commands';
import { STACK_OUTPUTS } from '../../lambdas/ops/aws-stack';
import { type CliIO, runCli } from '../../lambdas/ops/cli';
import { auditRecord } from '../helpers/audit-records';
import { invokePayload, startS3 } from '../helpers/aws-stand-ins';

const BUCKET = 'airlock-audit';
/** A presigned sts:GetCallerIdentity request, which the ops function sends to STS. */
const PROOF =
  /^https:\/\/sts\.eu-west-1\.amazonaws\.com\/\?(?=.*Action=GetCallerIdentity)(?=.*X-Amz-Signature=[0-9a-f]{64})/;
const OPERATOR = 'arn:aws:sts::123456789012:assumed-role/Responder/alice';
const OUTPUTS: Record<keyof typeof STACK_OUTPUTS, string> = {
  opsFunctionName: 'CrmAirlock-dev-Ops',
  auditBucketName: BUCKET,
  slackInteractionsFunctionName: 'CrmAirlock-dev-Slack',
  alarmPrefix: 'CrmAirlock-dev-',
  hubspotReadSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:read',
  hubspotWriteSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:write',
  slackBotTokenSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:bot',
  slackSigningSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:signing',
};

/** 10:00 UTC on the test's day; the records fall in this hour, verified at 11:20. */
const HOUR = Date.parse('2026-11-28T10:00:00.000Z');
const NOW = HOUR + 80 * 60_000;

function record(minute: number, fields: Partial<AuditRecord>): AuditRecord {
  return auditRecord({
    timestamp: new Date(HOUR + minute * 60_000).toISOString(),
    request_id: `req_${minute}`,
    record_count: 1,
    ...fields,
  });
}

describe('airlock against the deployed stack (AWS SDK clients; S3 over real HTTP)', () => {
  const cfn = mockClient(CloudFormationClient);
  const sts = mockClient(STSClient);
  const lambda = mockClient(LambdaClient);
  const cw = mockClient(CloudWatchClient);
  const secrets = mockClient(SecretsManagerClient);
  let s3: { client: S3Client; close(): Promise<void> };
  let emulator: Emulator;
  let keys: string[];

  beforeAll(async () => {
    s3 = await startS3(BUCKET);
    emulator = await startEmulator({ tokens: {} });
  });
  afterAll(async () => {
    await s3.close();
    await emulator.close();
  });

  beforeEach(async () => {
    for (const m of [cfn, sts, lambda, cw, secrets]) m.reset();
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'CrmAirlock-dev',
          CreationTime: new Date(),
          StackStatus: 'UPDATE_COMPLETE',
          Outputs: Object.entries(STACK_OUTPUTS).map(([k, OutputKey]) => ({
            OutputKey,
            OutputValue: OUTPUTS[k as keyof typeof STACK_OUTPUTS],
          })),
        },
      ],
    });
    sts.on(GetCallerIdentityCommand).resolves({ Arn: OPERATOR });
    // A fresh hour of records and its digest for each test.
    const sink = new S3AuditSink(s3.client, BUCKET);
    const archive = new S3AuditArchive(s3.client, BUCKET);
    for (const key of await archive.list('')) {
      await s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
    }
    await sink.append(record(5, {}));
    await sink.append(record(6, { user_id: 'u-7', record_count: 3 }));
    await sink.append(
      record(25, { outcome: 'rejected', reason: 'prompt_rejected', response_status: 422 }),
    );
    await digestHours(archive, { now: NOW });
    keys = (await archive.list('audit/')).sort();
  });

  async function airlock(args: string[], stdin = ''): Promise<{ code: number; out: string }> {
    let out = '';
    const io: CliIO = {
      out: (s) => {
        out += s;
      },
      err: (s) => {
        out += s;
      },
      stdin: Readable.from([stdin]),
      stdoutIsTTY: false,
      env: {},
      now: () => NOW,
      aws: (options) =>
        awsOps(options, {
          cfn: new CloudFormationClient({}),
          // The CLI presigns GetCallerIdentity with these: a region and credentials of its own.
          sts: new STSClient({
            region: 'eu-west-1',
            credentials: {
              accessKeyId: ['AKIA', 'TESTTESTTESTTEST'].join(''),
              secretAccessKey: 'x'.repeat(40),
            },
          }),
          lambda: new LambdaClient({}),
          cw: new CloudWatchClient({}),
          secrets: new SecretsManagerClient({}),
          s3: s3.client,
        }),
    };
    return { code: await runCli(args, io), out };
  }

  const opsPayloads = () =>
    lambda
      .commandCalls(InvokeCommand)
      .filter((c) => c.args[0].input.FunctionName === OUTPUTS.opsFunctionName)
      .map((c) => JSON.parse(Buffer.from(c.args[0].input.Payload as Uint8Array).toString()));

  it('contain invokes the ops function as the caller’s IAM identity, with the reason', async () => {
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      Payload: invokePayload({
        ok: true,
        request_id: 'ops-1',
        forced: { contained: false, readOnly: false },
        command: 'contain',
        changed: true,
        cancelled: ['apr_1'],
        control: {
          contained: true,
          readOnly: false,
          changedAt: new Date(NOW).toISOString(),
          changedBy: OPERATOR,
        },
      }),
    });

    const r = await airlock(['contain', '--reason', 'drill']);

    expect(r.code).toBe(0);
    expect(opsPayloads()).toEqual([
      { command: 'contain', by: OPERATOR, reason: 'drill', identity: expect.stringMatching(PROOF) },
    ]);
    expect(r.out).toContain(
      'CONTAINED. Every /v1 call answers 401 gateway_contained within 10 seconds',
    );
    expect(r.out).toContain('Cancelled 1 pending write(s): apr_1');
  });

  it('warns when the ops function could not cancel every pending write', async () => {
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      Payload: invokePayload({
        ok: true,
        request_id: 'ops-5',
        forced: { contained: false, readOnly: false },
        command: 'contain',
        changed: true,
        cancelled: [],
        incomplete: true,
        control: { contained: true, readOnly: false },
      }),
    });

    const r = await airlock(['contain']);

    expect(r.code).toBe(0);
    expect(r.out).toContain('WARNING: some pending writes could not be listed or cancelled');
  });

  it('says so, and exits 1, when the ops function refuses', async () => {
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      Payload: invokePayload({
        ok: false,
        request_id: 'ops-2',
        error: { code: 'internal_error', message: 'The command did not complete.' },
      }),
    });

    const r = await airlock(['release']);

    expect(r.code).toBe(1);
    expect(r.out).toContain('The command did not complete.');
  });

  it('status shows the switch, the alarms in ALARM and the last hour counted from the audit log', async () => {
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      Payload: invokePayload({
        ok: true,
        request_id: 'ops-3',
        forced: { contained: false, readOnly: false },
        control: {
          contained: false,
          readOnly: true,
          changedAt: '2026-11-28T09:00:00.000Z',
          changedBy: OPERATOR,
          reason: 'odd notes',
        },
        pending: { count: 0, oldest_created_at: null, approvals: [] },
      }),
    });
    cw.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [
        {
          AlarmName: 'CrmAirlock-dev-ContactReadRate',
          StateValue: 'ALARM',
          StateReason: 'Threshold crossed',
          StateUpdatedTimestamp: new Date(HOUR),
        },
        {
          AlarmName: 'CrmAirlock-dev-Gateway5xx',
          StateValue: 'OK',
          StateReason: '',
          StateUpdatedTimestamp: new Date(HOUR),
        },
      ],
    });

    const r = await airlock(['status', '--json']);
    const text = await airlock(['status']);

    expect(r.code).toBe(0);
    const status = JSON.parse(r.out);
    expect(status.control).toMatchObject({ readOnly: true, reason: 'odd notes' });
    expect(status.alarms.map((a: { state: string }) => a.state)).toEqual(['ALARM', 'OK']);
    // The last hour (10:20 to 11:20) holds the one record from 10:20 on: the refusal.
    expect(status.last_hour).toMatchObject({
      requests: 1,
      rejections: 1,
      rejections_by_reason: { prompt_rejected: 1 },
    });
    expect(text.out).toContain('1 in ALARM: CrmAirlock-dev-ContactReadRate');
    expect(text.out).toContain('Read-only mode     ON');
  });

  it('verifies a clean hour against its digest, then finds a deleted record', async () => {
    const clean = await airlock([
      'verify',
      '--since',
      '2026-11-28T10:00Z',
      '--until',
      '2026-11-28T11:00Z',
    ]);

    expect(clean.code).toBe(0);
    expect(clean.out).toContain('INTEGRITY: OK');
    expect(clean.out).toContain('u-7');

    await s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: keys[1] }));
    const broken = await airlock([
      'verify',
      '--since',
      '2026-11-28T10:00Z',
      '--until',
      '2026-11-28T11:00Z',
      '--json',
    ]);

    expect(broken.code).toBe(1);
    const report = JSON.parse(broken.out);
    expect(report.integrity.problems).toEqual([
      expect.objectContaining({ kind: 'missing', where: keys[1] }),
    ]);
  });

  it('records a refused rotation through the ops function, and stores nothing', async () => {
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      Payload: invokePayload({
        ok: true,
        request_id: 'ops-4',
        forced: { contained: false, readOnly: false },
      }),
    });
    const unknown = ['pat', 'na1', 'ffffffff-0000-4000-8000-000000000000'].join('-');

    const r = await airlock(
      ['rotate', '--which', 'read', '--hubspot-url', emulator.url],
      `${unknown}\n`,
    );

    expect(r.code).toBe(1);
    expect(r.out).not.toContain(unknown);
    expect(secrets.calls()).toHaveLength(0);
    expect(opsPayloads()).toEqual([
      {
        command: 'record_rotation',
        by: OPERATOR,
        identity: expect.stringMatching(PROOF),
        rotation: { which: 'read', ok: false, steps: [{ step: 'check', ok: false }] },
      },
    ]);
  });
});
