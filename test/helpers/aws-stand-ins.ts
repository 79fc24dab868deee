import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { InvokeCommandOutput } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';

/** A real S3 API (s3rver, no Object Lock) on loopback, with a client of the real AWS SDK. */
export async function startS3(
  bucket: string,
): Promise<{ client: S3Client; close(): Promise<void> }> {
  const directory = mkdtempSync(path.join(os.tmpdir(), 's3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  const { port } = await server.run();
  const client = new S3Client({
    region: 'eu-west-1',
    endpoint: `http://127.0.0.1:${port}`,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  return {
    client,
    async close() {
      client.destroy();
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** A Lambda invocation's payload as the SDK returns it: JSON bytes that can turn into a string. */
export function invokePayload(value: unknown): NonNullable<InvokeCommandOutput['Payload']> {
  const bytes = Buffer.from(JSON.stringify(value));
  return Object.assign(bytes, {
    transformToString: (encoding?: string) =>
      bytes.toString((encoding ?? 'utf8') as BufferEncoding),
  });
}
