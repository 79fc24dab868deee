import { presignedIdentityUrl, verifyIdentityUrl } from '../../lambdas/adapters/aws/sts-identity';

const credentials = {
  accessKeyId: ['AKIA', 'TESTTESTTESTTEST'].join(''),
  secretAccessKey: 'x'.repeat(40),
};
const ARN = 'arn:aws:sts::123456789012:assumed-role/Responder/alice';

/** STS as the ops function reaches it: records what was fetched, answers with `arn`. */
function fakeSts(status = 200, arn = ARN) {
  const fetched: string[] = [];
  const fetchImpl = (async (url: URL | string) => {
    fetched.push(String(url));
    return new Response(
      status === 200
        ? `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>${arn}</Arn><UserId>AROA:alice</UserId><Account>123456789012</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`
        : '<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>',
      { status },
    );
  }) as typeof fetch;
  return { fetched, fetchImpl };
}

describe('proving who invoked the ops function (a presigned sts:GetCallerIdentity)', () => {
  it('presigns a GetCallerIdentity request to the regional STS endpoint, valid 60 s', async () => {
    const url = new URL(await presignedIdentityUrl({ region: 'eu-west-1', credentials }));

    expect(url.origin).toBe('https://sts.eu-west-1.amazonaws.com');
    expect(url.searchParams.get('Action')).toBe('GetCallerIdentity');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('60');
    expect(url.searchParams.get('X-Amz-Credential')).toMatch(
      new RegExp(`^${credentials.accessKeyId}/\\d{8}/eu-west-1/sts/aws4_request$`),
    );
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(url.toString()).not.toContain(credentials.secretAccessKey);
  });

  it('returns the ARN STS answers for a presigned request', async () => {
    const sts = fakeSts();
    const url = await presignedIdentityUrl({ region: 'eu-west-1', credentials });

    await expect(verifyIdentityUrl(url, sts.fetchImpl)).resolves.toBe(ARN);
    expect(sts.fetched).toEqual([url]);
  });

  it('refuses when STS does not vouch for the signature', async () => {
    const sts = fakeSts(403);
    const url = await presignedIdentityUrl({ region: 'eu-west-1', credentials });

    await expect(verifyIdentityUrl(url, sts.fetchImpl)).rejects.toMatchObject({
      code: 'unauthorized',
    });
  });

  it('never fetches anything but a presigned GetCallerIdentity request to STS', async () => {
    const sts = fakeSts();
    const good = new URL(await presignedIdentityUrl({ region: 'eu-west-1', credentials }));
    const variants = [
      // Another host: the function must not become a way to reach arbitrary addresses.
      good.toString().replace('sts.eu-west-1.amazonaws.com', '169.254.169.254'),
      good
        .toString()
        .replace('sts.eu-west-1.amazonaws.com', 'sts.eu-west-1.amazonaws.com.evil.example'),
      good.toString().replace('https:', 'http:'),
      good.toString().replace('Action=GetCallerIdentity', 'Action=AssumeRole'),
      `${good.toString()}&Action=AssumeRole`,
      good.toString().replace(/X-Amz-Signature=[0-9a-f]+/, 'X-Amz-Signature=nope'),
      'not a url',
    ];

    for (const bad of variants) {
      await expect(verifyIdentityUrl(bad, sts.fetchImpl)).rejects.toMatchObject({
        code: 'unauthorized',
      });
    }
    expect(sts.fetched).toEqual([]);
  });

  it('refuses an answer without a well-formed ARN', async () => {
    const sts = fakeSts(200, 'root');
    const url = await presignedIdentityUrl({ region: 'eu-west-1', credentials });

    await expect(verifyIdentityUrl(url, sts.fetchImpl)).rejects.toMatchObject({
      code: 'unauthorized',
    });
  });
});
