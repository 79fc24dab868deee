/** Latency statistics for the bench: nearest-rank percentiles over milliseconds. */

export interface Summary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  /** Successful requests per second of wall time. */
  rps: number;
}

/** The nearest-rank percentile `p` (0..100) of an ascending array; NaN when it is empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  const index = Math.min(sorted.length - 1, Math.max(0, rank - 1));
  return sorted[index] ?? Number.NaN;
}

/** Summarises latencies (ms) of the successful requests of a run that lasted `elapsedMs`. */
export function summarize(latenciesMs: readonly number[], elapsedMs: number): Summary {
  const sorted = Float64Array.from(latenciesMs).sort();
  let total = 0;
  for (const v of sorted) total += v;
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length > 0 ? (sorted[sorted.length - 1] ?? Number.NaN) : Number.NaN,
    mean: sorted.length > 0 ? total / sorted.length : Number.NaN,
    rps: elapsedMs > 0 ? (sorted.length * 1000) / elapsedMs : Number.NaN,
  };
}
