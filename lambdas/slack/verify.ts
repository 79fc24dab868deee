import { createHmac, timingSafeEqual } from 'node:crypto';
import { headerValue } from '../core/edge';

/** Header lookup lives with the other edge checks (`core/edge.ts`); re-exported for the Slack handlers. */
export { headerValue };

/**
 * Slack request signing, version 0 (https://api.slack.com/authentication/verifying-requests-from-slack):
 * `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{X-Slack-Request-Timestamp}:{raw body}">`,
 * keyed with the app's signing secret. The timestamp (seconds) bounds replays.
 */

export const SLACK_SIGNATURE_HEADER = 'x-slack-signature';
export const SLACK_TIMESTAMP_HEADER = 'x-slack-request-timestamp';
export const DEFAULT_TOLERANCE_SECONDS = 300;

const VERSION_PREFIX = 'v0=';
/** Seconds since the epoch: digits only (no sign, space, exponent or fraction), at most 15. */
const TIMESTAMP_PATTERN = /^[0-9]{1,15}$/;

export type SlackVerifyFailure =
  | 'missing_headers'
  | 'bad_timestamp'
  | 'stale'
  | 'future'
  | 'bad_version'
  | 'bad_signature';

export type SlackVerifyResult = { ok: true } | { ok: false; reason: SlackVerifyFailure };

export interface SlackVerifyInput {
  /** The request body exactly as received (decoded from base64 if API Gateway encoded it). */
  rawBody: string;
  /** `X-Slack-Request-Timestamp`, seconds since the epoch. */
  timestamp: string | undefined;
  /** `X-Slack-Signature`, `v0=<hex>`. */
  signature: string | undefined;
  signingSecret: string;
  /** The current time in milliseconds (injected, for tests). */
  nowMs: number;
  /** How far the timestamp may be from now, in either direction. @default 300 */
  toleranceSeconds?: number;
}

/**
 * Checks a Slack request signature. Fails closed: anything missing, malformed, too old,
 * dated in the future or not matching is refused, and the reason says which.
 * The signatures are compared in constant time.
 *
 * Throws (a configuration error, not a request error) when the signing secret is empty
 * (anyone could sign with an empty key) or the tolerance is not a finite number ≥ 0.
 */
export function verifySlackSignature(input: SlackVerifyInput): SlackVerifyResult {
  const { rawBody, timestamp, signature, signingSecret, nowMs } = input;
  const toleranceSeconds = input.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (typeof signingSecret !== 'string' || signingSecret.length === 0) {
    throw new Error('Slack signing secret is not configured');
  }
  if (!Number.isFinite(toleranceSeconds) || toleranceSeconds < 0) {
    throw new RangeError('toleranceSeconds must be a finite number >= 0');
  }
  if (!Number.isFinite(nowMs)) throw new RangeError('nowMs must be a finite number');

  if (typeof timestamp !== 'string' || timestamp.length === 0) return fail('missing_headers');
  if (typeof signature !== 'string' || signature.length === 0) return fail('missing_headers');

  if (!TIMESTAMP_PATTERN.test(timestamp)) return fail('bad_timestamp');
  const timestampMs = Number(timestamp) * 1000;
  const ageMs = nowMs - timestampMs;
  if (ageMs > toleranceSeconds * 1000) return fail('stale');
  if (-ageMs > toleranceSeconds * 1000) return fail('future');

  if (!signature.startsWith(VERSION_PREFIX)) return fail('bad_version');

  const expected = Buffer.from(
    VERSION_PREFIX + slackSignatureHex(signingSecret, timestamp, rawBody),
    'utf8',
  );
  const given = Buffer.from(signature, 'utf8');
  // timingSafeEqual throws on different lengths; the length of a valid signature is public.
  if (given.length !== expected.length) return fail('bad_signature');
  if (!timingSafeEqual(given, expected)) return fail('bad_signature');
  return { ok: true };
}

/** The hex HMAC-SHA256 of Slack's v0 basestring. */
function slackSignatureHex(signingSecret: string, timestamp: string, rawBody: string): string {
  return createHmac('sha256', signingSecret)
    .update(`v0:${timestamp}:${rawBody}`, 'utf8')
    .digest('hex');
}

function fail(reason: SlackVerifyFailure): SlackVerifyResult {
  return { ok: false, reason };
}

/**
 * The two signing headers of a request, whatever the case of their names; a header sent under
 * several spellings with different values counts as missing ({@link headerValue}).
 */
export function slackSignatureHeaders(
  headers: Record<string, string | undefined> | null | undefined,
): Pick<SlackVerifyInput, 'timestamp' | 'signature'> {
  return {
    timestamp: headerValue(headers, SLACK_TIMESTAMP_HEADER),
    signature: headerValue(headers, SLACK_SIGNATURE_HEADER),
  };
}
