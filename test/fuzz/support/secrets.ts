import fc from 'fast-check';

/**
 * Credentials the fuzzer embeds in requests, and the scan that must never find one in an answer
 * or in anything the gateway stores. Shapes are made up and obviously fake: an AWS access key id
 * (`AKIA` + 16), a HubSpot private-app token (`pat-na1-<uuid>`), a Slack bot token (`xoxb-…`).
 */

const UPPER_DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'.split('');
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.split('');
const DIGITS = '0123456789'.split('');

const chars = (alphabet: string[], length: number) =>
  fc
    .array(fc.constantFrom(...alphabet), { minLength: length, maxLength: length })
    .map((a) => a.join(''));

export const awsKeyId = chars(UPPER_DIGITS, 16).map((s) => `AKIA${s}`);
export const hubspotToken = fc.uuid({ version: 4 }).map((u) => `pat-na1-${u}`);
export const slackToken = fc
  .tuple(chars(DIGITS, 12), chars(DIGITS, 13), chars(ALNUM, 24))
  .map(([a, b, c]) => `xoxb-${a}-${b}-${c}`);

/** Credential shapes as the scan looks for them (any occurrence, no word boundaries). */
const SHAPES: readonly RegExp[] = [
  /(?:AKIA|ASIA)[0-9A-Z]{16}/,
  /pat-[a-z]{2}\d-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i,
  /xox[abposre]-[A-Za-z0-9-]{10,}/,
];

/** A secret of the deployment, or a shaped credential. */
export function secretShapes(known: readonly string[]): fc.Arbitrary<string> {
  return known.length > 0
    ? fc.oneof(fc.constantFrom(...known), awsKeyId, hubspotToken, slackToken)
    : fc.oneof(awsKeyId, hubspotToken, slackToken);
}

function decodeJsonEscapes(text: string): string {
  return text.replace(/\\u([0-9a-fA-F]{4})|\\(["\\/bfnrt])/g, (_m, hex?: string, c?: string) => {
    if (hex) return String.fromCharCode(Number.parseInt(hex, 16));
    return (
      ({ b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' } as Record<string, string>)[c ?? ''] ??
      c ??
      ''
    );
  });
}

function percentDecode(text: string): string {
  return text.replace(/(?:%[0-9a-fA-F]{2})+/g, (m) => {
    try {
      return decodeURIComponent(m);
    } catch {
      return m;
    }
  });
}

/**
 * The readings of a text a person (or a program) would get: as written, with JSON escapes
 * decoded (twice: a refused body is kept as raw text inside a JSON record), and percent-decoded.
 */
export function readings(text: string): string[] {
  const out = [text];
  if (text.includes('\\')) {
    const once = decodeJsonEscapes(text);
    out.push(once);
    if (once.includes('\\')) out.push(decodeJsonEscapes(once));
  }
  if (text.includes('%')) out.push(percentDecode(text));
  return out;
}

/**
 * The first secret found in `text` in any of its readings: one of `known` (the deployment's
 * keys and tokens) or a credential shape. Returns a short, non-secret description.
 */
export function findSecret(text: string, known: readonly string[]): string | null {
  for (const reading of readings(text)) {
    const how = reading === text ? '' : ' (once decoded)';
    for (const k of known) {
      if (k.length >= 8 && reading.includes(k)) {
        return `a deployment secret (${k.slice(0, k.indexOf('_') + 1 || 4)}…)${how}`;
      }
    }
    for (const shape of SHAPES) {
      const m = shape.exec(reading);
      if (m) return `a credential shaped ${m[0].slice(0, 4)}…${how}`;
    }
  }
  return null;
}

/** How a secret is spelled in the JSON text. */
export type Spelling = 'plain' | 'escaped-all' | 'escaped-some' | 'escaped-upper';

export const spelling: fc.Arbitrary<Spelling> = fc.constantFrom(
  'plain',
  'escaped-all',
  'escaped-some',
  'escaped-upper',
);
