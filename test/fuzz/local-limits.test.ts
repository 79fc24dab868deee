import fc from 'fast-check';
import { startTestApp, type TestApp } from '../helpers/local-app';
import { assertNoViolations, fcParams, fuzzSeed, Meter } from './support/harness';
import { httpRequest } from './support/http-requests';
import { LocalFuzz } from './support/local-runner';

/**
 * The local server over real HTTP with its default rate limits (and HubSpot's, in the
 * emulator), and the operator turning the kill switch and read-only mode on and off while the
 * requests run: refusals of every kind, still one audit record each, still no secret, still no
 * HubSpot call for an invalid request. Replay: FUZZ_SEED=<seed> npx jest test/fuzz
 */

const RUNS = 100;
/** The least this file must send; with local.test.ts and lambda.test.ts, over 10,000. */
const MIN_REQUESTS = 1300;

const DEFAULT_LIMITS = {
  AIRLOCK_READS_PER_MINUTE: '30',
  AIRLOCK_READS_PER_HOUR: '300',
  AIRLOCK_DISTINCT_RECORDS_PER_HOUR: '200',
  AIRLOCK_HUBSPOT_SEARCH_PER_SECOND: '4',
  AIRLOCK_HUBSPOT_CALLS_PER_TEN_SECONDS: '90',
};

describe('fuzz: the local server over HTTP (default limits, kill switch in use)', () => {
  const seed = fuzzSeed();
  const meter = new Meter('local-limits', seed);
  let t: TestApp;
  let fuzz: LocalFuzz;

  beforeAll(async () => {
    t = await startTestApp(DEFAULT_LIMITS);
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
    const batch = fc.array(httpRequest(fuzz.secrets, { operatorControl: true }), {
      minLength: 16,
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
