import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  type GetObjectCommandOutput,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';

type DigestModule = typeof import('../../lambdas/aws/audit-digest');

const NOW = Date.parse('2026-03-02T10:15:00.000Z');
const RECORD_KEY = 'audit/2026/03/02/09/2026-03-02T090500000Z_req_1_completed_0a1b2c3d.json';
const RECORD = '{"timestamp":"2026-03-02T09:05:00.000Z","request_id":"req_1"}';

function body(text: string): NonNullable<GetObjectCommandOutput['Body']> {
  const bytes = Buffer.from(text);
  return Object.assign(Readable.from([bytes]), {
    transformToByteArray: async () => new Uint8Array(bytes),
    transformToString: async () => text,
    transformToWebStream: () => {
      throw new Error('not used by the archive');
    },
  }) as unknown as NonNullable<GetObjectCommandOutput['Body']>;
}

describe('the audit digest function, as deployed', () => {
  const s3 = mockClient(S3Client);
  const saved = { ...process.env };
  let digest: DigestModule;

  beforeAll(async () => {
    // The entry file reads its environment when loaded, as Lambda loads it.
    Object.assign(process.env, { AWS_REGION: 'eu-west-1', AUDIT_BUCKET_NAME: 'audit-bucket' });
    delete process.env.AUDIT_PREFIX;
    delete process.env.DIGEST_PREFIX;
    digest = await import('../../lambdas/aws/audit-digest');
  });
  afterAll(() => {
    process.env = saved;
    s3.restore();
  });
  beforeEach(() => {
    s3.reset();
    s3.on(ListObjectsV2Command).resolves({ Contents: [] });
    s3.on(ListObjectsV2Command, { Prefix: 'audit/2026/03/02/09/' }).resolves({
      Contents: [{ Key: RECORD_KEY }],
    });
    s3.on(GetObjectCommand, { Key: RECORD_KEY }).resolves({ Body: body(RECORD) });
    s3.on(ListObjectVersionsCommand).resolves({});
  });

  /** Runs the handler at NOW, returning what it logged. */
  async function invoke(): Promise<{ lines: Record<string, unknown>[]; result: unknown }> {
    const written: string[] = [];
    const stdout = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    const now = jest.spyOn(Date, 'now').mockReturnValue(NOW);
    try {
      const result = await digest.handler({}, {} as Context);
      return { lines: written.map((l) => JSON.parse(l)), result };
    } catch (err) {
      return { lines: written.map((l) => JSON.parse(l)), result: err };
    } finally {
      stdout.mockRestore();
      now.mockRestore();
    }
  }

  it('digests the settled hour into digests/ of the audit bucket and logs the key', async () => {
    s3.on(PutObjectCommand).resolves({});

    const { lines, result } = await invoke();

    const puts = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(puts).toHaveLength(1);
    expect(puts[0]).toMatchObject({
      Bucket: 'audit-bucket',
      Key: 'digests/2026/03/02/09.json',
      IfNoneMatch: '*',
      ChecksumAlgorithm: 'SHA256',
    });
    expect(JSON.parse(String(puts[0]?.Body))).toMatchObject({
      prefix: 'audit/2026/03/02/09/',
      objects: [
        {
          key: RECORD_KEY,
          sha256: createHash('sha256').update(RECORD).digest('hex'),
          bytes: RECORD.length,
        },
      ],
      previous: null,
    });
    // It looked for the last digest in the digests of the past week, day by day.
    const listed = s3.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input.Prefix);
    expect(listed).toEqual(expect.arrayContaining(['digests/2026/03/02/', 'digests/2026/02/24/']));
    expect(result).toEqual({ written: ['digests/2026/03/02/09.json'], skipped: [] });
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'info',
        msg: 'audit digests written',
        written: ['digests/2026/03/02/09.json'],
        skipped: [],
      }),
    ]);
  });

  it('looks for hidden or rewritten digests in the version listing of the past week', async () => {
    s3.on(PutObjectCommand).resolves({});

    await invoke();

    const listed = s3.commandCalls(ListObjectVersionsCommand).map((c) => c.args[0].input.Prefix);
    expect(listed).toEqual(expect.arrayContaining(['digests/2026/03/02/', 'digests/2026/02/24/']));
  });

  it('writes nothing and fails the run when a digest of the past week is hidden behind a delete marker', async () => {
    const hidden = 'digests/2026/03/02/08.json';
    s3.on(ListObjectVersionsCommand, { Prefix: 'digests/2026/03/02/' }).resolves({
      Versions: [{ Key: hidden, VersionId: 'v-locked', IsLatest: false }],
      DeleteMarkers: [{ Key: hidden, VersionId: 'v-marker', IsLatest: true }],
    });
    s3.on(PutObjectCommand).resolves({});

    const { lines, result } = await invoke();

    expect(result).toMatchObject({ code: 'audit_unavailable' });
    expect(s3.commandCalls(PutObjectCommand)).toEqual([]);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'error',
        msg: 'audit digest run failed',
        error: expect.stringContaining(`${hidden} is hidden behind a delete marker (v-marker)`),
      }),
    ]);
  });

  it('fails the run, so its Errors alarm fires, when the digest cannot be written', async () => {
    s3.on(PutObjectCommand).rejects(
      Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }),
    );

    const { lines, result } = await invoke();

    expect(result).toBeInstanceOf(Error);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'error',
        msg: 'audit digest run failed',
        error: 'AccessDenied: Access Denied',
      }),
    ]);
  });
});
