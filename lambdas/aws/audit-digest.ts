/**
 * Every hour at :15 (an EventBridge schedule): writes the digest of each audit hour that has
 * ended and settled since the last digest, chained to the one before (`digestHours`). A failure
 * is thrown, so the run fails and the function's Errors alarm says so; the next run catches up.
 */
import { lambdaHandler, lambdaLogger } from '../adapters/aws/powertools-logger';
import { auditArchiveClient, S3AuditArchive } from '../adapters/aws/s3-audit-archive';
import { jsonLogger } from '../adapters/json-logger';
import { auditDigestEnv } from '../config/aws';
import { type DigestRunResult, digestHours } from '../core/evidence/digest';
import type { AuditArchive } from '../core/evidence/types';
import type { Logger } from '../core/ports';
import { loadEnv } from './env';

export interface AuditDigestDeps {
  archive: AuditArchive;
  /** Epoch milliseconds of the run. */
  now: () => number;
  log: Logger;
  auditPrefix: string;
  digestPrefix: string;
}

/** One run: the digests written (and those another run had already written), logged. */
export function createAuditDigestRun(deps: AuditDigestDeps): () => Promise<DigestRunResult> {
  return async () => {
    try {
      const result = await digestHours(deps.archive, {
        now: deps.now(),
        auditPrefix: deps.auditPrefix,
        digestPrefix: deps.digestPrefix,
      });
      deps.log.info('audit digests written', {
        written: result.written,
        skipped: result.skipped,
      });
      return result;
    } catch (err) {
      deps.log.error('audit digest run failed', {
        error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
      });
      throw err;
    }
  };
}

const env = loadEnv(auditDigestEnv);

const run = createAuditDigestRun({
  archive: new S3AuditArchive(auditArchiveClient(), env.AUDIT_BUCKET_NAME),
  now: () => Date.now(),
  // Its run lines stay JSON lines on stdout, errors included (Powertools would print those on
  // stderr); the wrapper still gives Lambda's context to the Powertools logger.
  log: jsonLogger(),
  auditPrefix: env.AUDIT_PREFIX,
  digestPrefix: env.DIGEST_PREFIX,
});

export const handler = lambdaHandler(() => run(), lambdaLogger());
