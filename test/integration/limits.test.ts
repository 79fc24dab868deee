import { MemoryRateLimiter } from '../../lambdas/adapters/local/memory-rate-limiter';
import type { RateLimiter } from '../../lambdas/core/ports';
import { DEMO } from '../../lambdas/emulator/seed';
import { errorCode, NO_LIMITS, startTestApp, type TestApp } from '../helpers/local-app';
import { manualClock } from '../helpers/time';

const read = (user: string) => ({
  action: { action: 'search_company', domain: 'acme.com' },
  envelope: { user_id: user, agent_prompt: 'Find Acme' },
});

describe('enforced read limits, locally', () => {
  let t: TestApp;
  // Five seconds into a minute: the first refusal's Retry-After is the minute's last 55 s.
  const time = manualClock(Date.parse('2026-11-29T10:00:05.000Z'));
  beforeAll(async () => {
    t = await startTestApp(
      { ...NO_LIMITS, AIRLOCK_READS_PER_MINUTE: '5', AIRLOCK_READS_PER_HOUR: '8' },
      {
        clock: time,
        emulatorRateLimits: { perTenSeconds: 1e6, searchPerSecond: 1e6 },
      },
    );
  });
  afterAll(() => t.close());

  const act = (user: string) => t.act(read(user).action, read(user).envelope);

  it('admits exactly the limit, refuses one more with Retry-After, and audits the refusal', async () => {
    for (let i = 0; i < 5; i += 1) expect((await act('u-boundary')).status).toBe(200);
    const before = t.app.emulator?.requests.length;
    const over = await act('u-boundary');
    expect([over.status, errorCode(over.body)]).toEqual([429, 'rate_limited']);
    expect(Number(over.headers.get('retry-after'))).toBe(55);
    expect(t.app.emulator?.requests.length).toBe(before);
    const record = (await t.audit()).find((r) => r.request_id === over.body.request_id);
    expect(record).toMatchObject({
      outcome: 'rejected',
      reason: 'rate_limited',
      response_status: 429,
      user_id: 'u-boundary',
    });
  });

  it('counts U-42, u-42 and a full-width ｕ-42 as one user', async () => {
    for (let i = 0; i < 5; i += 1) expect((await act('u-case')).status).toBe(200);
    for (const variant of ['U-CASE', 'ｕ-case']) {
      const res = await act(variant);
      expect([res.status, errorCode(res.body)]).toEqual([429, 'rate_limited']);
    }
    // Recorded under the one canonical id.
    const refusals = (await t.audit()).filter(
      (r) => r.user_id === 'u-case' && r.response_status === 429,
    );
    expect(refusals).toHaveLength(2);
    const refusal = refusals[0];
    expect(refusal).toMatchObject({ reason: 'rate_limited', rule: 'reads_per_user' });
  });

  it('keeps users apart', async () => {
    expect((await act('u-other')).status).toBe(200);
  });

  it('opens again when the minute is over, until the hour is used up', async () => {
    time.advance(60_000);
    for (let i = 0; i < 3; i += 1) expect((await act('u-boundary')).status).toBe(200);
    const hourly = await act('u-boundary');
    expect([hourly.status, errorCode(hourly.body)]).toEqual([429, 'rate_limited']);
    expect(Number(hourly.headers.get('retry-after'))).toBeGreaterThan(60);
  });

  it('never admits more than the limit among 50 concurrent calls', async () => {
    time.advance(3600_000);
    const answers = await Promise.all(Array.from({ length: 50 }, () => act('u-burst')));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(5);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(45);
    const refusals = (await t.audit()).filter(
      (r) => r.user_id === 'u-burst' && r.reason === 'rate_limited',
    );
    expect(refusals).toHaveLength(45);
  });
});

describe('the bulk-export guard and the HubSpot budget', () => {
  let t: TestApp;
  // Time stands still on a whole hour; each step below moves it to the next second, so a
  // step's reads share one second of the HubSpot budget (2 a second) and all share the hour.
  const time = manualClock();
  beforeAll(async () => {
    t = await startTestApp(
      {
        ...NO_LIMITS,
        AIRLOCK_DISTINCT_RECORDS_PER_HOUR: '3',
        AIRLOCK_HUBSPOT_SEARCH_PER_SECOND: '2',
      },
      { clock: time, emulatorRateLimits: { perTenSeconds: 1e6, searchPerSecond: 1e6 } },
    );
  });
  afterAll(() => t.close());

  it('withholds the data once a user would receive more distinct records in an hour than allowed', async () => {
    const first = await t.act(
      { action: 'search_contact', company: 'Acme Corp' },
      { user_id: 'u-export' },
    );
    expect(first.status).toBe(200);
    // Reading the same records again does not count twice.
    time.startWindow(1);
    expect(
      (await t.act({ action: 'search_contact', company: 'Acme Corp' }, { user_id: 'u-export' }))
        .status,
    ).toBe(200);
    time.startWindow(1);
    // Jane Cooper (already counted) and Jane Smith: three distinct records, exactly the limit.
    expect(
      (await t.act({ action: 'search_contact', name: 'Jane' }, { user_id: 'u-export' })).status,
    ).toBe(200);
    time.startWindow(1);
    const more = await t.act(
      { action: 'search_company', domain: 'globex.com' },
      { user_id: 'u-export' },
    );
    expect([more.status, errorCode(more.body)]).toEqual([429, 'rate_limited']);
    expect((more.body.error as { details: { rule: string } }).details.rule).toBe('bulk_export');
    expect(more.text).not.toContain('globex.com');
    expect(more.text).not.toContain(DEMO.globexCompanyId);
  });

  it("answers a clean 429 of its own before HubSpot's limit is reached", async () => {
    // The four reads fall in one second, whatever the machine's speed.
    time.startWindow(1);
    const answers = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        t.act({ action: 'search_company', domain: 'acme.com' }, { user_id: `u-${i}` }),
      ),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 429, 429]);
    const refused = answers.find((a) => a.status === 429);
    const error = refused?.body.error as { details: { rule: string } } | undefined;
    expect(error?.details.rule).toBe('hubspot_budget');
    expect(t.app.emulator?.requests.some((r) => r.status === 429)).toBe(false);
  });
});

const ruleOf = (a: { body: Record<string, unknown> }) =>
  (a.body.error as { details?: { rule?: string } } | undefined)?.details?.rule;
const searchesSent = (t: TestApp) =>
  (t.app.emulator?.requests ?? []).filter((r) => r.path.includes('/search')).length;

describe('a read refused by a later check spends nothing of an earlier budget', () => {
  let t: TestApp;
  // Time stands still, on a whole minute, until the test moves it.
  const time = manualClock();
  beforeAll(async () => {
    t = await startTestApp(
      { ...NO_LIMITS, AIRLOCK_READS_PER_MINUTE: '5', AIRLOCK_HUBSPOT_SEARCH_PER_SECOND: '2' },
      {
        clock: time,
        emulatorRateLimits: { perTenSeconds: 1e6, searchPerSecond: 1e6 },
      },
    );
  });
  afterAll(() => t.close());

  it('gives the user back the reads the HubSpot budget refused', async () => {
    time.startWindow(60);
    const before = searchesSent(t);
    const burst = await Promise.all(
      Array.from({ length: 8 }, () =>
        t.act({ action: 'search_company', domain: 'acme.com' }, { user_id: 'u-shared' }),
      ),
    );
    const ok = burst.filter((a) => a.status === 200).length;
    const budget = burst.filter((a) => a.status === 429 && ruleOf(a) === 'hubspot_budget');
    const perUser = burst.filter((a) => a.status === 429 && ruleOf(a) === 'reads_per_user');
    expect(ok).toBeGreaterThanOrEqual(1);
    expect(budget.length).toBeGreaterThanOrEqual(1);
    expect(ok + budget.length + perUser.length).toBe(8);
    // Only the reads answered 200 reached HubSpot.
    expect(searchesSent(t) - before).toBe(ok);

    // The next second: the HubSpot budget is free again; the user has 5 - ok reads left.
    time.startWindow(1);
    for (let i = 0; i < 5 - ok; i += 1) {
      // At most 2 reads in one second (the HubSpot budget): the next second after every second
      // read. Still the same minute.
      if (i > 0 && i % 2 === 0) time.startWindow(1);
      const res = await t.act(
        { action: 'search_company', domain: 'acme.com' },
        { user_id: 'u-shared' },
      );
      expect([i, res.status, ruleOf(res)]).toEqual([i, 200, undefined]);
    }
    time.startWindow(1);
    const over = await t.act(
      { action: 'search_company', domain: 'acme.com' },
      { user_id: 'u-shared' },
    );
    expect([over.status, ruleOf(over)]).toEqual([429, 'reads_per_user']);
  });
});

describe('a read refused because the HubSpot budget store failed', () => {
  it("gives the user's reads back, and refuses even when the give-back fails", async () => {
    const now = Date.parse('2026-11-29T10:00:05.000Z');
    const memory = new MemoryRateLimiter();
    const fail = { hubspot: true, release: false };
    const limiter: RateLimiter = {
      take: (key, windows, nowMs, cost) =>
        key === 'hubspot' && fail.hubspot
          ? Promise.reject(new Error('store down'))
          : memory.take(key, windows, nowMs, cost),
      release: (key, windows, nowMs, cost) =>
        fail.release
          ? Promise.reject(new Error('store down'))
          : memory.release(key, windows, nowMs, cost),
      addDistinct: (key, ids, seconds, nowMs) => memory.addDistinct(key, ids, seconds, nowMs),
    };
    const t = await startTestApp(
      { ...NO_LIMITS, AIRLOCK_READS_PER_MINUTE: '5' },
      { limiter, clock: { now: () => now } },
    );
    const read = () =>
      t.act({ action: 'search_company', domain: 'acme.com' }, { user_id: 'u-store' });
    try {
      for (let i = 0; i < 7; i += 1) {
        const res = await read();
        expect([res.status, errorCode(res.body)]).toEqual([503, 'limits_unavailable']);
      }
      expect(t.app.emulator?.requests).toHaveLength(0);
      fail.hubspot = false;
      for (let i = 0; i < 4; i += 1) expect((await read()).status).toBe(200);
      // The give-back itself fails: the read is still refused as before, and counts (the
      // limiter errs on the side of refusing).
      fail.hubspot = true;
      fail.release = true;
      const failed = await read();
      expect([failed.status, errorCode(failed.body)]).toEqual([503, 'limits_unavailable']);
      fail.hubspot = false;
      fail.release = false;
      const over = await read();
      expect([over.status, ruleOf(over)]).toEqual([429, 'reads_per_user']);
    } finally {
      await t.close();
    }
  });
});

describe('a failing counter store', () => {
  it('refuses reads (fails closed), without calling HubSpot, and audits the refusal', async () => {
    const broken: RateLimiter = {
      take: () => Promise.reject(new Error('store down')),
      release: () => Promise.reject(new Error('store down')),
      addDistinct: () => Promise.reject(new Error('store down')),
    };
    const t = await startTestApp({ ...NO_LIMITS }, { limiter: broken });
    try {
      const res = await t.act({ action: 'search_company', domain: 'acme.com' });
      expect([res.status, errorCode(res.body)]).toEqual([503, 'limits_unavailable']);
      expect(t.app.emulator?.requests).toHaveLength(0);
      expect((await t.audit()).at(-1)).toMatchObject({
        outcome: 'failed',
        reason: 'limits_unavailable',
      });
    } finally {
      await t.close();
    }
  });
});
