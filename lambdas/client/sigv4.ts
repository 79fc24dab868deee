import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { NodeSha256 } from '../adapters/aws/node-sha256';

/** The region of an API Gateway URL (`https://<id>.execute-api.<region>.amazonaws.com/...`). */
export function regionOfApiUrl(url: URL): string | null {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(url.hostname)?.[1] ?? null;
}

/**
 * Signs requests to the deployed API with SigV4 (service `execute-api`), as IAM auth on the
 * API's `/v1` routes expects: the signature covers the method, path, query, host, and the
 * SHA-256 of the body.
 */
export function sigv4Signer(options: {
  region: string;
  credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
}) {
  const signer = new SignatureV4({
    service: 'execute-api',
    region: options.region,
    credentials: options.credentials,
    sha256: NodeSha256,
  });
  return async (
    url: URL,
    method: string,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<Record<string, string>> => {
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const signed = await signer.sign({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query,
      headers: { ...headers, host: url.host },
      body,
    });
    return signed.headers as Record<string, string>;
  };
}
