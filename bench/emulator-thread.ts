import { once } from 'node:events';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { type EmulatorOptions, startEmulator } from '../lambdas/emulator/server';

export interface EmulatorStats {
  /** Requests the emulator received. */
  requests: number;
  /** How many it answered with each status (0: unanswered). */
  byStatus: Record<string, number>;
}

export interface BenchEmulator {
  url: string;
  where: 'worker thread' | 'main thread';
  stats(): Promise<EmulatorStats>;
  close(): Promise<void>;
}

/**
 * Starts the HubSpot emulator, in a worker thread (the default: the remote HubSpot should not
 * share the gateway's event loop) or in the main thread.
 */
export async function startBenchEmulator(
  options: EmulatorOptions,
  inWorker: boolean,
): Promise<BenchEmulator> {
  if (!inWorker) {
    const emulator = await startEmulator(options);
    return {
      url: emulator.url,
      where: 'main thread',
      stats: async () => {
        const byStatus: Record<string, number> = {};
        for (const r of emulator.requests) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
        return { requests: emulator.requests.length, byStatus };
      },
      close: () => emulator.close(),
    };
  }
  // tsx does not hook worker threads by itself: the worker registers it, then loads the file.
  const bootstrap = [
    `require(${JSON.stringify(require.resolve('tsx/cjs'))});`,
    `require(${JSON.stringify(path.join(__dirname, 'emulator-worker.ts'))});`,
  ].join('\n');
  const worker = new Worker(bootstrap, { eval: true, workerData: options });
  const next = async <T>(type: string): Promise<T> => {
    for (;;) {
      const [message] = (await once(worker, 'message')) as [{ type: string }];
      if (message.type === type) return message as T;
    }
  };
  const ready = await next<{ url: string }>('ready');
  let closing: Promise<void> | undefined;
  return {
    url: ready.url,
    where: 'worker thread',
    async stats() {
      const answer = next<EmulatorStats>('stats');
      worker.postMessage({ type: 'stats' });
      const { requests, byStatus } = await answer;
      return { requests, byStatus };
    },
    close() {
      closing ??= (async () => {
        const closed = next('closed');
        worker.postMessage({ type: 'close' });
        await closed;
        await worker.terminate();
      })();
      return closing;
    },
  };
}
