import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  type GetObjectCommandOutput,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { auditArchiveClient, S3AuditArchive } from '../../lambdas/adapters/aws/s3-audit-archive';
import { S3AuditSink } from '../../lambdas/adapters/aws/s3-audit-sink';
import type { AuditRecord } from '../../lambdas/core/audit';
import { digestHours, verifyArchiveWindow } from '../../lambdas/core/evidence/digest';
import { auditRecord } from '../helpers/audit-records';
import { startS3 } from '../helpers/aws-stand-ins';

/** A GetObject body as the SDK returns it; `failWith` stands in for the SDK's checksum check. */
function body(text: string, failWith?: Error): NonNullable<GetObjectCommandOutput['Body']> {
  const bytes = Buffer.from(text);
  return Object.assign(Readable.from([bytes]), {
    transformToByteArray: async () => {
      if (failWith) throw failWith;
      return new Uint8Array(bytes);
    },
    transformToString: async () => text,
    transformToWebStream: () => {
      throw new Error('not used by the archive');
    },
  }) as unknown as NonNullable<GetObjectCommandOutput['Body']>;
}

const s3Error = (name: string, status: number) =>
  new S3ServiceException({
    name,
    $fault: 'client',
    $metadata: { httpStatusCode: status },
    message: `${name} (stand-in)`,
  });

describe('the S3 audit archive, against a mocked S3', () => {
  const s3 = mockClient(S3Client);
  const archive = () => new S3AuditArchive(new S3Client({ region: 'eu-west-1' }), 'audit-bucket');
  beforeEach(() => s3.reset());
  afterAll(() => s3.restore());

  it('lists every key under a prefix across pages, sorted', async () => {
    s3.on(ListObjectsV2Command)
      .resolvesOnce({
        Contents: [{ Key: 'audit/2026/03/02/09/b.json' }, { Key: 'audit/2026/03/02/09/c.json' }],
        IsTruncated: true,
        NextContinuationToken: 'page-2',
      })
      .resolvesOnce({ Contents: [{ Key: 'audit/2026/03/02/09/a.json' }], IsTruncated: false });

    const keys = await archive().list('audit/2026/03/02/09/');

    expect(keys).toEqual([
      'audit/2026/03/02/09/a.json',
      'audit/2026/03/02/09/b.json',
      'audit/2026/03/02/09/c.json',
    ]);
    const inputs = s3.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input);
    expect(inputs).toEqual([
      { Bucket: 'audit-bucket', Prefix: 'audit/2026/03/02/09/', ContinuationToken: undefined },
      { Bucket: 'audit-bucket', Prefix: 'audit/2026/03/02/09/', ContinuationToken: 'page-2' },
    ]);
  });

  it('lists every version and delete marker under a prefix across pages, each key newest first', async () => {
    const k = (name: string) => `audit/2026/03/02/09/${name}.json`;
    s3.on(ListObjectVersionsCommand)
      .resolvesOnce({
        Versions: [
          {
            Key: k('a'),
            VersionId: 'a-2',
            IsLatest: false,
            LastModified: new Date('2026-03-02T10:40:00Z'),
          },
          {
            Key: k('a'),
            VersionId: 'a-1',
            IsLatest: false,
            LastModified: new Date('2026-03-02T09:05:00Z'),
          },
        ],
        DeleteMarkers: [
          {
            Key: k('a'),
            VersionId: 'a-marker',
            IsLatest: true,
            LastModified: new Date('2026-03-02T10:41:00Z'),
          },
        ],
        IsTruncated: true,
        NextKeyMarker: k('a'),
        NextVersionIdMarker: 'a-1',
      })
      .resolvesOnce({
        Versions: [
          {
            Key: k('b'),
            VersionId: 'b-1',
            IsLatest: true,
            LastModified: new Date('2026-03-02T09:50:00Z'),
          },
        ],
        IsTruncated: false,
      });

    const versions = await archive().listVersions('audit/2026/03/02/09/');

    expect(versions).toEqual([
      {
        key: k('a'),
        versionId: 'a-marker',
        isLatest: true,
        deleteMarker: true,
        lastModified: '2026-03-02T10:41:00.000Z',
      },
      {
        key: k('a'),
        versionId: 'a-2',
        isLatest: false,
        deleteMarker: false,
        lastModified: '2026-03-02T10:40:00.000Z',
      },
      {
        key: k('a'),
        versionId: 'a-1',
        isLatest: false,
        deleteMarker: false,
        lastModified: '2026-03-02T09:05:00.000Z',
      },
      {
        key: k('b'),
        versionId: 'b-1',
        isLatest: true,
        deleteMarker: false,
        lastModified: '2026-03-02T09:50:00.000Z',
      },
    ]);
    const inputs = s3.commandCalls(ListObjectVersionsCommand).map((c) => c.args[0].input);
    expect(inputs).toEqual([
      {
        Bucket: 'audit-bucket',
        Prefix: 'audit/2026/03/02/09/',
        KeyMarker: undefined,
        VersionIdMarker: undefined,
      },
      {
        Bucket: 'audit-bucket',
        Prefix: 'audit/2026/03/02/09/',
        KeyMarker: k('a'),
        VersionIdMarker: 'a-1',
      },
    ]);
  });

  it('says a store without a version listing (HTTP 405 or 501) has none, and throws any other failure', async () => {
    s3.on(ListObjectVersionsCommand)
      .rejectsOnce(s3Error('MethodNotAllowed', 405))
      .rejectsOnce(s3Error('NotImplemented', 501))
      .rejectsOnce(s3Error('AccessDenied', 403));

    await expect(archive().listVersions('audit/')).rejects.toMatchObject({
      code: 'method_not_allowed',
    });
    await expect(archive().listVersions('audit/')).rejects.toMatchObject({
      code: 'method_not_allowed',
    });
    await expect(archive().listVersions('audit/')).rejects.toThrow('AccessDenied');
  });

  it('finds, through the verifier, a record S3 lists only behind a delete marker', async () => {
    const key = 'audit/2026/03/02/09/2026-03-02T090500000Z_req_1_completed_0a1b2c3d.json';
    const recordText = JSON.stringify(record('req_1', '2026-03-02T09:05:00.000Z'));
    const digestText = JSON.stringify({
      format: 'crm-airlock-digest/1',
      hour_start: '2026-03-02T09:00:00.000Z',
      hour_end: '2026-03-02T10:00:00.000Z',
      prefix: 'audit/2026/03/02/09/',
      created_at: '2026-03-02T10:15:00.000Z',
      objects: [
        {
          key,
          sha256: createHash('sha256').update(recordText).digest('hex'),
          bytes: recordText.length,
        },
      ],
      previous: null,
    });
    s3.on(ListObjectsV2Command).resolves({ Contents: [] });
    s3.on(ListObjectsV2Command, { Prefix: 'digests/2026/03/02/' }).resolves({
      Contents: [{ Key: 'digests/2026/03/02/09.json' }],
    });
    s3.on(GetObjectCommand, { Key: 'digests/2026/03/02/09.json' }).resolves({
      Body: body(digestText),
    });
    s3.on(ListObjectVersionsCommand).resolves({});
    s3.on(ListObjectVersionsCommand, { Prefix: 'audit/2026/03/02/09/' }).resolves({
      Versions: [{ Key: key, VersionId: 'v-locked', IsLatest: false }],
      DeleteMarkers: [{ Key: key, VersionId: 'v-marker', IsLatest: true }],
    });

    const { integrity } = await verifyArchiveWindow(archive(), {
      since: '2026-03-02T09:00:00.000Z',
      until: '2026-03-02T10:00:00.000Z',
      now: Date.parse('2026-03-02T10:20:00.000Z'),
    });

    expect(integrity.problems).toEqual([
      expect.objectContaining({
        kind: 'missing',
        where: key,
        request_id: 'req_1',
        detail: expect.stringContaining(
          'hidden behind a delete marker (v-marker); the locked version is still there: versionId v-locked',
        ),
      }),
    ]);
  });

  it('reads an object with its bytes, version, base64 checksum and Object Lock retention', async () => {
    const text = '{"request_id":"req_1"}';
    const checksum = createHash('sha256').update(text).digest('base64');
    s3.on(GetObjectCommand).resolves({
      Body: body(text),
      VersionId: 'v-1',
      ChecksumSHA256: checksum,
      ObjectLockMode: 'COMPLIANCE',
      ObjectLockRetainUntilDate: new Date('2027-03-02T00:00:00.000Z'),
    });

    const object = await archive().get('audit/k.json');

    expect(object).toEqual({
      key: 'audit/k.json',
      body: Buffer.from(text),
      versionId: 'v-1',
      checksumSha256: checksum,
      lockMode: 'COMPLIANCE',
      retainUntil: '2027-03-02T00:00:00.000Z',
    });
    expect(s3.commandCalls(GetObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: 'audit-bucket',
      Key: 'audit/k.json',
      ChecksumMode: 'ENABLED',
    });
  });

  it('leaves out what S3 does not report (no retention without s3:GetObjectRetention)', async () => {
    s3.on(GetObjectCommand).resolves({ Body: body('{}') });

    expect(await archive().get('audit/k.json')).toEqual({
      key: 'audit/k.json',
      body: Buffer.from('{}'),
    });
  });

  it('still returns the bytes of an object the SDK refuses for a checksum mismatch, with the checksum S3 claimed', async () => {
    s3.on(GetObjectCommand, { ChecksumMode: 'ENABLED' })
      .resolves({
        Body: body('tampered', new Error('Checksum mismatch: expected "x" but received "y"')),
        VersionId: 'v-7',
        ChecksumSHA256: 'claimed=',
      })
      .on(GetObjectCommand, { VersionId: 'v-7' })
      .resolves({ Body: body('tampered'), VersionId: 'v-7' });

    const object = await archive().get('audit/k.json');

    expect(object).toMatchObject({ body: Buffer.from('tampered'), checksumSha256: 'claimed=' });
    expect(s3.commandCalls(GetObjectCommand)[1]?.args[0].input).toEqual({
      Bucket: 'audit-bucket',
      Key: 'audit/k.json',
      VersionId: 'v-7',
    });
  });

  it('fails a read that fails for another reason', async () => {
    s3.on(GetObjectCommand).rejects(s3Error('AccessDenied', 403));

    await expect(archive().get('audit/k.json')).rejects.toThrow('AccessDenied');
  });

  it('puts once: If-None-Match, a SHA-256 checksum, JSON', async () => {
    s3.on(PutObjectCommand).resolves({});

    expect(await archive().putOnce('digests/2026/03/02/09.json', '{"a":1}')).toBe('created');
    expect(s3.commandCalls(PutObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: 'audit-bucket',
      Key: 'digests/2026/03/02/09.json',
      Body: '{"a":1}',
      ContentType: 'application/json',
      ChecksumAlgorithm: 'SHA256',
      IfNoneMatch: '*',
    });
  });

  it.each([
    ['PreconditionFailed', 412],
    ['ConditionalRequestConflict', 409],
  ])('answers "exists" when S3 refuses the put with %s (%d)', async (name, status) => {
    s3.on(PutObjectCommand).rejects(s3Error(name, status));

    expect(await archive().putOnce('digests/2026/03/02/09.json', '{}')).toBe('exists');
  });

  it('throws any other put failure', async () => {
    s3.on(PutObjectCommand).rejects(s3Error('AccessDenied', 403));

    await expect(archive().putOnce('digests/2026/03/02/09.json', '{}')).rejects.toThrow(
      'AccessDenied',
    );
  });
});

function record(requestId: string, timestamp: string): AuditRecord {
  return auditRecord({ request_id: requestId, timestamp });
}

// s3rver ignores If-None-Match on PUT (it overwrites), and has neither Object Lock, stored
// checksums nor version listing: "exists" and versions are covered by the mocked tests above,
// and the lock and the versions are only noted here.
describe('the S3 audit archive, against s3rver with the real AWS SDK', () => {
  it('lists, reads and writes over real HTTP, enough to digest and verify an hour', async () => {
    const s3 = await startS3('audit-bucket');
    try {
      const sink = new S3AuditSink(s3.client, 'audit-bucket');
      const archive = new S3AuditArchive(s3.client, 'audit-bucket');
      await sink.append(record('req_1', '2026-03-02T09:05:00.000Z'));
      await sink.append(record('req_2', '2026-03-02T09:50:00.000Z'));
      await sink.append(record('req_3', '2026-03-02T10:01:00.000Z'));

      const keys = await archive.list('audit/2026/03/02/09/');
      const first = await archive.get(keys[0] as string);
      const run = await digestHours(archive, { now: Date.parse('2026-03-02T10:15:00.000Z') });
      const verified = await verifyArchiveWindow(archive, {
        since: '2026-03-02T09:00:00.000Z',
        until: '2026-03-02T10:00:00.000Z',
        now: Date.parse('2026-03-02T10:20:00.000Z'),
      });

      expect(keys).toHaveLength(2);
      expect(JSON.parse(first.body.toString('utf8'))).toEqual(
        record('req_1', '2026-03-02T09:05:00.000Z'),
      );
      expect(run.written).toEqual(['digests/2026/03/02/09.json']);
      expect(await archive.list('digests/')).toEqual(['digests/2026/03/02/09.json']);
      expect(verified.integrity).toMatchObject({ ok: true, checked: 2, problems: [] });
      expect(verified.records.map((r) => r.record.request_id)).toEqual(['req_1', 'req_2']);
      expect(verified.integrity.notes).toEqual(
        expect.arrayContaining([
          expect.stringContaining('s3:GetObjectRetention'),
          expect.stringContaining('The archive cannot list object versions'),
        ]),
      );
    } finally {
      await s3.close();
    }
  });
});

describe('the S3 audit archive, against an S3 stand-in serving bytes that do not match their checksum', () => {
  it('reads them anyway with the real SDK, so the verifier reports the mismatch instead of failing', async () => {
    const claimed = createHash('sha256').update('the original').digest('base64');
    const requests: string[] = [];
    // As S3 does: the checksum header only when the request asks for it.
    const server = http.createServer((req, res) => {
      const mode = req.headers['x-amz-checksum-mode'];
      requests.push(`${req.method} ${req.url} checksum-mode=${mode ?? 'none'}`);
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': '8',
        'x-amz-version-id': 'v-7',
        ...(mode === 'ENABLED' ? { 'x-amz-checksum-sha256': claimed } : {}),
      });
      res.end('tampered');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = auditArchiveClient({
      region: 'eu-west-1',
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      forcePathStyle: true,
      credentials: { accessKeyId: 'STAND-IN', secretAccessKey: 'STAND-IN' },
    });
    try {
      const object = await new S3AuditArchive(client, 'audit-bucket').get('audit/k.json');

      expect(object).toEqual({
        key: 'audit/k.json',
        body: Buffer.from('tampered'),
        versionId: 'v-7',
        checksumSha256: claimed,
      });
      expect(requests).toEqual([
        'GET /audit-bucket/audit/k.json?x-id=GetObject checksum-mode=ENABLED',
        'GET /audit-bucket/audit/k.json?versionId=v-7&x-id=GetObject checksum-mode=none',
      ]);
    } finally {
      client.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
