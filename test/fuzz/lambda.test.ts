import fc from 'fast-check';
import { assertNoViolations, fcParams, fuzzSeed, Meter } from './support/harness';
import { eventArb, SlackFuzz, slackArb, ValidationFuzz } from './support/lambda-runner';

/**
 * The Lambda handlers in process, with in-memory ports: API Gateway events for the validation
 * function (the same bodies as the local fuzz), and forged, unsigned and garbage requests for
 * the Slack interactions function. Replay: FUZZ_SEED=<seed> npx jest test/fuzz
 */

const VALIDATION_RUNS = 300;
const SLACK_RUNS = 80;
/** The least this file must send; with local.test.ts and local-limits.test.ts, over 10,000. */
const MIN_VALIDATION = 4000;
const MIN_SLACK = 1000;

describe('fuzz: the Lambda handlers', () => {
  const seed = fuzzSeed();
  const meter = new Meter('lambda', seed);
  const validation = new ValidationFuzz();
  const slack = new SlackFuzz();

  beforeAll(() => meter.start());
  afterAll(() => {
    meter.stop();
    meter.count = validation.sent + slack.sent;
    console.log(meter.line());
  });

  it(`the validation function keeps every property over at least ${MIN_VALIDATION} events`, async () => {
    // Runs × the least batch is over the minimum below, whatever the seed.
    const batch = fc.array(eventArb([]), { minLength: 14, maxLength: 32, size: 'max' });
    await fc.assert(
      fc.asyncProperty(batch, async (events) => {
        assertNoViolations(await validation.batch(events));
      }),
      fcParams(seed, VALIDATION_RUNS),
    );
    expect(validation.sent).toBeGreaterThanOrEqual(MIN_VALIDATION);
  }, 240_000);

  it(`the Slack interactions function keeps every property over at least ${MIN_SLACK} requests`, async () => {
    // Runs × the least batch is over the minimum below, whatever the seed.
    const batch = fc.array(slackArb(), { minLength: 13, maxLength: 32, size: 'max' });
    await fc.assert(
      fc.asyncProperty(batch, async (requests) => {
        assertNoViolations(await slack.batch(requests));
      }),
      fcParams(seed, SLACK_RUNS),
    );
    expect(slack.sent).toBeGreaterThanOrEqual(MIN_SLACK);
  }, 240_000);
});
