import fc from 'fast-check';
import { startTestApp, type TestApp } from '../helpers/local-app';
import { assertNoViolations, fcParams, fuzzSeed, Meter } from './support/harness';
import { httpRequest } from './support/http-requests';
import { LocalFuzz } from './support/local-runner';

/**
 * The local server over real HTTP, rate limits out of the way: batches of generated requests
 * sent at once (envelopes, actions, nested and wide values, Unicode of every general category,
 * escapes, sizes at and around each bound, the deployment's secrets, other routes, keys,
 * methods, headers), every property checked on every answer, record and stored file.
 * Replay: FUZZ_SEED=<seed> npx jest test/fuzz (see support/harness.ts).
 */

/** Batches of 1 to 32 requests (about 16 on average). */
const RUNS = 400;
/** The least this file must send; with lambda.test.ts and local-limits.test.ts, over 10,000. */
const MIN_REQUESTS = 5500;

describe('fuzz: the local server over HTTP (no rate limits)', () => {
  const seed = fuzzSeed();
  const meter = new Meter('local', seed);
  let t: TestApp;
  let fuzz: LocalFuzz;

  beforeAll(async () => {
    t = await startTestApp(
      {},
      { emulatorRateLimits: { perTenSeconds: 1e9, searchPerSecond: 1e9, daily: 1e12 } },
    );
    fuzz = new LocalFuzz(t);
  });
  afterAll(async () => {
    meter.stop();
    meter.count = fuzz?.sent ?? 0;
    console.log(meter.line());
    fuzz?.close();
    await t?.close();
  });

  it(`keeps every property over at least ${MIN_REQUESTS} generated requests`, async () => {
    meter.start();
    // Runs × the least batch is over the minimum below, whatever the seed.
    const batch = fc.array(httpRequest(fuzz.secrets), {
      minLength: 14,
      maxLength: 32,
      size: 'max',
    });
    await fc.assert(
      fc.asyncProperty(batch, async (requests) => {
        assertNoViolations(await fuzz.batch(requests));
      }),
      fcParams(seed, RUNS),
    );
    expect(fuzz.sent).toBeGreaterThanOrEqual(MIN_REQUESTS);
  }, 240_000);
});
