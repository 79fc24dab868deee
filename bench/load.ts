import { performance } from 'node:perf_hooks';

export interface LoadOptions {
  /** Requests kept in flight (closed loop: each slot sends its next request when one ends). */
  concurrency: number;
  /** Requests to send in total. */
  requests: number;
  /** Stop issuing new requests after this long, even if fewer than `requests` were sent. */
  maxMs: number;
  /**
   * Sends one request and resolves when its whole answer has been read and checked; rejects
   * (with a short, stable message: it is used to group errors) when the answer is wrong.
   */
  send: () => Promise<void>;
}

export interface LoadResult {
  /** Latency of each successful request, in milliseconds, in completion order. */
  latenciesMs: number[];
  /** Failed requests, by error message. */
  errors: Map<string, number>;
  errorCount: number;
  /** Wall time from the first request sent to the last answer received. */
  elapsedMs: number;
  /** Whether the run stopped because `maxMs` passed before `requests` were sent. */
  timedOut: boolean;
}

/** A closed-loop load: `concurrency` senders share a budget of `requests` requests. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const latenciesMs: number[] = [];
  const errors = new Map<string, number>();
  let errorCount = 0;
  let issued = 0;
  let timedOut = false;
  const started = performance.now();
  const deadline = started + options.maxMs;

  const sender = async () => {
    for (;;) {
      if (issued >= options.requests) return;
      const t0 = performance.now();
      if (t0 >= deadline) {
        timedOut = true;
        return;
      }
      issued += 1;
      try {
        await options.send();
        latenciesMs.push(performance.now() - t0);
      } catch (err) {
        errorCount += 1;
        const key = err instanceof Error ? err.message : String(err);
        errors.set(key, (errors.get(key) ?? 0) + 1);
      }
    }
  };

  await Promise.all(Array.from({ length: options.concurrency }, sender));
  return {
    latenciesMs,
    errors,
    errorCount,
    elapsedMs: performance.now() - started,
    timedOut,
  };
}
