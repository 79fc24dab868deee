import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileApprovalStore } from '../../lambdas/adapters/local/approval-store';
import { ApprovalLifecycle } from '../../lambdas/core/approvals';
import { AirlockError } from '../../lambdas/core/errors';
import { actionHash } from '../../lambdas/core/hash';
import type { Approval } from '../../lambdas/core/ports';

const action = { action: 'create_note' as const, contact_id: '51', body: 'Renewal call done.' };

function approval(overrides: Partial<Approval> = {}): Approval {
  return {
    approval_id: 'apr_1',
    request_id: 'req_1',
    action,
    action_hash: actionHash(action),
    user_id: 'U-REQUESTER',
    agent_prompt: 'log the call',
    requested_by: 'arn:aws:iam::1:role/agent',
    status: 'pending_approval',
    created_at: '2026-11-29T10:00:00.000Z',
    expires_at: '2026-11-29T11:00:00.000Z',
    ...overrides,
  };
}

describe('the approval core', () => {
  let dir: string;
  let store: FileApprovalStore;
  let now = Date.parse('2026-11-29T10:30:00.000Z');
  const open = { read: async () => ({ contained: false, readOnly: false }) };
  const core = () =>
    new ApprovalLifecycle({ approvals: store, clock: { now: () => now }, control: open });
  const codeOf = (p: Promise<unknown>) =>
    p.then(
      () => 'no error',
      (e: unknown) => (e instanceof AirlockError ? e.code : String(e)),
    );

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'approvals-'));
    store = await FileApprovalStore.open(path.join(dir, 'approvals.json'));
    now = Date.parse('2026-11-29T10:30:00.000Z');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('approves with one approval by default', async () => {
    await store.create(approval());
    const out = await core().decide({
      approvalId: 'apr_1',
      deciderId: 'U-ANNA',
      decision: 'approve',
    });
    expect(out.kind).toBe('approved');
    expect(out.approval).toMatchObject({
      status: 'approved',
      decided_by: 'U-ANNA',
      approvals: [{ by: 'U-ANNA' }],
    });
  });

  it('needs two distinct approvers under the two-person rule', async () => {
    await store.create(approval({ required_approvals: 2 }));
    const first = await core().decide({
      approvalId: 'apr_1',
      deciderId: 'U-ANNA',
      decision: 'approve',
    });
    expect(first).toMatchObject({
      kind: 'recorded',
      remaining: 1,
      approval: { status: 'pending_approval' },
    });
    expect(
      await codeOf(
        core().decide({ approvalId: 'apr_1', deciderId: 'U-ANNA', decision: 'approve' }),
      ),
    ).toBe('already_decided');
    const second = await core().decide({
      approvalId: 'apr_1',
      deciderId: 'U-BEN',
      decision: 'approve',
    });
    expect(second.kind).toBe('approved');
    expect(second.approval.decided_by).toBe('U-ANNA, U-BEN');
  });

  it('lets one deny end a write even after a first approval', async () => {
    await store.create(approval({ required_approvals: 2 }));
    await core().decide({ approvalId: 'apr_1', deciderId: 'U-ANNA', decision: 'approve' });
    const out = await core().decide({ approvalId: 'apr_1', deciderId: 'U-BEN', decision: 'deny' });
    expect(out.kind).toBe('denied');
  });

  it('approves once however many approvers click at the same time', async () => {
    await store.create(approval({ required_approvals: 2 }));
    const ids = ['U-A', 'U-B', 'U-C', 'U-D', 'U-E', 'U-F'];
    const results = await Promise.allSettled(
      ids.map((id) => core().decide({ approvalId: 'apr_1', deciderId: id, decision: 'approve' })),
    );
    const kinds = results.map((r) => (r.status === 'fulfilled' ? r.value.kind : 'refused'));
    expect(kinds.filter((k) => k === 'approved')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'recorded')).toHaveLength(1);
    expect((await store.get('apr_1'))?.approvals).toHaveLength(2);
  });

  it('refuses the person who asked when the deployment maps their user id to that approver', async () => {
    await store.create(approval());
    const mapped = new ApprovalLifecycle({
      approvals: store,
      clock: { now: () => now },
      control: open,
      rules: { userApprovers: { 'u-requester': ['U-REQUESTER'] } },
    });
    expect(
      await codeOf(
        mapped.decide({ approvalId: 'apr_1', deciderId: 'u-requester', decision: 'approve' }),
      ),
    ).toBe('approver_required');
    expect(
      await codeOf(
        mapped.decide({ approvalId: 'apr_1', deciderId: 'U-REQUESTER', decision: 'deny' }),
      ),
    ).toBe('approver_required');
    expect((await store.get('apr_1'))?.status).toBe('pending_approval');
  });

  it('lets no agent block an approver by naming it as the user: an unmapped user_id is not compared', async () => {
    // The agent chooses user_id; naming an approver there must not take that approver away.
    await store.create(approval({ user_id: 'u-anna' }));
    const outcome = await core().decide({
      approvalId: 'apr_1',
      deciderId: 'U-ANNA',
      decision: 'approve',
    });
    expect(outcome.kind).toBe('approved');
  });

  it.each([
    ['the requesting credential', { deciderId: 'arn:aws:iam::1:role/agent' }, 'approver_required'],
    ['another hash', { seenHash: 'f'.repeat(64) }, 'approval_mismatch'],
  ])('refuses a decision by %s', async (_what, extra, code) => {
    await store.create(approval());
    expect(
      await codeOf(
        core().decide({ approvalId: 'apr_1', deciderId: 'U-ANNA', decision: 'approve', ...extra }),
      ),
    ).toBe(code);
    expect((await store.get('apr_1'))?.status).toBe('pending_approval');
  });

  it('refuses after the expiry, and on an approval whose action was altered', async () => {
    await store.create(approval());
    now = Date.parse('2026-11-29T11:00:00.000Z');
    expect(
      await codeOf(
        core().decide({ approvalId: 'apr_1', deciderId: 'U-ANNA', decision: 'approve' }),
      ),
    ).toBe('approval_expired');
    await store.create(approval({ approval_id: 'apr_2', action: { ...action, body: 'altered' } }));
    now = Date.parse('2026-11-29T10:30:00.000Z');
    expect(
      await codeOf(
        core().decide({ approvalId: 'apr_2', deciderId: 'U-ANNA', decision: 'approve' }),
      ),
    ).toBe('internal_error');
  });

  it('refuses a second decision and an unknown approval', async () => {
    await store.create(approval());
    await core().decide({ approvalId: 'apr_1', deciderId: 'U-ANNA', decision: 'deny' });
    expect(
      await codeOf(core().decide({ approvalId: 'apr_1', deciderId: 'U-BEN', decision: 'approve' })),
    ).toBe('already_decided');
    expect(
      await codeOf(core().decide({ approvalId: 'apr_9', deciderId: 'U-BEN', decision: 'approve' })),
    ).toBe('not_found');
  });
});
