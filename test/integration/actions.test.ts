import { findUnsafe } from '../../lambdas/core/text';
import { DEMO } from '../../lambdas/emulator/seed';
import { startTestApp, type TestApp } from '../helpers/local-app';

describe('the local gateway over HTTP, with the emulator and the real HubSpot client', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('search_contact returns only the allowlisted fields', async () => {
    const res = await t.act({ action: 'search_contact', email: DEMO.acmeContactEmail });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'completed', action: 'search_contact' });
    expect(res.body.request_id).toMatch(/^req_/);
    expect(res.headers.get('x-request-id')).toBe(res.body.request_id);
    const data = res.body.data as { contacts: Record<string, unknown>[] };
    expect(data.contacts).toEqual([
      {
        id: DEMO.acmeContactId,
        firstname: DEMO.acmeContactFirstname,
        lastname: DEMO.acmeContactLastname,
        email: DEMO.acmeContactEmail,
        company: 'Acme Corp',
        last_contacted: expect.any(String),
      },
    ]);
  });

  it('search_contact by first name finds every match, up to the limit', async () => {
    const all = await t.act({ action: 'search_contact', name: 'Jane' });
    const ids = (all.body.data as { contacts: { id: string }[] }).contacts.map((c) => c.id).sort();
    expect(ids).toEqual([...DEMO.janeContactIds].sort());
    const one = await t.act({ action: 'search_contact', name: 'Jane', limit: 1 });
    expect((one.body.data as { contacts: unknown[] }).contacts).toHaveLength(1);
  });

  it('search_company finds a company by domain', async () => {
    const res = await t.act({ action: 'search_company', domain: 'acme.com' });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({
      companies: [
        {
          id: DEMO.acmeCompanyId,
          name: 'Acme Corp',
          domain: 'acme.com',
          last_contacted: expect.any(String),
        },
      ],
    });
  });

  it('get_last_email_interaction returns the latest email by time, never its body', async () => {
    const res = await t.act(
      { action: 'get_last_email_interaction', company: 'Acme Corp' },
      { agent_prompt: 'Find the last email interaction for Acme Corp.' },
    );
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({
      record: { type: 'company', id: DEMO.acmeCompanyId, name: 'Acme Corp' },
      last_email: {
        timestamp: DEMO.acmeLatestEmail.timestamp,
        subject: { untrusted_text: DEMO.acmeLatestEmail.subject, truncated: false },
        direction: DEMO.acmeLatestEmail.direction,
      },
    });
  });

  it('get_last_email_interaction by contact email', async () => {
    const res = await t.act({
      action: 'get_last_email_interaction',
      contact_email: DEMO.acmeContactEmail,
    });
    expect(res.body.data).toMatchObject({
      record: { type: 'contact', id: DEMO.acmeContactId, name: 'Jane Cooper' },
      last_email: { timestamp: DEMO.acmeContactLatestEmail.timestamp },
    });
  });

  it('cleans and marks a hostile email subject as untrusted', async () => {
    const res = await t.act({ action: 'get_last_email_interaction', company: 'Initech' });
    const subject = (
      res.body.data as { last_email: { subject: { untrusted_text: string; truncated: boolean } } }
    ).last_email.subject;
    expect(subject.truncated).toBe(true);
    expect(Array.from(subject.untrusted_text)).toHaveLength(200);
    expect(findUnsafe(subject.untrusted_text, 'line')).toBeNull();
  });

  it('answers null when the record has no email, and when nothing matches', async () => {
    const none = await t.act({
      action: 'get_last_email_interaction',
      contact_email: DEMO.noEmailContactEmail,
    });
    expect(none.body.data).toMatchObject({
      record: { id: DEMO.noEmailContactId },
      last_email: null,
    });
    const missing = await t.act({
      action: 'get_last_email_interaction',
      company: 'No Such Company Ltd',
    });
    expect(missing.body.data).toEqual({ record: null, last_email: null });
  });

  it('create_note waits for approval: 202 with a status URL that reports pending', async () => {
    const res = await t.act({
      action: 'create_note',
      company_id: DEMO.acmeCompanyId,
      body: 'Renewal call done.',
    });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'pending_approval', action: 'create_note' });
    const approval = res.body.approval as { id: string; expires_at: string };
    expect(approval.id).toMatch(/^apr_/);
    expect(Date.parse(approval.expires_at) - Date.now()).toBeGreaterThan(3500_000);
    expect(res.body.status_url).toBe(`${t.app.url}/v1/actions/${res.body.request_id}`);
    const status = await t.call('GET', `/v1/actions/${res.body.request_id}`);
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ status: 'pending_approval', action: 'create_note' });
    expect(t.app.emulator?.notes().some((n) => n.body === 'Renewal call done.')).toBe(false);
  });

  it('GET /v1/tools serves the strict OpenAI tool definitions', async () => {
    const res = await t.call('GET', '/v1/tools');
    expect(res.status).toBe(200);
    const tools = res.body.tools as { function: { name: string; strict: boolean } }[];
    expect(tools.map((x) => x.function.name)).toEqual([
      'search_contact',
      'search_company',
      'get_last_email_interaction',
      'create_note',
    ]);
    expect(tools.every((x) => x.function.strict)).toBe(true);
  });

  it('records every request in the audit log with the six named fields', async () => {
    const records = await t.audit();
    expect(records.length).toBe(t.responses.length);
    const read = records.find(
      (r) => r.action === 'get_last_email_interaction' && r.outcome === 'completed',
    );
    expect(read).toMatchObject({
      user_id: 'u-42',
      agent_prompt: expect.any(String),
      structured_action: { action: 'get_last_email_interaction' },
      hubspot_endpoint: 'POST /crm/v3/objects/emails/search',
      response_status: 200,
      caller: 'local-agent-key',
      hubspot_status: 200,
    });
    expect(Date.parse(read?.timestamp ?? '')).not.toBeNaN();
    expect(read?.hubspot_calls.map((c) => c.endpoint)).toEqual([
      'POST /crm/v3/objects/companies/search',
      'POST /crm/v3/objects/emails/search',
    ]);
    const write = records.find((r) => r.action === 'create_note');
    expect(write).toMatchObject({
      outcome: 'pending_approval',
      response_status: 202,
      hubspot_endpoint: null,
    });
    expect(write?.approval?.action_hash).toMatch(/^[0-9a-f]{64}$/);
  });
});
