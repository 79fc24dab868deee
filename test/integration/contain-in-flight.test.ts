import type { AuditRecord } from '../../lambdas/core/audit';
import type { AuditSink } from '../../lambdas/core/ports';
import { DEMO } from '../../lambdas/emulator/seed';
import { type Answer, errorCode, startTestApp, type TestApp } from '../helpers/local-app';
import { until } from '../helpers/time';

/**
 * The kill switch stops work already in flight (issue 11, item 5), against the real local app
 * over HTTP: the real `@hubspot/api-client` against the emulator, the operator's `contain`
 * through its route, the file audit log.
 */

const UNLIMITED = { perTenSeconds: 1e6, searchPerSecond: 1e6 };

function contain(t: TestApp, reason: string): Promise<Answer> {
  return t.call('POST', '/operator/control', {
    key: t.app.keys.operatorKey,
    body: { command: 'contain', reason },
  });
}

function release(t: TestApp): Promise<Answer> {
  return t.call('POST', '/operator/control', {
    key: t.app.keys.operatorKey,
    body: { command: 'release' },
  });
}

describe('contain stops reads in flight: their data is withheld', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({}, { emulatorRateLimits: UNLIMITED });
  });
  afterAll(() => t.close());

  const READS = [
    { action: 'search_contact', email: DEMO.acmeContactEmail },
    { action: 'search_contact', name: 'Jane' },
    { action: 'search_company', domain: 'acme.com' },
    { action: 'search_company', name: 'Acme' },
    { action: 'get_last_email_interaction', company: 'Acme Corp' },
    { action: 'get_last_email_interaction', contact_email: DEMO.acmeContactEmail },
  ];

  it('every read waiting on HubSpot when contain answers gets 401 gateway_contained, no CRM data, one audit record of what was withheld', async () => {
    // What the reads answer while open: the data that must not leave after the contain.
    const open = await Promise.all(READS.map((a) => t.act(a)));
    expect(open.map((r) => r.status)).toEqual(READS.map(() => 200));
    const leaked = [
      DEMO.acmeContactLastname,
      DEMO.acmeContactId,
      DEMO.acmeCompanyId,
      DEMO.acmeLatestEmail.subject,
      DEMO.acmeContactLatestEmail.timestamp,
      'last_contacted',
    ];
    for (const s of leaked) expect(open.map((r) => r.text).join('')).toContain(s);

    const emulator = t.app.emulator;
    if (!emulator) throw new Error('the test app runs the emulator');
    emulator.reset();
    emulator.faults.latencyMs = 500;
    let answered = 0;
    const inFlight = READS.map((a) =>
      t.act(a).then((r) => {
        answered += 1;
        return r;
      }),
    );
    // Every read is past the gateway's first look at the switch, waiting on HubSpot.
    await until(
      'every read to reach HubSpot',
      () => emulator.requests.filter((r) => r.path.endsWith('/search')).length >= READS.length,
    );
    const contained = await contain(t, 'in-flight test');
    expect(contained.status).toBe(200);
    // contain answers only once the reads it caught in flight have been answered (withheld).
    expect(answered).toBe(READS.length);

    const answers = await Promise.all(inFlight);
    emulator.faults.latencyMs = 0;
    for (const r of answers) {
      expect([r.status, errorCode(r.body)]).toEqual([401, 'gateway_contained']);
      expect(r.body.data).toBeUndefined();
      for (const s of leaked) expect(r.text).not.toContain(s);
    }

    const records = await t.audit();
    for (const [i, r] of answers.entries()) {
      const mine = records.filter((x) => x.request_id === r.body.request_id);
      expect(mine).toHaveLength(1);
      const record = mine[0] as AuditRecord;
      expect(record).toMatchObject({
        outcome: 'rejected',
        reason: 'gateway_contained',
        rule: 'contained_in_flight',
        response_status: 401,
        action: READS[i]?.action,
      });
      // What was withheld: the calls made and how many records the answer would have carried.
      expect(record.hubspot_calls.length).toBeGreaterThan(0);
      expect(record.hubspot_calls.every((c) => c.status === 200)).toBe(true);
      expect(record.record_count).toBeGreaterThan(0);
      // ...and never the data itself (the query the agent sent is the request, not data).
      const text = JSON.stringify(record);
      for (const s of [
        DEMO.acmeContactLastname,
        DEMO.acmeLatestEmail.subject,
        DEMO.acmeContactLatestEmail.timestamp,
      ]) {
        expect(text).not.toContain(s);
      }
    }
    await release(t);
  });

  it('a read started after release answers its data again', async () => {
    const res = await t.act(READS[0] as Record<string, unknown>);
    expect(res.status).toBe(200);
  });
});

describe('contain stops an approved write before it is sent to HubSpot', () => {
  /** Holds the audit record of a decision (the write runs right after it), as a slow disk would. */
  let hold: { entered: () => void; released: Promise<void> } | null = null;
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(
      {},
      {
        wrapAudit: (sink: AuditSink): AuditSink => ({
          append: async (record) => {
            const h = hold;
            if (h && record.event === 'approval' && record.outcome === 'approved') {
              h.entered();
              await h.released;
            }
            return sink.append(record);
          },
        }),
      },
    );
  });
  afterAll(() => t.close());

  it('the write is not sent: no note in HubSpot, the approval failed (gateway_contained) and audited', async () => {
    const body = 'Approved, then the kill switch.';
    const asked = await t.act(
      { action: 'create_note', contact_id: DEMO.acmeContactId, body },
      { user_id: 'u-9', agent_prompt: 'Log the call.' },
    );
    expect(asked.status).toBe(202);
    const requestId = asked.body.request_id as string;
    const approvalId = (asked.body.approval as { id: string }).id;
    const pending = await t.call('GET', '/approvals/pending', { key: t.app.keys.approverKey });
    const hash = (pending.body.approvals as { approval_id: string; action_hash: string }[]).find(
      (a) => a.approval_id === approvalId,
    )?.action_hash;

    let entered = false;
    let letGo: () => void = () => {};
    hold = {
      entered: () => {
        entered = true;
      },
      released: new Promise<void>((r) => {
        letGo = r;
      }),
    };
    const approving = t.call('POST', `/approvals/${approvalId}/approve`, {
      key: t.app.keys.approverKey,
      body: { action_hash: hash },
    });
    // The approval is decided (the switch was open) and its write is about to run.
    await until('the approval to be decided', () => entered);
    const contained = await contain(t, 'stop the write');
    expect(contained.status).toBe(200);
    // Not pending: the sweep does not cancel it; the write's own check stops it.
    expect(contained.body.cancelled).toEqual([]);
    hold = null;
    letGo();

    const answer = await approving;
    expect([answer.status, errorCode(answer.body)]).toEqual([401, 'gateway_contained']);
    const emulator = t.app.emulator;
    expect(emulator?.notes().filter((n) => n.body === body)).toEqual([]);
    expect(
      emulator?.requests.filter((r) => r.method === 'POST' && r.path === '/crm/v3/objects/notes'),
    ).toEqual([]);

    await release(t);
    // Decided once: failed, never pending or approved again, and the reason says why.
    const status = await t.call('GET', `/v1/actions/${requestId}`);
    expect(status.body).toMatchObject({
      status: 'failed',
      error: {
        code: 'gateway_contained',
        message: 'the kill switch was on when the write was about to be sent; nothing was written',
      },
    });
    expect(status.body.data).toBeUndefined();
    const again = await t.call('POST', `/approvals/${approvalId}/approve`, {
      key: t.app.keys.approverKey,
      body: { action_hash: hash },
    });
    expect([again.status, errorCode(again.body)]).toEqual([409, 'already_decided']);
    expect(emulator?.notes().filter((n) => n.body === body)).toEqual([]);

    const trail = (await t.audit()).filter((r) => r.approval?.approval_id === approvalId);
    expect(trail.map((r) => [r.outcome, r.reason])).toEqual([
      ['pending_approval', null],
      ['approved', null],
      ['failed', 'gateway_contained'],
      // After the release: the status read, and the second decision refused.
      ['completed', null],
      ['rejected', 'already_decided'],
    ]);
    expect(trail[2]).toMatchObject({
      event: 'approval',
      rule: 'contained_in_flight',
      response_status: 401,
      hubspot_calls: [],
    });
  });

  it('read-only mode turned on meanwhile stops the write the same way (read_only_mode)', async () => {
    const body = 'Approved, then read-only.';
    const asked = await t.act({ action: 'create_note', company_id: DEMO.acmeCompanyId, body });
    const requestId = asked.body.request_id as string;
    const approvalId = (asked.body.approval as { id: string }).id;
    const pending = await t.call('GET', '/approvals/pending', { key: t.app.keys.approverKey });
    const hash = (pending.body.approvals as { approval_id: string; action_hash: string }[]).find(
      (a) => a.approval_id === approvalId,
    )?.action_hash;
    let entered = false;
    let letGo: () => void = () => {};
    hold = {
      entered: () => {
        entered = true;
      },
      released: new Promise<void>((r) => {
        letGo = r;
      }),
    };
    const approving = t.call('POST', `/approvals/${approvalId}/approve`, {
      key: t.app.keys.approverKey,
      body: { action_hash: hash },
    });
    await until('the approval to be decided', () => entered);
    const readOnly = await t.call('POST', '/operator/control', {
      key: t.app.keys.operatorKey,
      body: { command: 'read_only_on' },
    });
    expect(readOnly.status).toBe(200);
    hold = null;
    letGo();
    const answer = await approving;
    expect([answer.status, errorCode(answer.body)]).toEqual([403, 'read_only_mode']);
    expect(t.app.emulator?.notes().filter((n) => n.body === body)).toEqual([]);
    const status = await t.call('GET', `/v1/actions/${requestId}`);
    expect(status.body).toMatchObject({
      status: 'failed',
      error: {
        code: 'read_only_mode',
        message: 'read-only mode was on when the write was about to be sent; nothing was written',
      },
    });
    await t.call('POST', '/operator/control', {
      key: t.app.keys.operatorKey,
      body: { command: 'read_only_off' },
    });
  });
});

describe('contain cancels writes being queued while it sweeps', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({}, { emulatorRateLimits: UNLIMITED });
  });
  afterAll(() => t.close());

  it('no write asked around a contain is left pending once the contain has answered', async () => {
    const writes = Array.from({ length: 40 }, (_, i) =>
      t.act(
        { action: 'create_note', company_id: DEMO.acmeCompanyId, body: `Note ${i}` },
        { user_id: `u-${i % 4}` },
      ),
    );
    const contained = await contain(t, 'writes racing the sweep');
    expect(contained.status).toBe(200);
    const answers = await Promise.all(writes);
    for (const a of answers) {
      expect([202, 401]).toContain(a.status);
      if (a.status === 401) expect(errorCode(a.body)).toBe('gateway_contained');
    }
    const pending = await t.call('GET', '/approvals/pending', { key: t.app.keys.approverKey });
    expect(pending.body.approvals).toEqual([]);
    await release(t);
  });
});

describe('no data and no write leave once contain has answered', () => {
  let t: TestApp;
  /** Holds the completed records of reads, as a slow disk would, while the test says so. */
  let hold: Promise<void> | null = null;
  const holding = (sink: AuditSink): AuditSink => ({
    async append(record: AuditRecord) {
      if (hold && record.outcome === 'completed' && record.action?.startsWith('get_')) await hold;
      return sink.append(record);
    },
  });
  beforeAll(async () => {
    t = await startTestApp({}, { emulatorRateLimits: UNLIMITED, wrapAudit: holding });
  });
  afterAll(() => t.close());

  it('a read past its last look at the switch answers before contain does, never after', async () => {
    let letGo: () => void = () => undefined;
    hold = new Promise<void>((resolve) => {
      letGo = resolve;
    });
    const events: string[] = [];
    const read = t.act({ action: 'get_last_email_interaction', company: 'Acme Corp' }).then((a) => {
      events.push(`read ${a.status}`);
      return a;
    });
    // The read is past the switch (both its searches answered) and waits on its record.
    const emulator = t.app.emulator;
    const before = emulator?.requests.length ?? 0;
    await until(
      'the read to have made its two searches',
      () => (emulator?.requests.length ?? 0) >= before + 2,
    );
    await new Promise((r) => setTimeout(r, 100));
    const contained = contain(t, 'while a read is being recorded').then((a) => {
      events.push(`contain ${a.status}`);
      return a;
    });
    await new Promise((r) => setTimeout(r, 100));
    hold = null;
    letGo();
    const [a] = await Promise.all([read, contained]);
    expect(a.status).toBe(200);
    expect(events).toEqual(['read 200', 'contain 200']);
    await release(t);
  });
});
