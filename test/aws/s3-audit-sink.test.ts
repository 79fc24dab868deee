import { createHash } from 'node:crypto';
import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { S3AuditSink } from '../../lambdas/adapters/aws/s3-audit-sink';
import type { AuditRecord } from '../../lambdas/core/audit';
import { auditRecord } from '../helpers/audit-records';
import { startS3 } from '../helpers/aws-stand-ins';

function record(requestId: string, timestamp = '2026-11-29T10:15:30.123Z'): AuditRecord {
  return auditRecord({ request_id: requestId, timestamp });
}

describe('the S3 audit sink, against a mocked S3', () => {
  const s3 = mockClient(S3Client);
  beforeEach(() => s3.reset());
  afterAll(() => s3.restore());

  it('puts one object per record with a SHA-256 checksum under the hour prefix', async () => {
    s3.on(PutObjectCommand).resolves({});
    await new S3AuditSink(new S3Client({ region: 'eu-west-1' }), 'audit-bucket').append(
      record('req_abc'),
    );
    const [call] = s3.commandCalls(PutObjectCommand);
    const input = call?.args[0].input;
    expect(input).toMatchObject({
      Bucket: 'audit-bucket',
      ChecksumAlgorithm: 'SHA256',
      ContentType: 'application/json',
      IfNoneMatch: '*',
    });
    expect(input?.Key).toMatch(
      /^audit\/2026\/11\/29\/10\/2026-11-29T101530123Z_req_abc_completed_[0-9a-f]{8}\.json$/,
    );
    expect(JSON.parse(String(input?.Body))).toEqual(record('req_abc'));
  });

  it('fails when S3 refuses, so the gateway withholds the data', async () => {
    s3.on(PutObjectCommand).rejects(new Error('AccessDenied'));
    await expect(
      new S3AuditSink(new S3Client({ region: 'eu-west-1' }), 'audit-bucket').append(
        record('req_x'),
      ),
    ).rejects.toThrow('AccessDenied');
  });
});

describe('the S3 audit sink, against s3rver with the real AWS SDK', () => {
  it('writes records that list by hour and read back intact, with the checksum accepted', async () => {
    const s3 = await startS3('audit-bucket');
    try {
      const sink = new S3AuditSink(s3.client, 'audit-bucket');
      await sink.append(record('req_1'));
      await sink.append(record('req_2'));
      await sink.append(record('req_3', '2026-11-29T11:00:00.000Z'));
      const listed = await s3.client.send(
        new ListObjectsV2Command({ Bucket: 'audit-bucket', Prefix: 'audit/2026/11/29/10/' }),
      );
      const keys = (listed.Contents ?? []).map((o) => o.Key ?? '');
      expect(keys).toHaveLength(2);
      const got = await s3.client.send(
        new GetObjectCommand({ Bucket: 'audit-bucket', Key: keys[0] }),
      );
      const text = (await got.Body?.transformToString()) ?? '';
      expect(JSON.parse(text).request_id).toMatch(/^req_[12]$/);
      expect(createHash('sha256').update(text).digest('hex')).toHaveLength(64);
    } finally {
      await s3.close();
    }
  });
});
