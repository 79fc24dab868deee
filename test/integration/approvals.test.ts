import { DEMO } from '../../lambdas/emulator/seed';
import { errorCode, startTestApp, type TestApp } from '../helpers/local-app';
import { manualClock } from '../helpers/time';

async function requestNote(t: TestApp, body: string) {
  const res = await t.act(
    { action: 'create_note', contact_id: DEMO.acmeContactId, body },
    { agent_prompt: `Log: ${body}`, user_id: 'u-7' },
  );
  expect(res.status).toBe(202);
  return {
    requestId: res.body.request_id as string,
    approvalId: (res.body.approval as { id: string }).id,
  };
}

describe('approvals of writes, locally', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  const decide = async (
    approvalId: string,
    decision: 'approve' | 'deny',
    key = t.app.keys.approverKey,
  ) => {
    const pending = await t.call('GET', '/approvals/pending', { key: t.app.keys.approverKey });
    const shown = (pending.body.approvals as { approval_id: string; action_hash: string }[]).find(
      (a) => a.approval_id === approvalId,
    );
    return t.call('POST', `/approvals/${approvalId}/${decision}`, {
      key,
      body: { action_hash: shown?.action_hash ?? '0'.repeat(64) },
    });
  };

  const notesWith = (body: string) => t.app.emulator?.notes().filter((n) => n.body === body) ?? [];

  it('shows the approver the exact action, who asked and its hash', async () => {
    const { approvalId } = await requestNote(t, 'Shown to the approver');
    const res = await t.call('GET', '/approvals/pending', { key: t.app.keys.approverKey });
    expect(res.status).toBe(200);
    const pending = (res.body.approvals as Record<string, unknown>[]).find(
      (a) => a.approval_id === approvalId,
    );
    expect(pending).toMatchObject({
      action: {
        action: 'create_note',
        contact_id: DEMO.acmeContactId,
        body: 'Shown to the approver',
      },
      user_id: 'u-7',
      agent_prompt: 'Log: Shown to the approver',
      requested_by: 'local-agent-key',
      action_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });

  it('approve creates the note in HubSpot exactly once and reports its id', async () => {
    const { requestId, approvalId } = await requestNote(t, 'Approved note');
    const res = await decide(approvalId, 'approve');
    expect(res.status).toBe(200);
    const approval = res.body.approval as { status: string; result: { note_id: string } };
    expect(approval.status).toBe('completed');
    expect(notesWith('Approved note')).toHaveLength(1);
    expect(notesWith('Approved note')[0]?.id).toBe(approval.result.note_id);
    const status = await t.call('GET', `/v1/actions/${requestId}`);
    expect(status.body).toMatchObject({
      status: 'completed',
      data: { note_id: approval.result.note_id },
    });
    // A second decision is refused and writes nothing more.
    const again = await decide(approvalId, 'approve');
    expect([again.status, errorCode(again.body)]).toEqual([409, 'already_decided']);
    expect(notesWith('Approved note')).toHaveLength(1);
  });

  it('concurrent approvals of the same write create one note', async () => {
    const { approvalId } = await requestNote(t, 'Double click');
    const answers = await Promise.all([
      decide(approvalId, 'approve'),
      decide(approvalId, 'approve'),
    ]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    expect(notesWith('Double click')).toHaveLength(1);
  });

  it('deny writes nothing and reports denied', async () => {
    const { requestId, approvalId } = await requestNote(t, 'Denied note');
    const res = await decide(approvalId, 'deny');
    expect(res.status).toBe(200);
    expect(notesWith('Denied note')).toHaveLength(0);
    expect((await t.call('GET', `/v1/actions/${requestId}`)).body).toMatchObject({
      status: 'denied',
    });
    const late = await decide(approvalId, 'approve');
    expect([late.status, errorCode(late.body)]).toEqual([409, 'already_decided']);
    expect(notesWith('Denied note')).toHaveLength(0);
  });

  it("refuses the agent's key on approvals with 403, and audits it", async () => {
    const { approvalId } = await requestNote(t, 'Self-approved?');
    const res = await decide(approvalId, 'approve', t.app.keys.apiKey);
    expect([res.status, errorCode(res.body)]).toEqual([403, 'approver_required']);
    expect((await t.call('GET', '/approvals/pending', { key: t.app.keys.apiKey })).status).toBe(
      403,
    );
    expect(notesWith('Self-approved?')).toHaveLength(0);
    const records = await t.audit();
    expect(
      records.find(
        (r) => r.approval?.approval_id === approvalId && r.reason === 'approver_required',
      ),
    ).toMatchObject({
      response_status: 403,
      caller: 'local-agent-key',
      outcome: 'rejected',
    });
  });

  it('refuses a decision on a hash other than the action shown, and writes nothing', async () => {
    const { approvalId } = await requestNote(t, 'Bound to its hash');
    const wrong = await t.call('POST', `/approvals/${approvalId}/approve`, {
      key: t.app.keys.approverKey,
      body: { action_hash: 'a'.repeat(64) },
    });
    expect([wrong.status, errorCode(wrong.body)]).toEqual([409, 'approval_mismatch']);
    const missing = await t.call('POST', `/approvals/${approvalId}/approve`, {
      key: t.app.keys.approverKey,
      body: {},
    });
    expect([missing.status, errorCode(missing.body)]).toEqual([400, 'validation_failed']);
    expect(notesWith('Bound to its hash')).toHaveLength(0);
    expect((await decide(approvalId, 'approve')).status).toBe(200);
  });

  it('caps the writes one user may have waiting', async () => {
    const capped = await startTestApp({}, {});
    try {
      const ask = (i: number) =>
        capped.act(
          { action: 'create_note', contact_id: DEMO.acmeContactId, body: `n${i}` },
          { user_id: 'u-busy' },
        );
      for (let i = 0; i < 20; i += 1) expect((await ask(i)).status).toBe(202);
      const over = await ask(20);
      expect([over.status, errorCode(over.body)]).toEqual([429, 'rate_limited']);
      expect(over.headers.get('retry-after')).toBe('60');
      const other = await capped.act(
        { action: 'create_note', contact_id: DEMO.acmeContactId, body: 'another user' },
        { user_id: 'u-calm' },
      );
      expect(other.status).toBe(202);
    } finally {
      await capped.close();
    }
  });

  it('refuses no key and unknown approvals', async () => {
    expect((await t.call('POST', '/approvals/apr_nothing/approve', { key: null })).status).toBe(
      401,
    );
    expect((await decide('apr_nothing', 'approve')).status).toBe(404);
  });

  it('a failed write is reported failed and not retried blindly', async () => {
    const { requestId, approvalId } = await requestNote(t, 'HubSpot is down');
    const notePosts = () =>
      t.app.emulator?.requests.filter(
        (r) => r.method === 'POST' && r.path === '/crm/v3/objects/notes',
      ).length ?? 0;
    const before = notePosts();
    t.app.emulator?.faults.failNext(1, 500);
    const res = await decide(approvalId, 'approve');
    expect([res.status, errorCode(res.body)]).toEqual([502, 'hubspot_error']);
    expect((await t.call('GET', `/v1/actions/${requestId}`)).body).toMatchObject({
      status: 'failed',
    });
    // The create may have happened before the 500: sending it again could write twice.
    expect(notePosts()).toBe(before + 1);
  });

  it('audits each transition of a write under its request id', async () => {
    const { requestId, approvalId } = await requestNote(t, 'Traced note');
    await decide(approvalId, 'approve');
    const trail = (await t.audit()).filter(
      (r) => r.approval?.approval_id === approvalId && r.route !== 'GET /v1/actions/{request_id}',
    );
    expect(trail.map((r) => r.outcome)).toEqual(['pending_approval', 'approved', 'completed']);
    expect(trail[0]?.request_id).toBe(requestId);
    expect(trail.every((r) => r.approval?.request_id === requestId)).toBe(true);
    // The decision call has its own request id; only its last record carries its answer.
    expect(trail[1]?.request_id).toBe(trail[2]?.request_id);
    expect(trail[1]?.request_id).not.toBe(requestId);
    expect(trail[1]?.response_status).toBeNull();
    expect(trail[2]).toMatchObject({
      hubspot_endpoint: 'POST /crm/v3/objects/notes',
      hubspot_status: 201,
      caller: 'local-approver-key',
      approval: { approval_id: approvalId, approver: 'local-approver-key' },
    });
    expect(new Set(trail.map((r) => r.approval?.action_hash)).size).toBe(1);
  });
});

describe('expiry of approvals', () => {
  let t: TestApp;
  // Time stands still until the test moves it past the approval's expiry.
  const time = manualClock();
  beforeAll(async () => {
    t = await startTestApp(
      { AIRLOCK_APPROVAL_TTL_SECONDS: '1' },
      { clock: time, sweepIntervalMs: 200 },
    );
  });
  afterAll(() => t.close());

  it('expires a pending write, refuses to approve it later, and audits the expiry', async () => {
    const { requestId, approvalId } = await requestNote(t, 'Too late');
    time.advance(1_001);
    expect((await t.call('GET', `/v1/actions/${requestId}`)).body).toMatchObject({
      status: 'expired',
    });
    const res = await t.call('POST', `/approvals/${approvalId}/approve`, {
      key: t.app.keys.approverKey,
      body: { action_hash: '0'.repeat(64) },
    });
    expect([res.status, errorCode(res.body)]).toEqual([410, 'approval_expired']);
    expect(t.app.emulator?.notes().filter((n) => n.body === 'Too late')).toHaveLength(0);
    const expiries = (await t.audit()).filter(
      (r) => r.approval?.request_id === requestId && r.outcome === 'expired',
    );
    expect(expiries).toHaveLength(1);
  });
});
