import {
  GetObjectCommand,
  type GetObjectCommandOutput,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  type ListObjectVersionsCommandOutput,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { AirlockError } from '../../core/errors';
import type { ArchiveObject, ArchiveVersion, AuditArchive } from '../../core/evidence/types';

const byKey = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * An S3 client for {@link S3AuditArchive}: bounded waits, and the SDK's response checksum check
 * only where the archive asks for it (`WHEN_REQUIRED`). With the SDK default (`WHEN_SUPPORTED`)
 * every GetObject is checked, so an object whose bytes differ from its stored checksum could not
 * be read at all, and the verifier could not report it.
 */
export function auditArchiveClient(config: S3ClientConfig = {}): S3Client {
  return new S3Client({
    requestHandler: { connectionTimeout: 1000, requestTimeout: 5000 },
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...config,
  });
}

/**
 * The audit bucket as the digest function and the verifier read it. Reads ask S3 for the stored
 * checksum (`ChecksumMode: ENABLED`); Object Lock mode and date come back only when the caller
 * may read retention (`s3:GetObjectRetention`). Writes never overwrite: `If-None-Match: *`.
 * Version listings (`s3:ListBucketVersions`) show what a delete marker hides or a second version
 * shadows.
 * Build the client with {@link auditArchiveClient}, so a checksum mismatch is reported, not thrown.
 */
export class S3AuditArchive implements AuditArchive {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) if (o.Key !== undefined) keys.push(o.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return keys.sort(byKey);
  }

  async listVersions(prefix: string): Promise<ArchiveVersion[]> {
    const versions: ArchiveVersion[] = [];
    let keyMarker: string | undefined;
    let versionIdMarker: string | undefined;
    do {
      let page: ListObjectVersionsCommandOutput;
      try {
        page = await this.client.send(
          new ListObjectVersionsCommand({
            Bucket: this.bucket,
            Prefix: prefix,
            KeyMarker: keyMarker,
            VersionIdMarker: versionIdMarker,
          }),
        );
      } catch (err) {
        // S3 itself always lists versions (a bucket without versioning answers with "null" ids);
        // only a stand-in without the API answers 405 or 501.
        const status = httpStatus(err);
        if (status === 405 || status === 501) {
          throw new AirlockError(
            'method_not_allowed',
            `The S3 endpoint does not list object versions (HTTP ${status}).`,
            { cause: err },
          );
        }
        throw err;
      }
      for (const [list, deleteMarker] of [
        [page.Versions ?? [], false],
        [page.DeleteMarkers ?? [], true],
      ] as const) {
        for (const v of list) {
          if (v.Key === undefined) continue;
          versions.push({
            key: v.Key,
            versionId: v.VersionId ?? 'null',
            isLatest: v.IsLatest === true,
            deleteMarker,
            ...(v.LastModified === undefined ? {} : { lastModified: v.LastModified.toISOString() }),
          });
        }
      }
      const more = page.IsTruncated === true;
      keyMarker = more ? page.NextKeyMarker : undefined;
      versionIdMarker = more ? page.NextVersionIdMarker : undefined;
    } while (keyMarker !== undefined);
    // S3 lists versions and delete markers apart; put each key's history back together, newest
    // first (the current one first when times tie or are unknown).
    return versions.sort(
      (a, b) =>
        byKey(a.key, b.key) ||
        Number(b.isLatest) - Number(a.isLatest) ||
        byKey(b.lastModified ?? '', a.lastModified ?? ''),
    );
  }

  async get(key: string): Promise<ArchiveObject> {
    const checked = await this.client.send(
      new GetObjectCommand({ Bucket: this.bucket, Key: key, ChecksumMode: 'ENABLED' }),
    );
    let body: Buffer;
    try {
      body = await bytesOf(checked);
    } catch (err) {
      if (!isChecksumMismatch(err)) throw err;
      // The SDK refuses a body that does not match S3's checksum; the verifier must see those
      // bytes to report the mismatch, so read them again without the SDK's check. Same version.
      body = await bytesOf(
        await this.client.send(
          new GetObjectCommand({
            Bucket: this.bucket,
            Key: key,
            ...(checked.VersionId === undefined ? {} : { VersionId: checked.VersionId }),
          }),
        ),
      );
    }
    return {
      key,
      body,
      ...(checked.VersionId === undefined ? {} : { versionId: checked.VersionId }),
      ...(checked.ChecksumSHA256 === undefined ? {} : { checksumSha256: checked.ChecksumSHA256 }),
      ...(checked.ObjectLockMode === undefined ? {} : { lockMode: checked.ObjectLockMode }),
      ...(checked.ObjectLockRetainUntilDate === undefined
        ? {}
        : { retainUntil: checked.ObjectLockRetainUntilDate.toISOString() }),
    };
  }

  async putOnce(key: string, body: string): Promise<'created' | 'exists'> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentType: 'application/json',
          // Object Lock refuses uploads without a checksum; S3 verifies this one.
          ChecksumAlgorithm: 'SHA256',
          IfNoneMatch: '*',
        }),
      );
      return 'created';
    } catch (err) {
      // 412: the key exists. 409: another conditional put of the key is in flight; whichever
      // wins, the caller reads back what is stored.
      if (errorName(err) === 'PreconditionFailed' || httpStatus(err) === 412) return 'exists';
      if (errorName(err) === 'ConditionalRequestConflict') return 'exists';
      throw err;
    }
  }
}

async function bytesOf(output: GetObjectCommandOutput): Promise<Buffer> {
  if (!output.Body) return Buffer.alloc(0);
  return Buffer.from(await output.Body.transformToByteArray());
}

function errorName(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}

function httpStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null || !('$metadata' in err)) return undefined;
  const meta = (err as { $metadata?: { httpStatusCode?: number } }).$metadata;
  return meta?.httpStatusCode;
}

/** The error the SDK raises while reading a body whose bytes differ from S3's checksum. */
function isChecksumMismatch(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('Checksum mismatch');
}
