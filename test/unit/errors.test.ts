import { AirlockError, ERROR_STATUS, errorAnswer } from '../../lambdas/core/errors';

describe('the error mapping', () => {
  it('maps every code of the contract to its status', () => {
    expect(ERROR_STATUS).toMatchObject({
      invalid_json: 400,
      validation_failed: 400,
      unknown_action: 400,
      unauthorized: 401,
      gateway_contained: 401,
      hubspot_unauthorized: 401,
      read_only_mode: 403,
      action_not_allowed: 403,
      payload_too_large: 413,
      unsupported_media_type: 415,
      prompt_rejected: 422,
      bulk_request_rejected: 422,
      rate_limited: 429,
      hubspot_error: 502,
      audit_unavailable: 503,
      hubspot_timeout: 504,
    });
    for (const code of Object.keys(ERROR_STATUS) as (keyof typeof ERROR_STATUS)[]) {
      const answer = errorAnswer('req_1', new AirlockError(code, 'why'));
      expect(answer.status).toBe(ERROR_STATUS[code]);
      expect(answer.body).toEqual({ request_id: 'req_1', error: { code, message: 'why' } });
    }
  });

  it('sets Retry-After in whole seconds, at least one', () => {
    expect(
      errorAnswer('r', new AirlockError('rate_limited', 'slow down', { retryAfterSeconds: 0.2 }))
        .headers,
    ).toEqual({
      'retry-after': '1',
    });
    expect(
      errorAnswer('r', new AirlockError('rate_limited', 'x', { retryAfterSeconds: 9.1 })).headers[
        'retry-after'
      ],
    ).toBe('10');
  });

  it('keeps details on 4xx and drops them on 5xx', () => {
    const four = errorAnswer(
      'r',
      new AirlockError('validation_failed', 'bad', { details: [{ path: 'x' }] }),
    );
    expect((four.body.error as { details: unknown }).details).toEqual([{ path: 'x' }]);
    const five = errorAnswer(
      'r',
      new AirlockError('hubspot_error', 'bad', { details: { arn: 'arn:aws:x' } }),
    );
    expect(five.body.error).toEqual({ code: 'hubspot_error', message: 'bad' });
  });

  it('turns an unexpected error into a generic 500 without its message or stack', () => {
    const answer = errorAnswer('r', new Error('ENOENT /secret/path token=abc'));
    expect(answer.status).toBe(500);
    expect(JSON.stringify(answer.body)).not.toMatch(/secret|token|ENOENT|at /);
  });
});
