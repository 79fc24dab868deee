import fc from 'fast-check';

/**
 * What the fuzz files share: the seed, the fast-check run, the properties and how their
 * violations are reported, and the one line each file prints.
 *
 * Replay a run: `FUZZ_SEED=<seed> npx jest test/fuzz` (the seed is printed by every file, and
 * by fast-check with the counterexample on a failure; `FUZZ_PATH=<path>` replays exactly the
 * failing run fast-check names). `FUZZ_SHRINK=1` shrinks a failure to a minimal counterexample
 * instead of stopping at the first one. `FUZZ_CHECK=no-5xx,one-record` checks only those
 * properties (to see one fix through while others are still open; the default checks all).
 */

export const PROPERTIES = {
  'no-5xx': 'never a 5xx answer',
  answered: 'every connection is answered (no reset, no hang-up, no timeout)',
  'request-id':
    "every answer is JSON and its request_id equals its X-Request-Id (a write's status names the write)",
  'one-record': 'exactly one final audit record per answered request id, with its status',
  'no-secret-answer': 'no secret in any answer',
  'no-secret-stored': 'no secret in any audit record or anything else the gateway stores',
  redacted: 'a credential in the prompt is stored as [REDACTED]',
  'invalid-refused': 'an invalid request is refused with a 4xx',
  'no-hubspot-invalid': 'no HubSpot call for an invalid request, and none unaccounted for',
} as const;

export type Property = keyof typeof PROPERTIES;

export interface Violation {
  property: Property;
  /** A short class of the failure ("503 audit_unavailable"), for grouping. */
  cause: string;
  /** The request it is about (a summary), if any. */
  request?: string;
  detail?: string;
}

const checked = new Set<string>(
  (process.env.FUZZ_CHECK ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

for (const name of checked) {
  if (!(name in PROPERTIES)) {
    throw new Error(
      `FUZZ_CHECK names ${name}; the properties are ${Object.keys(PROPERTIES).join(', ')}`,
    );
  }
}

/** Whether this run checks the property (all of them unless FUZZ_CHECK names some). */
export function checks(property: Property): boolean {
  return checked.size === 0 || checked.has(property);
}

/** The seed of this run: FUZZ_SEED, or a fresh one (always printed). */
export function fuzzSeed(): number {
  const env = process.env.FUZZ_SEED;
  if (env !== undefined && env.trim() !== '') {
    const n = Number(env);
    if (!Number.isInteger(n)) throw new Error(`FUZZ_SEED must be an integer, got ${env}`);
    return n | 0;
  }
  return (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0;
}

/** fast-check's parameters for a run of `numRuns` batches. */
export function fcParams<T>(seed: number, numRuns: number): fc.Parameters<T> {
  const shrink = process.env.FUZZ_SHRINK === '1';
  const path = process.env.FUZZ_PATH;
  return {
    seed,
    numRuns,
    endOnFailure: !shrink,
    ...(path ? { path } : {}),
    // The batch's error (its violations, grouped) goes into fast-check's report.
    includeErrorInReport: true,
  };
}

/** Cuts a text for a report, escaping what would not print. */
export function clip(text: string, max = 160): string {
  const shown = JSON.stringify(text.length > max ? text.slice(0, max) : text);
  return text.length > max ? `${shown}… (${text.length} chars)` : shown;
}

/** What a reason looks like once the particulars (code points, numbers) are taken out. */
export function reasonClass(reason: string): string {
  return reason
    .replace(/U\+[0-9A-F]{4,6} /g, '')
    .replace(/\b\d+\b/g, '#')
    .slice(0, 120);
}

/**
 * Throws one error listing a batch's violations, grouped by property and cause, with one
 * example request each.
 */
export function assertNoViolations(violations: Violation[]): void {
  const relevant = violations.filter((v) => checks(v.property));
  if (relevant.length === 0) return;
  const groups = new Map<string, { v: Violation; count: number }>();
  for (const v of relevant) {
    const key = `${v.property}\u0000${v.cause}`;
    const g = groups.get(key);
    if (g) g.count += 1;
    else groups.set(key, { v, count: 1 });
  }
  const lines = [...groups.values()].map(({ v, count }) =>
    [
      `[${v.property}: ${PROPERTIES[v.property]}] ${v.cause}${count > 1 ? ` (x${count})` : ''}`,
      v.request ? `    request: ${v.request}` : '',
      v.detail ? `    detail: ${v.detail}` : '',
    ]
      .filter(Boolean)
      .join('\n'),
  );
  throw new Error(`${relevant.length} violation(s) of the fuzz properties:\n${lines.join('\n')}`);
}

/** Counts requests and prints the one line of the file: count, time, rate and seed. */
export class Meter {
  private started = 0;
  private ended = 0;
  count = 0;

  constructor(
    readonly name: string,
    readonly seed: number,
  ) {}

  start(): void {
    this.started = Date.now();
  }

  stop(): void {
    this.ended = Date.now();
  }

  line(): string {
    const seconds = Math.max(0.001, ((this.ended || Date.now()) - this.started) / 1000);
    return `fuzz ${this.name}: ${this.count} requests in ${seconds.toFixed(1)} s (${Math.round(
      this.count / seconds,
    )} req/s), seed ${this.seed}; replay: FUZZ_SEED=${this.seed} npx jest test/fuzz`;
  }
}

/** A value fast-check prints with `describe` instead of walking it (bodies are up to 1 MB). */
export function printable<T extends object>(value: T, describe: (v: T) => string): T {
  Object.defineProperty(value, fc.toStringMethod, {
    value: () => describe(value),
    enumerable: false,
  });
  return value;
}
