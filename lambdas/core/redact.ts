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

/** True when `text` contains a known secret or something shaped like a credential. */
export function containsSecret(text: string, secrets: readonly string[]): boolean {
  const active = secrets.filter((s) => s.length >= 8);
  if (active.some((s) => text.includes(s) || text.includes(JSON.stringify(s).slice(1, -1)))) {
    return true;
  }
  return SECRET_PATTERNS.some((p) => new RegExp(p.source, p.flags.replace('g', '')).test(text));
}

/**
 * Replaces every occurrence of a known secret in every string of `value` (deeply). The audit
 * log cannot be edited afterwards (Object Lock on AWS), so a token an agent pastes into a
 * prompt or an action must be cut out before the record is written, not after.
 */
export function redactSecrets<T>(value: T, secrets: readonly string[]): T {
  const active = secrets.filter((s) => s.length >= 8);
  // Fast path: one serialisation tells whether any secret is there at all (it almost never is).
  if (!containsSecret(JSON.stringify(value) ?? '', active)) return value;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') {
      let out = v;
      for (const s of active) if (out.includes(s)) out = out.split(s).join(REDACTED);
      for (const p of SECRET_PATTERNS) out = out.replace(p, REDACTED);
      return out;
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(value) as T;
}
