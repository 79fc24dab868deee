import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import {
  DynamoApprovalStore,
  PENDING_SLOTS,
  pendingSlotKey,
} from '../../lambdas/adapters/aws/dynamo-approval-store';
import { jsonLogger } from '../../lambdas/adapters/json-logger';
import { createFinishHandler } from '../../lambdas/aws/approval-flow-handlers';
import { ApprovalLifecycle } from '../../lambdas/core/approvals';
import type { AuditRecord } from '../../lambdas/core/audit';
import { Gateway } from '../../lambdas/core/gateway';
import { actionHash } from '../../lambdas/core/hash';
import { Operator } from '../../lambdas/core/operator';
import {
  type Approval,
  type ControlSnapshot,
  type ControlSwitch,
  PendingCapReached,
} from '../../lambdas/core/ports';
import { type DynaliteApprovals, startDynaliteApprovals } from '../helpers/dynalite';

/**
 * The caps on pending approvals on AWS (issue 11, item 4): each pending approval takes a slot
 * of its user's counter and of the total in the transaction that stores it, and gives both back
 * in the transaction that moves it out of `pending_approval`, so concurrent requests cannot
 * overshoot a cap and the counts never drift. Against dynalite (with TransactWriteItems added in
 * front of it, `test/helpers/dynalite-transactions.ts`), each test on a table of its own.
 */

// Hundreds of simultaneous requests, each stored durably: more than the default 30 s on a slow machine.
jest.setTimeout(60_000);

const CAPS = { perUser: 20, total: 200 };
const log = jsonLogger(() => undefined);
const clock = { now: () => Date.now() };
let seq = 0;

function approval(userId: string, overrides: Partial<Approval> = {}): Approval {
  seq += 1;
  const action = { action: 'create_note' as const, contact_id: '101', body: `note ${seq}` };
  return {
    approval_id: `apr_caps${seq}`,
    request_id: `req_caps${seq}`,
    action,
    action_hash: actionHash(action),
    user_id: userId,
    agent_prompt: 'Log it',
    requested_by: 'agent-role',
    status: 'pending_approval',
    created_at: new Date().toISOString(),
    expires_at: new Date(Date.now() + 3600_000).toISOString(),
    required_approvals: 1,
    approvals: [],
    version: 0,
    ...overrides,
  };
}

describe('the caps on pending approvals, in DynamoDB', () => {
  let db: DynaliteApprovals;
  let store: DynamoApprovalStore;
  beforeEach(async () => {
    db = await startDynaliteApprovals();
    store = new DynamoApprovalStore(db.client, db.tableName);
  });
  afterEach(async () => {
    await db.close();
  });

  const counter = async (key: string): Promise<number> => {
    const { Item } = await db.client.send(
      new GetCommand({ TableName: db.tableName, Key: { approval_id: key }, ConsistentRead: true }),
    );
    return (Item?.[PENDING_SLOTS.countAttribute] as number | undefined) ?? 0;
  };
  const counts = async (userId: string) => ({
    user: await counter(pendingSlotKey(userId)),
    total: await counter(PENDING_SLOTS.totalKey),
  });
  const settle = async (creates: Promise<void>[]) => {
    const results = await Promise.allSettled(creates);
    const refusals = results
      .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      .map((r) => r.reason as unknown);
    return { stored: results.filter((r) => r.status === 'fulfilled').length, refusals };
  };

  it('of 40 concurrent creates for one user with a cap of 20, exactly 20 are stored', async () => {
    const { stored, refusals } = await settle(
      Array.from({ length: 40 }, () => store.create(approval('u-burst'), CAPS)),
    );
    expect(stored).toBe(20);
    expect(refusals).toHaveLength(20);
    for (const r of refusals) {
      expect(r).toBeInstanceOf(PendingCapReached);
      expect(r).toMatchObject({ cap: 'per_user', pending: 20 });
    }
    const pending = await store.listByStatus('pending_approval');
    expect(pending.filter((a) => a.user_id === 'u-burst')).toHaveLength(20);
    expect(await counts('u-burst')).toEqual({ user: 20, total: 20 });
  });

  it('of 250 concurrent creates across 25 users with a total cap of 200, exactly 200 are stored', async () => {
    const users = Array.from({ length: 25 }, (_, i) => `u-crowd-${i}`);
    const { stored, refusals } = await settle(
      Array.from({ length: 250 }, (_, i) => store.create(approval(users[i % 25] ?? ''), CAPS)),
    );
    expect(stored).toBe(200);
    expect(refusals).toHaveLength(50);
    for (const r of refusals) expect(r).toMatchObject({ cap: 'total', pending: 200 });
    const pending = await store.listByStatus('pending_approval');
    expect(pending).toHaveLength(200);
    expect(await counter(PENDING_SLOTS.totalKey)).toBe(200);
    // Each user's counter is exactly its pending approvals: the refused ones took nothing.
    for (const u of users) {
      expect(await counter(pendingSlotKey(u))).toBe(pending.filter((a) => a.user_id === u).length);
    }
  });

  it('reports the per-user cap first when both are reached, and takes nothing', async () => {
    for (let i = 0; i < 2; i += 1) await store.create(approval('u-both'), CAPS);
    await expect(store.create(approval('u-both'), { perUser: 2, total: 2 })).rejects.toMatchObject({
      cap: 'per_user',
      pending: 2,
    });
    await expect(store.create(approval('u-fresh'), { perUser: 2, total: 2 })).rejects.toMatchObject(
      { cap: 'total', pending: 2 },
    );
    expect(await counts('u-both')).toEqual({ user: 2, total: 2 });
    expect(await counter(pendingSlotKey('u-fresh'))).toBe(0);
    await expect(store.create(approval('u-zero'), { perUser: 0, total: 10 })).rejects.toMatchObject(
      { cap: 'per_user', pending: 0 },
    );
  });

  it('gives the slot back on every way out of pending_approval, through the real paths', async () => {
    const full = { perUser: 1, total: 1000 };
    const core = new ApprovalLifecycle({
      approvals: store,
      clock,
      control: { read: async () => ({ contained: false, readOnly: false }) },
    });
    const records: AuditRecord[] = [];
    const sink = { append: async (r: AuditRecord) => void records.push(r) };
    const slack = { post: async () => ({ channel: 'C', ts: '1' }), update: async () => undefined };
    const finish = createFinishHandler({ approvals: store, audit: sink, slack, clock, log });
    const snapshot: ControlSnapshot = { contained: true, readOnly: false };
    const control: ControlSwitch = {
      read: async () => snapshot,
      snapshot: async () => snapshot,
      set: async () => snapshot,
    };
    const operator = new Operator({
      control,
      approvals: store,
      audit: sink,
      clock,
      log,
      cancelled: async () => undefined,
    });

    const ways: [string, (a: Approval) => Promise<unknown>][] = [
      [
        'approved',
        (a) => core.decide({ approvalId: a.approval_id, deciderId: 'U1', decision: 'approve' }),
      ],
      [
        'denied',
        (a) => core.decide({ approvalId: a.approval_id, deciderId: 'U1', decision: 'deny' }),
      ],
      // The state machine's timeout path: Expired → Finish with outcome expired.
      ['expired', (a) => finish({ approval_id: a.approval_id, outcome: 'expired' })],
      // A flow that failed before a decision: Failed → Finish with outcome failed.
      [
        'failed',
        (a) => finish({ approval_id: a.approval_id, outcome: 'failed', error: { Error: 'X' } }),
      ],
      // The kill switch: the ops function's sweep denies every pending write.
      [
        'denied',
        () => operator.sweepPending({ requestId: 'req_op', by: 'ops', route: null, startedAt: 0 }),
      ],
    ];
    for (const [status, leave] of ways) {
      const user = `u-way-${status}-${seq}`;
      const a = approval(user);
      await store.create(a, full);
      expect(await counter(pendingSlotKey(user))).toBe(1);
      await expect(store.create(approval(user), full)).rejects.toBeInstanceOf(PendingCapReached);
      await leave(a);
      expect((await store.get(a.approval_id))?.status).toBe(status);
      expect(await counter(pendingSlotKey(user))).toBe(0);
      expect(await counter(PENDING_SLOTS.totalKey)).toBe(0);
      // The slot is free again: the next write of that user is stored.
      const next = approval(user);
      await store.create(next, full);
      expect(await counter(pendingSlotKey(user))).toBe(1);
      await store.transition(next.approval_id, 'pending_approval', { status: 'denied' });
      expect(await counts(user)).toEqual({ user: 0, total: 0 });
    }
  });

  it('moves no slot on transitions that stay in pending_approval or start outside it', async () => {
    const a = approval('u-stay', { required_approvals: 2 });
    await store.create(a, CAPS);
    const core = new ApprovalLifecycle({
      approvals: store,
      clock,
      control: { read: async () => ({ contained: false, readOnly: false }) },
    });
    // The two-person rule: the first approval is counted, the write still waits.
    const first = await core.decide({
      approvalId: a.approval_id,
      deciderId: 'U1',
      decision: 'approve',
    });
    expect(first.kind).toBe('recorded');
    await store.transition(a.approval_id, 'pending_approval', {
      status: 'pending_approval',
      slack: { channel: 'C', ts: '2' },
    });
    expect(await counts('u-stay')).toEqual({ user: 1, total: 1 });
    // A transition from the wrong status changes nothing.
    expect(await store.transition(a.approval_id, 'approved', { status: 'completed' })).toBeNull();
    expect(await counts('u-stay')).toEqual({ user: 1, total: 1 });

    const second = await core.decide({
      approvalId: a.approval_id,
      deciderId: 'U2',
      decision: 'approve',
    });
    expect(second.kind).toBe('approved');
    expect(second.approval).toMatchObject({ status: 'approved', version: 3 });
    expect(await counts('u-stay')).toEqual({ user: 0, total: 0 });
    // approved → completed: the slot was already given back; nothing moves again.
    await store.transition(a.approval_id, 'approved', {
      status: 'completed',
      result: { note_id: '1' },
    });
    expect(await counts('u-stay')).toEqual({ user: 0, total: 0 });

    // An approval stored decided (never pending) takes no slot.
    await store.create(approval('u-stay', { status: 'denied' }), CAPS);
    expect(await counts('u-stay')).toEqual({ user: 0, total: 0 });
  });

  it('of 50 concurrent transitions out of pending, one wins and one slot comes back', async () => {
    const a = approval('u-race');
    const b = approval('u-race');
    await store.create(a, CAPS);
    await store.create(b, CAPS);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, n) =>
        store.transition(a.approval_id, 'pending_approval', {
          status: n % 2 === 0 ? 'denied' : 'expired',
          decided_by: `d-${n}`,
        }),
      ),
    );
    const winners = results.filter((r) => r !== null);
    expect(winners).toHaveLength(1);
    expect(await store.get(a.approval_id)).toEqual(winners[0]);
    expect(await counts('u-race')).toEqual({ user: 1, total: 1 });
  });

  it('returns the approval exactly as stored, without the slot, task token or ttl', async () => {
    const a = approval('u-shape');
    await store.create(a, CAPS);
    await store.setTaskToken(a.approval_id, 'tok-secret');
    const { Item } = await db.client.send(
      new GetCommand({ TableName: db.tableName, Key: { approval_id: a.approval_id } }),
    );
    expect(Item?.[PENDING_SLOTS.slotAttribute]).toBe(pendingSlotKey('u-shape'));
    expect(await store.get(a.approval_id)).toEqual(a);
    const next = await store.transition(a.approval_id, 'pending_approval', {
      status: 'denied',
      decided_by: 'U9',
      error: undefined,
      expires_at: '2026-12-01T00:00:00.000Z',
    });
    expect(next).toEqual({
      ...a,
      status: 'denied',
      decided_by: 'U9',
      expires_at: '2026-12-01T00:00:00.000Z',
      version: 1,
    });
    expect(await store.get(a.approval_id)).toEqual(next);
    const after = await db.client.send(
      new GetCommand({ TableName: db.tableName, Key: { approval_id: a.approval_id } }),
    );
    expect(after.Item).not.toHaveProperty(PENDING_SLOTS.slotAttribute);
    expect(after.Item?.task_token).toBe('tok-secret');
    expect(after.Item?.ttl).toBe(Date.parse('2026-12-01T00:00:00.000Z') / 1000 + 2_592_000);
  });

  it('a create that fails takes no slot: an existing id, a refused cap', async () => {
    const a = approval('u-fail');
    await store.create(a, CAPS);
    await expect(store.create({ ...a, user_id: 'u-other' }, CAPS)).rejects.toThrow(
      'approval id already exists',
    );
    expect(await counts('u-fail')).toEqual({ user: 1, total: 1 });
    expect(await counter(pendingSlotKey('u-other'))).toBe(0);

    const refused = approval('u-fail');
    await expect(store.create(refused, { perUser: 1, total: 100 })).rejects.toMatchObject({
      cap: 'per_user',
      pending: 1,
    });
    expect(await store.get(refused.approval_id)).toBeUndefined();
    expect(await counts('u-fail')).toEqual({ user: 1, total: 1 });
  });

  it('retries a transaction cancelled for contention, and when it gives up takes no slot', async () => {
    let conflicts = 0;
    const flaky = Object.create(db.client) as typeof db.client;
    flaky.send = ((command: unknown) => {
      if (command instanceof TransactWriteCommand && conflicts > 0) {
        conflicts -= 1;
        return Promise.reject(
          new TransactionCanceledException({
            message: 'Transaction cancelled [None, TransactionConflict, None]',
            $metadata: {},
            CancellationReasons: [
              { Code: 'None' },
              { Code: 'TransactionConflict' },
              { Code: 'None' },
            ],
          }),
        );
      }
      return db.client.send(command as GetCommand);
    }) as typeof db.client.send;
    const busy = new DynamoApprovalStore(flaky, db.tableName, {
      transactionAttempts: 3,
      retryBaseMs: 1,
    });

    conflicts = 2;
    const a = approval('u-busy');
    await busy.create(a, CAPS);
    expect(conflicts).toBe(0);
    expect(await counts('u-busy')).toEqual({ user: 1, total: 1 });

    conflicts = 3;
    const b = approval('u-busy');
    await expect(busy.create(b, CAPS)).rejects.toMatchObject({
      name: 'TransactionCanceledException',
    });
    expect(await busy.get(b.approval_id)).toBeUndefined();
    expect(await counts('u-busy')).toEqual({ user: 1, total: 1 });

    // A release retried after contention still gives the slot back exactly once.
    conflicts = 2;
    expect(
      await busy.transition(a.approval_id, 'pending_approval', { status: 'denied' }),
    ).toMatchObject({ status: 'denied', version: 1 });
    expect(await counts('u-busy')).toEqual({ user: 0, total: 0 });
  });

  it('throws errors other than a cancellation, and takes no slot', async () => {
    const elsewhere = new DynamoApprovalStore(db.client, 'no-such-table');
    await expect(elsewhere.create(approval('u-x'), CAPS)).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
    expect(await counts('u-x')).toEqual({ user: 0, total: 0 });
  });

  it('counters are not approvals: not found, not listed, not transitioned', async () => {
    await store.create(approval('u-hidden'), CAPS);
    expect(await store.get(PENDING_SLOTS.totalKey)).toBeUndefined();
    expect(await store.get(pendingSlotKey('u-hidden'))).toBeUndefined();
    expect(await store.getTaskToken(PENDING_SLOTS.totalKey)).toBeUndefined();
    expect(await store.setTaskToken(PENDING_SLOTS.totalKey, 'tok')).toBe(false);
    const listed = await store.listByStatus('pending_approval');
    expect(listed.map((a) => a.approval_id).some((id) => id.startsWith('pending_slots#'))).toBe(
      false,
    );
    expect(
      await store.transition(PENDING_SLOTS.totalKey, 'pending_approval', { status: 'denied' }),
    ).toBeNull();
    expect(await counts('u-hidden')).toEqual({ user: 1, total: 1 });
  });

  it('an approval stored before the counters holds no slot and gives none back', async () => {
    const legacy = approval('u-legacy');
    await db.client.send(new PutCommand({ TableName: db.tableName, Item: legacy }));
    await store.create(approval('u-legacy'), CAPS);
    const moved = await store.transition(legacy.approval_id, 'pending_approval', {
      status: 'expired',
    });
    expect(moved).toMatchObject({ status: 'expired', version: 1 });
    expect(await counts('u-legacy')).toEqual({ user: 1, total: 1 });
  });
});

describe('the gateway on the DynamoDB store', () => {
  let db: DynaliteApprovals;
  beforeEach(async () => {
    db = await startDynaliteApprovals();
  });
  afterEach(async () => {
    await db.close();
  });

  const gatewayOn = (
    store: DynamoApprovalStore,
    records: AuditRecord[],
    opts: { auditFails?: (r: AuditRecord) => boolean; startFails?: boolean } = {},
  ) => {
    return new Gateway({
      hubspot: {
        search: () => Promise.reject(new Error('not used')),
        createNote: () => Promise.reject(new Error('not used')),
      },
      audit: {
        append: async (r) => {
          if (opts.auditFails?.(r)) throw new Error('audit down');
          records.push(r);
        },
      },
      approvals: store,
      control: { read: async () => ({ contained: false, readOnly: false }) },
      clock,
      ids: { requestId: () => `req_gw${++seq}`, approvalId: () => `apr_gw${++seq}` },
      log,
      workflow: {
        start: async () => {
          if (opts.startFails) throw new Error('no state machine');
        },
      },
      config: {
        promptMode: 'block',
        allowedActions: null,
        requestDeadlineMs: 1000,
        approvalTtlMs: 3600_000,
        statusUrl: (id) => `/v1/actions/${id}`,
      },
    });
  };
  const ask = (gateway: Gateway, requestId: string, userId: string) =>
    gateway.handleAction(
      { requestId, route: 'POST /v1/actions', startedAt: Date.now() },
      { id: 'arn:aws:iam::1:role/agent', role: 'agent' },
      JSON.stringify({
        user_id: userId,
        agent_prompt: 'log it',
        action: { action: 'create_note', contact_id: '1', body: requestId },
      }),
    );

  it('answers 20 of 40 concurrent writes of one user 202 and 20 429, one record each', async () => {
    const store = new DynamoApprovalStore(db.client, db.tableName);
    const records: AuditRecord[] = [];
    const gateway = gatewayOn(store, records);
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => ask(gateway, `req_w${i}`, 'u-gw')),
    );
    expect(answers.filter((a) => a.status === 202)).toHaveLength(20);
    const refused = answers.filter((a) => a.status === 429);
    expect(refused).toHaveLength(20);
    for (const a of refused) {
      expect(a.body.error).toEqual({
        code: 'rate_limited',
        message:
          '20 writes of this user already wait for approval; wait for decisions before asking for more.',
        details: { rule: 'pending_approvals' },
      });
    }
    for (let i = 0; i < 40; i += 1) {
      expect(records.filter((r) => r.request_id === `req_w${i}`)).toHaveLength(1);
    }
  });

  it('gives the slot back when the flow cannot start or the audit log is down', async () => {
    const store = new DynamoApprovalStore(db.client, db.tableName);
    const records: AuditRecord[] = [];
    const noFlow = await ask(gatewayOn(store, records, { startFails: true }), 'req_nf', 'u-gw2');
    expect(noFlow.status).toBe(503);
    const noAudit = await ask(
      gatewayOn(store, records, { auditFails: (r) => r.outcome === 'pending_approval' }),
      'req_na',
      'u-gw2',
    );
    expect([noAudit.status, (noAudit.body.error as { code: string }).code]).toEqual([
      503,
      'audit_unavailable',
    ]);
    const failed = await store.listByStatus('failed');
    expect(failed.map((a) => a.request_id).sort()).toEqual(['req_na', 'req_nf']);
    const { Item } = await db.client.send(
      new GetCommand({ TableName: db.tableName, Key: { approval_id: pendingSlotKey('u-gw2') } }),
    );
    expect(Item?.pending).toBe(0);
  });
});
