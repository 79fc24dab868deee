/**
 * Times as an operator types them under stress: an ISO 8601 time (`2026-11-29T03:00Z`,
 * `2026-11-29`), `now`, or a duration ago (`90m`, `2h`, `7d`).
 */
export function parseTime(text: string, nowMs: number): number {
  const t = text.trim();
  if (t === 'now') return nowMs;
  const ago = /^(\d{1,6})([smhd])$/.exec(t);
  if (ago) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
      ago[2] as 's' | 'm' | 'h' | 'd'
    ];
    return nowMs - Number(ago[1]) * unit;
  }
  // An ISO date or date-time; one without a zone is read as UTC (the audit log's zone).
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(t)) {
    const zoned = /(Z|[+-]\d{2}:?\d{2})$/.test(t) || t.length === 10 ? t : `${t}Z`;
    const ms = Date.parse(zoned.replace(' ', 'T'));
    if (Number.isFinite(ms)) return ms;
  }
  throw new Error(
    `"${text.slice(0, 40)}" is not a time: use ISO 8601 (2026-11-29T03:00Z), "now", or a duration ago (90m, 2h, 7d).`,
  );
}

export interface TimeWindow {
  since: string;
  until: string;
}

/** `--since` and `--until` (default now) as an ISO window; `since` must come first. */
export function parseWindow(
  since: string | undefined,
  until: string | undefined,
  nowMs: number,
): TimeWindow {
  if (!since) throw new Error('--since is required (for example --since 24h).');
  const from = parseTime(since, nowMs);
  const to = until ? parseTime(until, nowMs) : nowMs;
  if (!(from < to)) throw new Error('--since must be before --until.');
  return { since: new Date(from).toISOString(), until: new Date(to).toISOString() };
}
