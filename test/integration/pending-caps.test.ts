import { DEMO } from '../../lambdas/emulator/seed';
import { type Answer, errorCode, startTestApp, type TestApp } from '../helpers/local-app';

/**
 * The caps on writes waiting for approval (20 per user, 200 in all) hold under concurrency:
 * each pending write reserves its slot as it is created, so a burst of simultaneous requests
 * over real HTTP cannot overshoot a cap (issue 11, item 4).
 */

// Hundreds of simultaneous requests, each stored durably: more than the default 30 s on a slow machine.
jest.setTimeout(60_000);

const ask = (t: TestApp, userId: string, body: string) =>
  t.act(
    { action: 'create_note', contact_id: DEMO.acmeContactId, body },
    { user_id: userId, agent_prompt: `Log: ${body}` },
  );

const accepted = (answers: Answer[]) => answers.filter((a) => a.status === 202);
const refused = (answers: Answer[]) => answers.filter((a) => a.status === 429);
const approvalIdOf = (a: Answer) => (a.body.approval as { id: string }).id;
const detailsOf = (a: Answer) => (a.body.error as { details?: unknown; message: string }) ?? {};

/** Every answer has exactly one audit record under its request id. */
async function expectOneRecordEach(t: TestApp, answers: Answer[]) {
  const records = await t.audit();
  const count = new Map<string, number>();
  for (const r of records) count.set(r.request_id, (count.get(r.request_id) ?? 0) + 1);
  for (const a of answers) {
    const id = a.body.request_id as string;
    expect(typeof id).toBe('string');
    expect([id, count.get(id)]).toEqual([id, 1]);
  }
  const byId = new Map(records.map((r) => [r.request_id, r]));
  for (const a of accepted(answers)) {
    expect(byId.get(a.body.request_id as string)).toMatchObject({
      outcome: 'pending_approval',
      response_status: 202,
    });
  }
  for (const a of refused(answers)) {
    expect(byId.get(a.body.request_id as string)).toMatchObject({
      outcome: 'rejected',
      reason: 'rate_limited',
      response_status: 429,
    });
  }
}

async function deny(t: TestApp, approvalId: string) {
  const pending = await t.call('GET', '/approvals/pending', { key: t.app.keys.approverKey });
  const shown = (pending.body.approvals as { approval_id: string; action_hash: string }[]).find(
    (a) => a.approval_id === approvalId,
  );
  const res = await t.call('POST', `/approvals/${approvalId}/deny`, {
    key: t.app.keys.approverKey,
    body: { action_hash: shown?.action_hash },
  });
  expect(res.status).toBe(200);
}

async function pendingOf(t: TestApp, userId?: string): Promise<number> {
  const res = await t.call('GET', '/approvals/pending', { key: t.app.keys.approverKey });
  const list = res.body.approvals as { user_id: string }[];
  return userId === undefined ? list.length : list.filter((a) => a.user_id === userId).length;
}

describe('the per-user cap on pending writes, under concurrency', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('of 40 simultaneous create_note from one user, exactly 20 wait and 20 answer 429', async () => {
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => ask(t, 'u-burst', `burst ${i}`)),
    );
    expect(accepted(answers)).toHaveLength(20);
    expect(refused(answers)).toHaveLength(20);
    for (const over of refused(answers)) {
      expect(errorCode(over.body)).toBe('rate_limited');
      expect(detailsOf(over).details).toEqual({ rule: 'pending_approvals' });
      expect(detailsOf(over).message).toBe(
        '20 writes of this user already wait for approval; wait for decisions before asking for more.',
      );
      expect(over.headers.get('retry-after')).toBe('60');
    }
    expect(await pendingOf(t, 'u-burst')).toBe(20);
    await expectOneRecordEach(t, answers);

    // Another user is not held back by this one's cap.
    expect((await ask(t, 'u-other', 'not capped')).status).toBe(202);
  });

  it('releases a slot when a write is decided, and only as many as were released', async () => {
    const waiting = (await t.call('GET', '/approvals/pending', { key: t.app.keys.approverKey }))
      .body.approvals as { approval_id: string; user_id: string }[];
    const mine = waiting.filter((a) => a.user_id === 'u-burst').map((a) => a.approval_id);
    expect(mine).toHaveLength(20);
    for (const id of mine.slice(0, 5)) await deny(t, id);
    expect(await pendingOf(t, 'u-burst')).toBe(15);

    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => ask(t, 'u-burst', `after denial ${i}`)),
    );
    expect(accepted(answers)).toHaveLength(5);
    expect(refused(answers)).toHaveLength(7);
    expect(await pendingOf(t, 'u-burst')).toBe(20);
    await expectOneRecordEach(t, answers);
    expect(accepted(answers).every((a) => approvalIdOf(a).startsWith('apr_'))).toBe(true);
  });
});

describe('the cap on pending writes in all, under concurrency', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('of 250 simultaneous create_note from 25 users, exactly 200 wait', async () => {
    const answers = await Promise.all(
      Array.from({ length: 250 }, (_, i) => ask(t, `u-crowd-${i % 25}`, `crowd ${i}`)),
    );
    expect(accepted(answers)).toHaveLength(200);
    expect(refused(answers)).toHaveLength(50);
    for (const over of refused(answers)) {
      expect(errorCode(over.body)).toBe('rate_limited');
      expect(detailsOf(over).details).toEqual({ rule: 'pending_approvals' });
      expect(detailsOf(over).message).toBe(
        'Too many writes wait for approval; wait for decisions before asking for more.',
      );
    }
    expect(await pendingOf(t)).toBe(200);
    await expectOneRecordEach(t, answers);

    // Denying three frees exactly three slots, whoever asks next.
    for (const a of accepted(answers).slice(0, 3)) await deny(t, approvalIdOf(a));
    const next = await Promise.all(
      Array.from({ length: 10 }, (_, i) => ask(t, `u-late-${i}`, `late ${i}`)),
    );
    expect(accepted(next)).toHaveLength(3);
    expect(refused(next)).toHaveLength(7);
    expect(await pendingOf(t)).toBe(200);
    await expectOneRecordEach(t, next);
  });
});
