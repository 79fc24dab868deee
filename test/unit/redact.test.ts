import { REDACTED, redactSecrets } from '../../lambdas/core/redact';
import { FAKE_AWS_KEY_ID, FAKE_HUBSPOT_TOKEN, FAKE_SLACK_SHORT } from '../helpers/fake-credentials';

describe('secret redaction', () => {
  const secret = 'pat-na1-0123456789abcdef';

  it('replaces a secret wherever it stands in a record, deeply', () => {
    const record = {
      agent_prompt: `use ${secret} please`,
      structured_action: { action: 'search_company', name: secret, tags: [`x${secret}y`] },
      response_status: 400,
      nothing: null,
    };
    expect(redactSecrets(record, [secret])).toEqual({
      agent_prompt: `use ${REDACTED} please`,
      structured_action: { action: 'search_company', name: REDACTED, tags: [`x${REDACTED}y`] },
      response_status: 400,
      nothing: null,
    });
  });

  it('returns the record unchanged when no secret is in it', () => {
    const record = { agent_prompt: 'hello', n: 1 };
    expect(redactSecrets(record, [secret])).toBe(record);
  });

  it('finds a secret that JSON would escape', () => {
    const odd = 'key"with\\quotes';
    expect(redactSecrets({ a: `x${odd}` }, [odd])).toEqual({ a: `x${REDACTED}` });
  });

  it('redacts credentials by their shape, without knowing them', () => {
    const pat = FAKE_HUBSPOT_TOKEN;
    const record = {
      agent_prompt: `token ${pat} and ${FAKE_SLACK_SHORT} and ${FAKE_AWS_KEY_ID}`,
    };
    expect(redactSecrets(record, [])).toEqual({
      agent_prompt: `token ${REDACTED} and ${REDACTED} and ${REDACTED}`,
    });
  });

  it('ignores secrets too short to be real, which would redact ordinary words', () => {
    expect(redactSecrets({ a: 'the cat' }, ['cat'])).toEqual({ a: 'the cat' });
  });
});
