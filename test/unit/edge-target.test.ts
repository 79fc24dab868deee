import {
  checkRequestTarget,
  parserRefusal,
  RECEIVED_MAX_CHARS,
  renderReceived,
} from '../../lambdas/core/edge';

describe('request targets (edge.ts)', () => {
  it.each([
    '/',
    '/v1/tools',
    '/v1/tools?x=1',
    '/v1/tools?next=%2Fv1%2F..',
    '/v1/actions/req_abc',
    '/v1/actions/a%2eb',
    '/v1/tools/',
    '/approvals',
    '/favicon.ico',
  ])('routes the origin-form %s', (target) => {
    expect(checkRequestTarget(target)).toBeNull();
  });

  it.each([
    '',
    '*',
    'v1/tools',
    '//host/v1/tools',
    '///v1/tools',
    'http://evil/v1/tools',
    'HTTP://evil/v1/tools',
    'evil.example:443',
    '/v1//tools',
    '/v1/./tools',
    '/v1/../tools',
    '/v1/tools/.',
    '/v1/tools/..',
    '/./v1/tools',
    '/v1/%2e/tools',
    '/v1/%2E%2E/tools',
    '/v1/.%2e/tools',
    '/v1/%2e./tools',
    '/v1%2ftools',
    '/v1%2Ftools',
    '/v1%5Ctools',
    '/v1%00/tools',
    '/v1%1f/tools',
    '/v1%7F/tools',
    '/v1\\tools',
    '\\v1\\tools',
    '/v1/tools#x',
    '/v1/tools\u0000',
    '/v1/to\tols',
    '/v1/to ols',
    '/v1/t\u00e9',
    '/v1/tools?\u0001',
  ])('refuses %j with 400 invalid_request_target', (target) => {
    const err = checkRequestTarget(target);
    expect(err?.code).toBe('invalid_request_target');
    expect(err?.status).toBe(400);
    expect(err?.message).toContain('origin-form');
  });
});

describe("refusals of requests Node's parser rejected", () => {
  it.each([
    ['HPE_HEADER_OVERFLOW', 431, 'headers_too_large'],
    ['ERR_HTTP_REQUEST_TIMEOUT', 408, 'request_timeout'],
    ['HPE_INVALID_URL', 400, 'invalid_request_target'],
    ['HPE_INVALID_HEADER_TOKEN', 400, 'malformed_request'],
    ['HPE_UNEXPECTED_CONTENT_LENGTH', 400, 'malformed_request'],
    ['HPE_INVALID_CHUNK_SIZE', 400, 'malformed_request'],
    ['unknown', 400, 'malformed_request'],
  ])('%s answers %i %s', (code, status, name) => {
    const err = parserRefusal(code);
    expect(err.status).toBe(status);
    expect(err.code).toBe(name);
  });

  it('renders what was received: escaped, bounded, without credentials', () => {
    const raw = Buffer.from(
      'GET / HTTP/1.1\r\nAuthorization: Bearer ak_secret\r\ncookie:s=1\r\nX: \x00\xff\\"\t\r\n\r\n',
      'latin1',
    );
    expect(renderReceived(raw, 'HPE_X')).toEqual({
      received:
        'GET / HTTP/1.1\\r\\nAuthorization: [REDACTED]\\r\\ncookie: [REDACTED]\\r\\nX: \\x00\\xff\\\\"\\t\\r\\n\\r\\n',
      received_bytes: raw.length,
      parser_error: 'HPE_X',
    });
    expect(renderReceived(undefined, 'ERR_HTTP_REQUEST_TIMEOUT')).toEqual({
      received: '',
      received_bytes: 0,
      parser_error: 'ERR_HTTP_REQUEST_TIMEOUT',
    });
  });

  it.each([
    ['printable', Buffer.alloc(100_000, 'a')],
    ['binary', Buffer.alloc(100_000, 0x01)],
    ['quotes and backslashes', Buffer.alloc(100_000, '"\\')],
  ])('keeps at most 4 KB of %s bytes, as written in JSON', (_what, raw) => {
    const r = renderReceived(raw, 'HPE_X');
    expect(JSON.stringify(r.received).length - 2).toBeLessThanOrEqual(RECEIVED_MAX_CHARS);
    expect(JSON.stringify(r.received).length - 2).toBeGreaterThan(RECEIVED_MAX_CHARS - 8);
    expect(r.received_bytes).toBe(100_000);
  });

  it('never keeps part of a credential cut by the bound', () => {
    const raw = Buffer.from(`${'X: y\r\n'.repeat(680)}Authorization: Bearer ak_${'s'.repeat(200)}`);
    expect(renderReceived(raw, 'HPE_X').received).not.toMatch(/ak_|Bearer/);
  });
});
