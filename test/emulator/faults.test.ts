import { request as httpRequest } from 'node:http';
import { DEMO } from '../../lambdas/emulator/seed';
import { type Emulator, startEmulator } from '../../lambdas/emulator/server';
import { manualClock, until } from '../helpers/time';
import { apiError, client, READ_TOKEN, rawRequest, TOKENS, UUID_RE } from './helpers';

// The emulator's rate windows run on a clock the tests move by hand, so no window can end (or
// fill up) in the middle of a test, whatever the machine's speed.

const emptySearch = { filterGroups: [], limit: 1 };

describe('rate limits', () => {
  let emulator: Emulator;
  const clock = manualClock();

  beforeAll(async () => {
    emulator = await startEmulator({ tokens: TOKENS, now: clock.now });
  });
  afterAll(async () => {
    await emulator.close();
  });
  beforeEach(() => emulator.reset());

  it('answers the 6th search within a second with 429 SECONDLY and no rate-limit headers', async () => {
    const hubspot = client(emulator.url, READ_TOKEN);
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, () => hubspot.crm.contacts.searchApi.doSearch(emptySearch)),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    const rejected = results.find((r) => r.status === 'rejected');
    const error = await apiError(
      Promise.reject(rejected?.status === 'rejected' ? rejected.reason : null),
    );
    expect(error.code).toBe(429);
    expect(error.body).toMatchObject({
      status: 'error',
      message: 'You have reached your secondly limit.',
      errorType: 'RATE_LIMIT',
      policyName: 'SECONDLY',
    });
    expect(error.body.correlationId).toMatch(UUID_RE);
    expect(Object.keys(error.headers).filter((h) => h.startsWith('x-hubspot-ratelimit'))).toEqual(
      [],
    );

    clock.advance(1_001);
    await expect(hubspot.crm.contacts.searchApi.doSearch(emptySearch)).resolves.toBeDefined();
  });

  it('counts the search limit per token', async () => {
    const emu = await startEmulator({
      tokens: { a: ['crm.objects.contacts.read'], b: ['crm.objects.contacts.read'] },
      now: clock.now,
    });
    try {
      for (let i = 0; i < 5; i += 1)
        await client(emu.url, 'a').crm.contacts.searchApi.doSearch(emptySearch);
      const other = await client(emu.url, 'b').crm.contacts.searchApi.doSearch(emptySearch);
      expect(other.total).toBe(10);
      const limited = await apiError(
        client(emu.url, 'a').crm.contacts.searchApi.doSearch(emptySearch),
      );
      expect(limited.code).toBe(429);
    } finally {
      await emu.close();
    }
  });

  it('answers the 101st request within 10 s with 429 TEN_SECONDLY_ROLLING and the headers', async () => {
    const hubspot = client(emulator.url, READ_TOKEN);
    const first = await hubspot.crm.contacts.basicApi.getByIdWithHttpInfo(DEMO.acmeContactId);
    expect(first.headers).toMatchObject({
      'x-hubspot-ratelimit-max': '100',
      'x-hubspot-ratelimit-remaining': '99',
      'x-hubspot-ratelimit-interval-milliseconds': '10000',
      'x-hubspot-ratelimit-daily': '250000',
      'x-hubspot-ratelimit-daily-remaining': '249999',
    });
    for (let batch = 0; batch < 7; batch += 1) {
      await Promise.all(
        Array.from({ length: 14 }, () =>
          hubspot.crm.companies.basicApi.getById(DEMO.acmeCompanyId),
        ),
      );
    }
    const last = await hubspot.crm.contacts.basicApi.getByIdWithHttpInfo(DEMO.acmeContactId);
    expect(last.headers['x-hubspot-ratelimit-remaining']).toBe('0');

    const error = await apiError(hubspot.crm.contacts.basicApi.getById(DEMO.acmeContactId));
    expect(error.code).toBe(429);
    expect(error.body).toMatchObject({
      status: 'error',
      message: 'You have reached your ten_secondly_rolling limit.',
      errorType: 'RATE_LIMIT',
      policyName: 'TEN_SECONDLY_ROLLING',
    });
    expect(error.headers).toMatchObject({
      'x-hubspot-ratelimit-max': '100',
      'x-hubspot-ratelimit-remaining': '0',
      'x-hubspot-ratelimit-interval-milliseconds': '10000',
    });

    clock.advance(10_001);
    await expect(hubspot.crm.contacts.basicApi.getById(DEMO.acmeContactId)).resolves.toBeDefined();
  });

  it('answers 429 DAILY once the daily quota is spent, until the next day', async () => {
    const emu = await startEmulator({ tokens: TOKENS, now: clock.now, rateLimits: { daily: 2 } });
    try {
      const hubspot = client(emu.url, READ_TOKEN);
      await hubspot.crm.contacts.basicApi.getById(DEMO.acmeContactId);
      await hubspot.crm.contacts.searchApi.doSearch(emptySearch);
      const error = await apiError(hubspot.crm.contacts.basicApi.getById(DEMO.acmeContactId));
      expect(error.code).toBe(429);
      expect(error.body).toMatchObject({
        policyName: 'DAILY',
        message: 'You have reached your daily limit.',
      });
      expect(error.headers['x-hubspot-ratelimit-daily-remaining']).toBe('0');
      clock.advance(86_400_000);
      await expect(
        hubspot.crm.contacts.basicApi.getById(DEMO.acmeContactId),
      ).resolves.toBeDefined();
    } finally {
      await emu.close();
    }
  });

  it('reset() clears the windows and the request log', async () => {
    const emu = await startEmulator({
      tokens: TOKENS,
      now: clock.now,
      rateLimits: { perTenSeconds: 1 },
    });
    try {
      const hubspot = client(emu.url, READ_TOKEN);
      await hubspot.crm.contacts.basicApi.getById(DEMO.acmeContactId);
      expect((await apiError(hubspot.crm.contacts.basicApi.getById(DEMO.acmeContactId))).code).toBe(
        429,
      );
      const log = emu.requests;
      emu.reset();
      expect(emu.requests).toBe(log);
      expect(log).toEqual([]);
      await expect(
        hubspot.crm.contacts.basicApi.getById(DEMO.acmeContactId),
      ).resolves.toBeDefined();
    } finally {
      await emu.close();
    }
  });
});

describe('injected faults', () => {
  let emulator: Emulator;
  const clock = manualClock();

  beforeAll(async () => {
    emulator = await startEmulator({ tokens: TOKENS, now: clock.now });
  });
  afterAll(async () => {
    await emulator.close();
  });
  beforeEach(() => emulator.reset());

  it('fails the next matching requests with the injected 5xx, then recovers', async () => {
    const hubspot = client(emulator.url, READ_TOKEN);
    emulator.faults.failNext(2, 503, '/emails/');
    // A non-matching path is untouched and does not consume the fault.
    await expect(hubspot.crm.contacts.searchApi.doSearch(emptySearch)).resolves.toBeDefined();
    for (let i = 0; i < 2; i += 1) {
      const error = await apiError(hubspot.crm.objects.emails.searchApi.doSearch(emptySearch));
      expect(error.code).toBe(503);
      expect(error.body).toMatchObject({ status: 'error' });
      expect(error.body.correlationId).toMatch(UUID_RE);
    }
    await expect(hubspot.crm.objects.emails.searchApi.doSearch(emptySearch)).resolves.toBeDefined();
    expect(emulator.requests.map((r) => r.status)).toEqual([200, 503, 503, 200]);
  });

  it('defaults injected failures to 500 on any path', async () => {
    emulator.faults.failNext(1);
    const error = await apiError(
      client(emulator.url, READ_TOKEN).crm.companies.basicApi.getById(DEMO.acmeCompanyId),
    );
    expect(error.code).toBe(500);
    expect(error.body.message).toBe('internal error');
  });

  it('injects 429s that look like the real ones', async () => {
    const hubspot = client(emulator.url, READ_TOKEN);
    emulator.faults.rateLimitNext(1);
    const ten = await apiError(hubspot.crm.contacts.basicApi.getById(DEMO.acmeContactId));
    expect(ten.code).toBe(429);
    expect(ten.body).toMatchObject({ policyName: 'TEN_SECONDLY_ROLLING', errorType: 'RATE_LIMIT' });
    expect(ten.headers['x-hubspot-ratelimit-remaining']).toBe('0');

    emulator.faults.rateLimitNext(1, 'SECONDLY', '/search');
    const secondly = await apiError(hubspot.crm.contacts.searchApi.doSearch(emptySearch));
    expect(secondly.body).toMatchObject({
      policyName: 'SECONDLY',
      message: 'You have reached your secondly limit.',
    });

    emulator.faults.rateLimitNext(1, 'DAILY');
    const daily = await apiError(hubspot.crm.contacts.basicApi.getById(DEMO.acmeContactId));
    expect(daily.body.policyName).toBe('DAILY');
  });

  it('adds latency to every response, errors included', async () => {
    const hubspot = client(emulator.url, READ_TOKEN);
    emulator.faults.latencyMs = 150;
    const started = Date.now();
    await hubspot.crm.contacts.basicApi.getById(DEMO.acmeContactId);
    await apiError(client(emulator.url, 'bad').crm.contacts.basicApi.getById(DEMO.acmeContactId));
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    emulator.faults.clear();
    expect(emulator.faults.latencyMs).toBe(0);
  });

  it('hangs the next request (a client-side timeout fires), then serves the following ones', async () => {
    emulator.faults.hangNext(1, '/search');
    const hung = rawRequest(emulator.url, {
      method: 'POST',
      path: '/crm/v3/objects/contacts/search',
      token: READ_TOKEN,
      body: '{}',
      signal: AbortSignal.timeout(200),
    });
    await expect(hung).rejects.toThrow(/abort|timeout/i);
    expect(emulator.requests[0]).toMatchObject({
      path: '/crm/v3/objects/contacts/search',
      status: 0,
    });

    const page = await client(emulator.url, READ_TOKEN).crm.contacts.searchApi.doSearch(
      emptySearch,
    );
    expect(page.total).toBe(10);
  });

  it('close() ends hanging and delayed requests instead of waiting for them', async () => {
    const emu = await startEmulator({ tokens: TOKENS, now: clock.now });
    emu.faults.hangNext(1);
    emu.faults.latencyMs = 60_000;
    const outcome = new Promise<string>((resolve) => {
      const req = httpRequest(`${emu.url}/crm/v3/objects/contacts/${DEMO.acmeContactId}`, {
        headers: { Authorization: `Bearer ${READ_TOKEN}` },
      });
      req.on('response', () => resolve('answered'));
      req.on('error', (error) => resolve(error.message));
      req.end();
    });
    const delayed = rawRequest(emu.url, {
      path: `/crm/v3/objects/contacts/${DEMO.acmeContactId}`,
      token: READ_TOKEN,
    }).catch(() => 'failed');
    await until('both requests to reach the emulator', () => emu.requests.length === 2);
    expect(emu.requests.map((r) => r.status)).toEqual([0, 0]);
    const started = Date.now();
    await emu.close();
    await emu.close(); // idempotent
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await outcome).toMatch(/socket hang up|ECONNRESET/);
    expect(await delayed).toBe('failed');
  });
});
