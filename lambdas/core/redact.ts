/** What replaces a secret found in data the gateway keeps. */
export const REDACTED = '[REDACTED]';

/**
 * Replaces every occurrence of a known secret in every string of `value` (deeply). The audit
 * log cannot be edited afterwards (Object Lock on AWS), so a token an agent pastes into a
 * prompt or an action must be cut out before the record is written, not after.
 */
export function redactSecrets<T>(value: T, secrets: readonly string[]): T {
  const active = secrets.filter((s) => s.length >= 8);
  if (active.length === 0) return value;
  // Fast path: one serialisation tells whether any secret is there at all (it almost never is).
  const text = JSON.stringify(value) ?? '';
  if (!active.some((s) => text.includes(s) || text.includes(JSON.stringify(s).slice(1, -1)))) {
    return value;
  }
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') {
      let out = v;
      for (const s of active) if (out.includes(s)) out = out.split(s).join(REDACTED);
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
