import { PassThrough } from 'node:stream';
import { readBoundedBody } from '../../lambdas/adapters/http-kit';

function streamOf(parts: (string | Error)[]): PassThrough {
  const s = new PassThrough();
  setImmediate(() => {
    for (const p of parts) {
      if (p instanceof Error) {
        s.destroy(p);
        return;
      }
      s.write(p);
    }
    s.end();
  });
  return s;
}

describe('readBoundedBody', () => {
  it('reads a body within the cap, multi-byte characters split across chunks included', async () => {
    const euro = Buffer.from('€');
    const s = new PassThrough();
    setImmediate(() => {
      s.write(Buffer.from('{"a":"'));
      s.write(euro.subarray(0, 1));
      s.write(euro.subarray(1));
      s.end(Buffer.from('"}'));
    });
    await expect(readBoundedBody(s, { maxBytes: 100 })).resolves.toEqual({
      kind: 'body',
      body: '{"a":"€"}',
    });
  });

  it('accepts a body of exactly the cap and refuses one byte more, reading it to the end', async () => {
    await expect(readBoundedBody(streamOf(['x'.repeat(10)]), { maxBytes: 10 })).resolves.toEqual({
      kind: 'body',
      body: 'x'.repeat(10),
    });
    await expect(
      readBoundedBody(streamOf(['x'.repeat(6), 'x'.repeat(5), 'tail']), { maxBytes: 10 }),
    ).resolves.toEqual({ kind: 'too_large', bytes: 15 });
  });

  it('with overLimit "stop" answers as soon as the cap is passed', async () => {
    const s = new PassThrough();
    const read = readBoundedBody(s, { maxBytes: 4, overLimit: 'stop' });
    s.write('12345');
    await expect(read).resolves.toEqual({ kind: 'too_large', bytes: 5 });
    s.destroy();
  });

  it('reports a stream failure, and counts every chunk', async () => {
    const seen: number[] = [];
    const result = await readBoundedBody(streamOf(['ab', new Error('reset')]), {
      maxBytes: 10,
      onChunk: (n) => seen.push(n),
    });
    expect(result.kind).toBe('failed');
    expect(seen).toEqual([2]);
  });
});
