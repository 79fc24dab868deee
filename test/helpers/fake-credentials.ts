/**
 * Credential-shaped test values, assembled at run time so that no literal in the repository
 * looks like a real credential to a secret scanner. None of them was ever valid.
 */
export const FAKE_HUBSPOT_TOKEN = ['pat', 'na1', '0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0'].join('-');
export const FAKE_HUBSPOT_TOKEN_EU = ['pat', 'eu1', '0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0'].join(
  '-',
);
export const FAKE_SLACK_TOKEN = [
  'xoxb',
  '1234567890',
  '0987654321',
  'AbCdEfGhIjKlMnOpQrStUvWx',
].join('-');
export const FAKE_SLACK_SHORT = ['xoxb', '1234567890', 'abcdefghij'].join('-');
export const FAKE_AWS_KEY_ID = ['AKIA', 'ABCDEFGHIJKLMNOP'].join('');
/** An AWS key id with digits, as issued ones have (the lower-case form is matched only then). */
export const FAKE_AWS_KEY_ID_DIGITS = ['AKIA', 'IOSFODNN7EXAMPLE'].join('');
