import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileApprovalStore } from '../../lambdas/adapters/local/approval-store';
import {
  ApprovalLifecycle,
  CONTAINED_CANCEL,
  reasonOf,
  type Step,
  TRANSITIONS,
} from '../../lambdas/core/approvals';
import { actionHash } from '../../lambdas/core/hash';
import type { Approval, ApprovalStatus, HubSpotCall } from '../../lambdas/core/ports';
import { sourceFiles } from '../helpers/import-graph';

const ROOT = path.resolve(__dirname, '../..');
const action = { action: 'create_note' as const, contact_id: '51', body: 'Renewal call done.' };
const STATUSES: readonly ApprovalStatus[] = [
  'pending_approval',
  'approved',
  'denied',
  'expired',
  'completed',
  'failed',
];
const T0 = Date.parse('2026-11-29T10:30:00.000Z');

function approval(id: string, status: ApprovalStatus, overrides: Partial<Approval> = {}): Approval {
  return {
    approval_id: id,
    request_id: `req_${id}`,
    action,
    action_hash: actionHash(action),
    user_id: 'U-REQUESTER',
    agent_prompt: 'log the call',
    requested_by: 'agent-key',
    status,
    created_at: '2026-11-29T10:00:00.000Z',
    // Already due: the expiry step moves it (from a status it may start from).
    expires_at: '2026-11-29T10:15:00.000Z',
    version: 0,
    ...overrides,
  };
}

describe('the approval lifecycle', () => {
  let dir: string;
  let store: FileApprovalStore;
  let switchOn = false;
  const lifecycle = () =>
    new ApprovalLifecycle({
      approvals: store,
      clock: { now: () => T0 },
      control: { read: async () => ({ contained: switchOn, readOnly: false }) },
    });

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'lifecycle-'));
    store = await FileApprovalStore.open(path.join(dir, 'approvals.json'));
    switchOn = false;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** The steps an adapter drives directly, each as the lifecycle's own method. */
  type Run = (l: ApprovalLifecycle, a: Approval) => Promise<unknown>;
  const DIRECT: [Step, Run][] = [
    ['cancel', (l, a) => l.cancel(a.approval_id, 'operator')],
    ['expire', (l, a) => l.expireIfDue(a)],
    ['time_out', (l, a) => l.timeOut(a)],
    [
      'abandon',
      (l, a) => l.abandon(a.approval_id, { code: 'approvals_unavailable', message: 'x' }),
    ],
    ['complete', (l, a) => l.complete(a.approval_id, '5400000001')],
    ['fail', (l, a) => l.fail(a.approval_id, { code: 'hubspot_error', message: 'x' })],
  ];

  for (const [step, run] of DIRECT) {
    const { from, to } = TRANSITIONS[step];
    it(`${step}: moves only from ${from.join(', ')}, to ${to}; from any other status nothing moves`, async () => {
      for (const status of STATUSES) {
        const a = approval(`apr_${step}_${status}`, status);
        await store.create(a);
        await run(lifecycle(), a);
        const after = (await store.get(a.approval_id))?.status;
        expect([status, after]).toEqual([
          status,
          (from as readonly ApprovalStatus[]).includes(status) ? to : status,
        ]);
      }
    });
  }

  it('a decision moves only a pending write; the others refuse it and stay as they were', async () => {
    for (const status of STATUSES) {
      const a = approval(`apr_decide_${status}`, status, {
        expires_at: '2026-11-29T11:00:00.000Z',
      });
      await store.create(a);
      const out = lifecycle().decide({
        approvalId: a.approval_id,
        deciderId: 'U-ANNA',
        decision: 'approve',
      });
      if (status === 'pending_approval')
        await expect(out).resolves.toMatchObject({ kind: 'approved' });
      else
        await expect(out).rejects.toMatchObject({
          code: status === 'expired' ? 'approval_expired' : 'already_decided',
        });
      const after = (await store.get(a.approval_id))?.status;
      expect(after).toBe(status === 'pending_approval' ? 'approved' : status);
    }
  });

  it('runs an approved write exactly once: a second run sends nothing and answers the same note', async () => {
    const a = approval('apr_once', 'approved');
    await store.create(a);
    let sent = 0;
    const hubspot = {
      createNote: async () => {
        sent += 1;
        return `540000000${sent}`;
      },
      findNote: async () => null,
    } as never;
    const calls: HubSpotCall[] = [];
    const run = { hubspot, deadline: T0 + 8000, calls };
    const first = await lifecycle().execute(a.approval_id, run);
    const second = await lifecycle().execute(a.approval_id, run);
    expect([first, second, sent]).toEqual(['5400000001', '5400000001', 1]);
    expect(await store.get(a.approval_id)).toMatchObject({
      status: 'approved',
      result: { note_id: '5400000001' },
      write_started_at: new Date(T0).toISOString(),
    });
  });

  it('refuses to start a write while the kill switch is on, sending nothing', async () => {
    const a = approval('apr_stopped', 'approved');
    await store.create(a);
    switchOn = true;
    let sent = 0;
    const hubspot = { createNote: async () => String(++sent) } as never;
    await expect(
      lifecycle().execute(a.approval_id, { hubspot, deadline: T0 + 8000, calls: [] }),
    ).rejects.toMatchObject({ refusal: 'write_stopped', code: 'gateway_contained' });
    expect(sent).toBe(0);
  });

  it('a write stored while the switch went on is cancelled, and says why in its record', async () => {
    switchOn = true;
    const recorded: Approval[] = [];
    await expect(
      lifecycle().request({
        approvalId: 'apr_raced',
        requestId: 'req_raced',
        action,
        userId: 'u-1',
        agentPrompt: 'log it',
        requestedBy: 'agent-key',
        ttlMs: 3_600_000,
        requiredApprovals: 1,
        caps: { perUser: 20, total: 200 },
        record: async (x) => void recorded.push(x),
      }),
    ).rejects.toMatchObject({ code: 'gateway_contained' });
    const stored = await store.get('apr_raced');
    expect(stored).toMatchObject({ status: 'denied', error: { code: CONTAINED_CANCEL } });
    expect(reasonOf(stored as Approval)).toBe(CONTAINED_CANCEL);
    expect(recorded).toHaveLength(0);
  });

  it('after a restart, an approved write with its note kept is completed, any other failed', async () => {
    await store.create(approval('apr_kept', 'approved', { result: { note_id: '54' } }));
    await store.create(
      approval('apr_lost', 'approved', { write_started_at: '2026-11-29T10:20:00.000Z' }),
    );
    const moved = await lifecycle().recoverInterrupted();
    expect(moved.map((m) => [m.approval_id, m.status, reasonOf(m)]).sort()).toEqual([
      ['apr_kept', 'completed', null],
      ['apr_lost', 'failed', 'interrupted'],
    ]);
  });

  it('is the only code that moves an approval: no other source file calls the store’s transition', () => {
    const movers = sourceFiles(ROOT, ['lambdas', 'lib', 'bin'])
      .filter((f) => !f.startsWith('lambdas/adapters/') && f !== 'lambdas/core/approvals.ts')
      .filter((f) => /\.transition\(/.test(readFileSync(path.join(ROOT, f), 'utf8')));
    expect(movers).toEqual([]);
  });
});
