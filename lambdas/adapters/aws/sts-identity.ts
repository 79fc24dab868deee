/**
 * Who invoked the ops function, proven rather than claimed. A Lambda invocation does not tell
 * the function who called it, so the CLI sends a presigned `sts:GetCallerIdentity` request
 * (valid 60 s) made with its own credentials; the ops function sends it to STS and records the
 * ARN STS answers. The caller cannot name someone else: only their credentials sign it. This
 * is how HashiCorp Vault's AWS auth method proves an IAM identity.
 */
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { AirlockError } from '../../core/errors';
import { NodeSha256 } from './node-sha256';

const PRESIGN_SECONDS = 60;

/** The CLI's side: a GetCallerIdentity request to the regional STS endpoint, presigned. */
export async function presignedIdentityUrl(options: {
  region: string;
  credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
}): Promise<string> {
  const hostname = `sts.${options.region}.amazonaws.com`;
  const signer = new SignatureV4({
    service: 'sts',
    region: options.region,
    credentials: options.credentials,
    sha256: NodeSha256,
  });
  const signed = await signer.presign(
    {
      method: 'GET',
      protocol: 'https:',
      hostname,
      path: '/',
      query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
      headers: { host: hostname },
    },
    { expiresIn: PRESIGN_SECONDS },
  );
  const url = new URL(`https://${hostname}/`);
  for (const [k, v] of Object.entries(signed.query ?? {})) {
    if (typeof v === 'string') url.searchParams.set(k, v);
  }
  return url.toString();
}

/**
 * The ops function's side: checks that `identity` is exactly a presigned GetCallerIdentity
 * request to STS (so the function never fetches any other address), sends it, and returns the
 * caller's ARN. Throws `unauthorized` when STS does not vouch for it.
 */
export async function verifyIdentityUrl(
  identity: string,
  fetchImpl: typeof fetch = fetch,
): Promise<string> {
  const refuse = (why: string) =>
    new AirlockError('unauthorized', `The caller's identity could not be proven: ${why}.`);
  let url: URL;
  try {
    url = new URL(identity);
  } catch {
    throw refuse('not a URL');
  }
  const q = url.searchParams;
  const shapeOk =
    url.protocol === 'https:' &&
    url.port === '' &&
    url.username === '' &&
    /^sts(\.[a-z]{2}(-[a-z]+)+-\d)?\.amazonaws\.com$/.test(url.hostname) &&
    url.pathname === '/' &&
    q.getAll('Action').length === 1 &&
    q.get('Action') === 'GetCallerIdentity' &&
    q.get('Version') === '2011-06-15' &&
    q.get('X-Amz-Algorithm') === 'AWS4-HMAC-SHA256' &&
    /^[0-9a-f]{64}$/.test(q.get('X-Amz-Signature') ?? '');
  if (!shapeOk) throw refuse('not a presigned sts:GetCallerIdentity request');
  let res: Response;
  try {
    res = await fetchImpl(url, { method: 'GET', signal: AbortSignal.timeout(3000) });
  } catch {
    throw refuse('STS did not answer');
  }
  const text = await res.text();
  if (!res.ok) throw refuse(`STS answered ${res.status}`);
  const arn = /<GetCallerIdentityResult>[\s\S]*?<Arn>([^<]{1,200})<\/Arn>/.exec(text)?.[1];
  if (!arn || !/^arn:aws[a-z-]*:(iam|sts)::\d{12}:[\x21-\x7e]+$/.test(arn)) {
    throw refuse('STS gave no ARN');
  }
  return arn;
}
