import { createHmac } from 'node:crypto';
import { headerValue } from '../../lambdas/core/edge';
import { verifySlackSignature } from '../../lambdas/slack/verify';

const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const NOW_SEC = 1_700_000_000;
const NOW_MS = NOW_SEC * 1000;
const BODY = 'payload=%7B%22type%22%3A%22block_actions%22%7D';

/** Slack's v0 signature, computed here independently of the module under test. */
function sign(body: string, timestamp: string, secret = SECRET): string {
  const hmac = createHmac('sha256', secret);
  hmac.update(`v0:${timestamp}:${body}`);
  return `v0=${hmac.digest('hex')}`;
}

function verify(overrides: Partial<Parameters<typeof verifySlackSignature>[0]> = {}) {
  const timestamp = String(NOW_SEC);
  return verifySlackSignature({
    rawBody: BODY,
    timestamp,
    signature: sign(BODY, timestamp),
    signingSecret: SECRET,
    nowMs: NOW_MS,
    ...overrides,
  });
}

describe('verifySlackSignature', () => {
  it('accepts a correctly signed, current request', () => {
    expect(verify()).toEqual({ ok: true });
  });

  it("matches Slack's documented example signature", () => {
    // From https://api.slack.com/authentication/verifying-requests-from-slack
    const rawBody =
      'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    expect(
      verifySlackSignature({
        rawBody,
        timestamp: '1531420618',
        signature: 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
        signingSecret: '8f742231b10e8888abcd99yyyzzz85a5',
        nowMs: 1531420618 * 1000 + 10_000,
      }),
    ).toEqual({ ok: true });
  });

  it('accepts a body with non-ASCII characters, signed as UTF-8', () => {
    const body = 'payload=%7B%7D&note=caf\u00e9 \u{1F600}';
    expect(verify({ rawBody: body, signature: sign(body, String(NOW_SEC)) })).toEqual({
      ok: true,
    });
  });

  it('refuses a request 301 s old as stale', () => {
    const ts = String(NOW_SEC - 301);
    expect(verify({ timestamp: ts, signature: sign(BODY, ts) })).toEqual({
      ok: false,
      reason: 'stale',
    });
  });

  it('refuses a request dated 301 s in the future', () => {
    const ts = String(NOW_SEC + 301);
    expect(verify({ timestamp: ts, signature: sign(BODY, ts) })).toEqual({
      ok: false,
      reason: 'future',
    });
  });

  it('accepts a request exactly 300 s old or 300 s ahead', () => {
    for (const ts of [String(NOW_SEC - 300), String(NOW_SEC + 300)]) {
      expect(verify({ timestamp: ts, signature: sign(BODY, ts) })).toEqual({ ok: true });
    }
  });

  it('refuses one millisecond past the boundary in either direction', () => {
    const ts = String(NOW_SEC);
    const signature = sign(BODY, ts);
    expect(verify({ timestamp: ts, signature, nowMs: NOW_MS + 300_001 })).toEqual({
      ok: false,
      reason: 'stale',
    });
    expect(verify({ timestamp: ts, signature, nowMs: NOW_MS - 300_001 })).toEqual({
      ok: false,
      reason: 'future',
    });
  });

  it('honours a custom tolerance', () => {
    const ts = String(NOW_SEC - 61);
    expect(verify({ timestamp: ts, signature: sign(BODY, ts), toleranceSeconds: 60 })).toEqual({
      ok: false,
      reason: 'stale',
    });
    expect(verify({ timestamp: ts, signature: sign(BODY, ts), toleranceSeconds: 61 })).toEqual({
      ok: true,
    });
  });

  it('refuses a stale request even when its signature is valid (replay)', () => {
    const ts = String(NOW_SEC - 3600);
    expect(verify({ timestamp: ts, signature: sign(BODY, ts) })).toMatchObject({ ok: false });
  });

  it('refuses a tampered body', () => {
    expect(verify({ rawBody: `${BODY}x` })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verify({ rawBody: BODY.replace('block_actions', 'block_actionz') })).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('refuses a tampered timestamp (signed for another second)', () => {
    const signature = sign(BODY, String(NOW_SEC));
    expect(verify({ timestamp: String(NOW_SEC - 1), signature })).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('refuses a signature of another version', () => {
    const v0 = sign(BODY, String(NOW_SEC));
    expect(verify({ signature: v0.replace(/^v0=/, 'v1=') })).toEqual({
      ok: false,
      reason: 'bad_version',
    });
    expect(verify({ signature: v0.slice(3) })).toEqual({ ok: false, reason: 'bad_version' });
    expect(verify({ signature: v0.replace(/^v0=/, 'V0=') })).toEqual({
      ok: false,
      reason: 'bad_version',
    });
  });

  it('refuses a request missing either header', () => {
    expect(verify({ timestamp: undefined })).toEqual({ ok: false, reason: 'missing_headers' });
    expect(verify({ signature: undefined })).toEqual({ ok: false, reason: 'missing_headers' });
    expect(verify({ timestamp: '' })).toEqual({ ok: false, reason: 'missing_headers' });
    expect(verify({ signature: '' })).toEqual({ ok: false, reason: 'missing_headers' });
    expect(verify({ timestamp: undefined, signature: undefined })).toEqual({
      ok: false,
      reason: 'missing_headers',
    });
  });

  it('refuses a signature made with another secret', () => {
    const ts = String(NOW_SEC);
    expect(verify({ signature: sign(BODY, ts, 'another-secret') })).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('refuses a timestamp that is not a plain number of seconds', () => {
    for (const ts of [
      'abc',
      `${NOW_SEC}.5`,
      `-${NOW_SEC}`,
      `+${NOW_SEC}`,
      ` ${NOW_SEC}`,
      `${NOW_SEC} `,
      '1.7e9',
      '0x6553F100',
      'NaN',
      'Infinity',
      '9'.repeat(16),
    ]) {
      expect(verify({ timestamp: ts, signature: sign(BODY, ts) })).toEqual({
        ok: false,
        reason: 'bad_timestamp',
      });
    }
  });

  it('treats a timestamp in milliseconds as far in the future', () => {
    const ts = String(NOW_MS);
    expect(verify({ timestamp: ts, signature: sign(BODY, ts) })).toEqual({
      ok: false,
      reason: 'future',
    });
  });

  it('refuses, without throwing, signatures of the wrong length', () => {
    const good = sign(BODY, String(NOW_SEC));
    for (const signature of [
      'v0=',
      'v0=abc',
      good.slice(0, -1),
      `${good}0`,
      `${good}${good}`,
      good.toUpperCase().replace(/^V0=/, 'v0='),
      // Same number of characters, more bytes in UTF-8.
      `${good.slice(0, -1)}\u00e9`,
    ]) {
      expect(() => verify({ signature })).not.toThrow();
      expect(verify({ signature })).toEqual({ ok: false, reason: 'bad_signature' });
    }
  });

  it('refuses to run without a signing secret', () => {
    expect(() => verify({ signingSecret: '' })).toThrow(/signing secret/);
  });

  it('refuses a nonsensical tolerance', () => {
    expect(() => verify({ toleranceSeconds: -1 })).toThrow(RangeError);
    expect(() => verify({ toleranceSeconds: Number.NaN })).toThrow(RangeError);
    expect(() => verify({ toleranceSeconds: Number.POSITIVE_INFINITY })).toThrow(RangeError);
  });
});

describe('headerValue', () => {
  it('finds a header whatever the case of its name', () => {
    const headers = { 'X-Slack-Signature': 'v0=abc', 'x-slack-request-timestamp': '123' };
    expect(headerValue(headers, 'x-slack-signature')).toBe('v0=abc');
    expect(headerValue(headers, 'X-SLACK-REQUEST-TIMESTAMP')).toBe('123');
  });

  it('returns undefined for an absent header or no headers at all', () => {
    expect(headerValue({ a: 'b' }, 'x-slack-signature')).toBeUndefined();
    expect(headerValue({ 'x-slack-signature': undefined }, 'x-slack-signature')).toBeUndefined();
    expect(headerValue(null, 'x')).toBeUndefined();
    expect(headerValue(undefined, 'x')).toBeUndefined();
  });

  it('returns undefined when two spellings disagree, and the value when they agree', () => {
    expect(
      headerValue({ 'X-Slack-Signature': 'a', 'x-slack-signature': 'b' }, 'x-slack-signature'),
    ).toBeUndefined();
    expect(
      headerValue({ 'X-Slack-Signature': 'a', 'x-slack-signature': 'a' }, 'x-slack-signature'),
    ).toBe('a');
  });

  it('does not read inherited properties', () => {
    expect(headerValue({}, 'constructor')).toBeUndefined();
    expect(headerValue({}, '__proto__')).toBeUndefined();
  });

  it('works end to end with verifySlackSignature', () => {
    const ts = String(NOW_SEC);
    const headers = { 'X-Slack-Request-Timestamp': ts, 'X-Slack-Signature': sign(BODY, ts) };
    expect(
      verifySlackSignature({
        rawBody: BODY,
        timestamp: headerValue(headers, 'x-slack-request-timestamp'),
        signature: headerValue(headers, 'x-slack-signature'),
        signingSecret: SECRET,
        nowMs: NOW_MS,
      }),
    ).toEqual({ ok: true });
  });
});
