import type { Readable } from 'node:stream';

/**
 * The small HTTP kit the Node servers share (the local gateway and the HubSpot emulator): a
 * request body read within a size cap. Header lookup lives in the core (`headerValue`), since the
 * Lambda edge needs it too.
 */

/** What reading a body gave: the text, or the fact that it was larger than allowed, or a failure. */
export type BodyRead =
  | { kind: 'body'; body: string }
  | { kind: 'too_large'; bytes: number }
  | { kind: 'failed'; error: Error };

export interface BodyReadOptions {
  /** The largest body accepted, in bytes. */
  maxBytes: number;
  /**
   * `stop`: answer as soon as the cap is passed (the caller decides what to do with the rest);
   * `drain`: keep reading to the end, discarding, and answer then. @default 'drain'
   */
  overLimit?: 'stop' | 'drain';
  /** Called with each chunk's size as it arrives (for example to track a connection). */
  onChunk?: (bytes: number) => void;
  /**
   * Called with the result the moment the read settles, in the same tick as the chunk, end or
   * error that settled it (the promise resolves a microtask later): for a caller whose next
   * event on the same connection must already see the read's outcome.
   */
  onSettled?: (result: BodyRead) => void;
}

/** Reads a request body as UTF-8 text within `maxBytes`; never holds more than the cap in memory. */
export function readBoundedBody(stream: Readable, options: BodyReadOptions): Promise<BodyRead> {
  const overLimit = options.overLimit ?? 'drain';
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (result: BodyRead) => {
      if (settled) return;
      settled = true;
      options.onSettled?.(result);
      resolve(result);
    };
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      options.onChunk?.(chunk.length);
      if (size > options.maxBytes) {
        chunks.length = 0;
        if (overLimit === 'stop') settle({ kind: 'too_large', bytes: size });
        return;
      }
      chunks.push(chunk);
    });
    stream.on('end', () => {
      settle(
        size > options.maxBytes
          ? { kind: 'too_large', bytes: size }
          : { kind: 'body', body: Buffer.concat(chunks).toString('utf8') },
      );
    });
    stream.on('error', (error: Error) => settle({ kind: 'failed', error }));
  });
}
