/**
 * Runs the HubSpot emulator in a worker thread, so that "HubSpot" has its own event loop (and,
 * on a multi-core machine, its own core) instead of sharing the gateway's. Started by
 * `emulator-thread.ts`; it answers `{type: 'stats'}` and `{type: 'close'}` messages.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type EmulatorOptions, startEmulator } from '../lambdas/emulator/server';

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('emulator-worker.ts runs as a worker thread');
  const emulator = await startEmulator(workerData as EmulatorOptions);
  port.on('message', (message: { type: string }) => {
    if (message.type === 'stats') {
      const byStatus: Record<string, number> = {};
      for (const r of emulator.requests) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
      port.postMessage({ type: 'stats', requests: emulator.requests.length, byStatus });
    } else if (message.type === 'close') {
      void emulator.close().then(() => {
        port.postMessage({ type: 'closed' });
        port.close();
      });
    }
  });
  port.postMessage({ type: 'ready', url: emulator.url });
}

void main();
