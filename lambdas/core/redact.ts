import { checkWalkDepth } from './bounded';
import { normalizeText, stripForMatching } from './text';

/** What replaces a secret found in data the gateway keeps. */
export const REDACTED = '[REDACTED]';

/**
 * Credentials recognised by their shape, for places that do not hold the values themselves
 * (the validation function on AWS never holds a HubSpot token): HubSpot private-app tokens
 * (`pat-na1-<uuid>`), Slack tokens, AWS access key ids.
 */
export const SECRET_PATTERNS: readonly RegExp[] = [
  /\bpat-[a-z]{2}\d-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi,
  /\bxox[abposre]-[A-Za-z0-9-]{10,}/g,
  /\b(AKIA|ASIA)[0-9A-Z]{16}\b/g,
];

const SECRET_TESTS = SECRET_PATTERNS.map((p) => new RegExp(p.source, p.flags.replace('g', '')));

/** The known secrets worth looking for (a short string would match ordinary text). */
function activeSecrets(secrets: readonly string[]): string[] {
  return secrets.filter((s) => s.length >= 8);
}

const JSON_ESCAPE = /\\(?:u([0-9a-fA-F]{4})|(["\\/bfnrt]))/g;
const SIMPLE_ESCAPES: Record<string, string> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

/**
 * What a string means, for finding a credential in it whatever its spelling: JSON escapes
 * decoded (a refused body is kept as raw text), compatibility forms folded (NFKC: full-width
 * letters are letters) and hidden characters removed (a zero-width space inside a key).
 */
export function meaningOf(text: string): string {
  const decoded = text.includes('\\')
    ? text.replace(JSON_ESCAPE, (_m, hex: string | undefined, simple: string | undefined) =>
        hex !== undefined
          ? String.fromCharCode(Number.parseInt(hex, 16))
          : (SIMPLE_ESCAPES[simple ?? ''] ?? ''),
      )
    : text;
  return stripForMatching(normalizeText(decoded));
}

function literalSecret(text: string, active: readonly string[]): boolean {
  return active.some((s) => text.includes(s)) || SECRET_TESTS.some((p) => p.test(text));
}

/**
 * True when `text` holds a known secret or something shaped like a credential, as written or
 * once decoded and folded ({@link meaningOf}).
 */
export function containsSecret(text: string, secrets: readonly string[]): boolean {
  const active = activeSecrets(secrets);
  return literalSecret(text, active) || literalSecret(meaningOf(text), active);
}

/** True when any string of `value` (member names included) holds a secret. Iterative. */
export function valueHoldsSecret(value: unknown, secrets: readonly string[]): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (containsSecret(v, secrets)) return true;
    } else if (Array.isArray(v)) {
      stack.push(...v);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) stack.push(k, x);
    }
  }
  return false;
}

function redactString(text: string, active: readonly string[]): string {
  let out = text;
  for (const s of active) if (out.includes(s)) out = out.split(s).join(REDACTED);
  for (const p of SECRET_PATTERNS) out = out.replace(p, REDACTED);
  // A secret that shows only once decoded cannot be cut out of the spelling: the whole string goes.
  return literalSecret(meaningOf(out), active) ? REDACTED : out;
}

/**
 * Replaces every secret in every string of `value` (member names included). The audit log
 * cannot be edited afterwards (Object Lock on AWS), so a token an agent pastes into a prompt or
 * an action must be cut out before the record is written, not after. The walk is bounded by
 * {@link checkWalkDepth}; records are clamped before they get here.
 */
export function redactSecrets<T>(value: T, secrets: readonly string[]): T {
  const active = activeSecrets(secrets);
  if (!valueHoldsSecret(value, active)) return value;
  const walk = (v: unknown, depth: number): unknown => {
    checkWalkDepth(depth);
    if (typeof v === 'string') return redactString(v, active);
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        Object.defineProperty(out, redactString(k, active), {
          value: walk(x, depth + 1),
          enumerable: true,
          writable: true,
        });
      }
      return out;
    }
    return v;
  };
  return walk(value, 0) as T;
}
