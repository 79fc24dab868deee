import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import {
  APPROVAL_RETENTION_SECONDS,
  APPROVAL_TABLE,
  DynamoApprovalStore,
} from '../../lambdas/adapters/aws/dynamo-approval-store';
import type { Approval } from '../../lambdas/core/ports';
import { type DynaliteApprovals, startDynaliteApprovals } from '../helpers/dynalite';

let db: DynaliteApprovals;
let store: DynamoApprovalStore;
let seq = 0;

beforeAll(async () => {
  db = await startDynaliteApprovals();
  store = new DynamoApprovalStore(db.client, db.tableName);
});
afterAll(async () => {
  await db?.close();
});

/** A fresh approval with unique ids, so tests share one table without seeing each other. */
function approval(overrides: Partial<Approval> = {}): Approval {
  seq++;
  return {
    approval_id: `apr_${seq}_${Math.random().toString(36).slice(2, 8)}`,
    request_id: `req_${seq}_${Math.random().toString(36).slice(2, 8)}`,
    action: { action: 'create_note', contact_id: '101', body: 'Call back on Tuesday' },
    action_hash: 'a'.repeat(64),
    user_id: 'u-42',
    agent_prompt: 'Note that Dana wants a call back on Tuesday',
    requested_by: 'agent-key',
    status: 'pending_approval',
    created_at: '2026-11-29T10:15:30.123Z',
    expires_at: '2026-11-29T10:30:30.123Z',
    ...overrides,
  };
}

async function rawItem(approvalId: string): Promise<Record<string, unknown> | undefined> {
  const { Item } = await db.client.send(
    new GetCommand({
      TableName: db.tableName,
      Key: { approval_id: approvalId },
      ConsistentRead: true,
    }),
  );
  return Item;
}

describe('APPROVAL_TABLE', () => {
  it('is the schema the CDK construct creates', () => {
    expect(APPROVAL_TABLE).toEqual({
      partitionKey: 'approval_id',
      byRequestIndex: 'by_request',
      byStatusIndex: 'by_status',
      ttlAttribute: 'ttl',
    });
  });
});

describe('the DynamoDB approval store, against dynalite', () => {
  it('round-trips an approval: the action map intact, version 0, no task token, no ttl', async () => {
    const a = approval({ slack: { channel: 'C123', ts: '1700000000.000100' } });
    await store.create(a);
    const got = await store.get(a.approval_id);
    expect(got).toEqual({ ...a, version: 0 });
    expect(got?.action).toEqual({
      action: 'create_note',
      contact_id: '101',
      body: 'Call back on Tuesday',
    });
    expect(got).not.toHaveProperty('task_token');
    expect(got).not.toHaveProperty('ttl');
    expect(await store.get('apr_missing')).toBeUndefined();
  });

  it('keeps a given version, and drops undefined members with a plain DocumentClient', async () => {
    const a = approval({ version: 3, decided_at: undefined, decided_by: undefined });
    await store.create(a);
    const got = await store.get(a.approval_id);
    expect(got?.version).toBe(3);
    expect(got).not.toHaveProperty('decided_at');
  });

  it('refuses to create an approval whose id exists, and keeps the first', async () => {
    const a = approval();
    await store.create(a);
    await expect(store.create({ ...a, user_id: 'someone-else' })).rejects.toThrow(
      'approval id already exists',
    );
    expect((await store.get(a.approval_id))?.user_id).toBe('u-42');
  });

  it('refuses an approval whose expires_at is not a date', async () => {
    await expect(store.create(approval({ expires_at: 'soon' }))).rejects.toThrow('expires_at');
  });

  it('sets ttl to expires_at in epoch seconds plus 30 days, and moves it with expires_at', async () => {
    const a = approval();
    await store.create(a);
    const item = await rawItem(a.approval_id);
    expect(APPROVAL_RETENTION_SECONDS).toBe(30 * 24 * 3600);
    expect(item?.ttl).toBe(Math.floor(Date.parse(a.expires_at) / 1000) + 30 * 24 * 3600);
    expect(item?.ttl).toBe(1_795_948_230 + 2_592_000);

    await store.transition(a.approval_id, 'pending_approval', {
      status: 'pending_approval',
      expires_at: '2026-11-29T11:00:00.000Z',
    });
    expect((await rawItem(a.approval_id))?.ttl).toBe(
      Date.parse('2026-11-29T11:00:00.000Z') / 1000 + 2_592_000,
    );
  });

  it('finds an approval by its request id', async () => {
    const a = approval();
    await store.create(a);
    await store.create(approval());
    expect(await store.getByRequest(a.request_id)).toEqual({ ...a, version: 0 });
    expect(await store.getByRequest('req_missing')).toBeUndefined();
  });

  it('lists only the approvals of one status, sorted by created_at, across pages', async () => {
    const failed = [
      approval({ status: 'failed', created_at: '2026-11-29T10:00:03.000Z' }),
      approval({ status: 'failed', created_at: '2026-11-29T10:00:01.000Z' }),
      approval({ status: 'failed', created_at: '2026-11-29T10:00:02.000Z' }),
    ];
    // Large enough that the index answers in more than one page (1 MB per page).
    const big = 'x'.repeat(350_000);
    const denied = [1, 2, 3, 4].map((n) =>
      approval({ status: 'denied', agent_prompt: big, created_at: `2026-11-29T09:00:0${n}.000Z` }),
    );
    for (const a of [...failed, ...denied]) await store.create(a);
    await store.create(approval({ status: 'expired' }));

    // Other tests share the table: look at ours, in the order listed.
    const mine = (list: Approval[], ours: Approval[]) =>
      list.map((a) => a.approval_id).filter((id) => ours.some((o) => o.approval_id === id));

    const listed = await store.listByStatus('failed');
    expect(listed.every((a) => a.status === 'failed' && !('ttl' in a))).toBe(true);
    expect(mine(listed, failed)).toEqual(
      [failed[1], failed[2], failed[0]].map((a) => a?.approval_id),
    );
    expect(listed.find((a) => a.approval_id === failed[0]?.approval_id)).toEqual({
      ...failed[0],
      version: 0,
    });
    const times = listed.map((a) => a.created_at);
    expect(times).toEqual([...times].sort());

    const deniedListed = await store.listByStatus('denied');
    expect(deniedListed.every((a) => a.status === 'denied')).toBe(true);
    expect(mine(deniedListed, denied)).toEqual(denied.map((a) => a.approval_id));
    expect(await store.listByStatus('completed')).toEqual([]);
  });

  describe('transition (compare-and-set)', () => {
    it('applies the patch, bumps the version and returns the new approval', async () => {
      const a = approval();
      await store.create(a);
      const next = await store.transition(a.approval_id, 'pending_approval', {
        status: 'approved',
        decided_at: '2026-11-29T10:20:00.000Z',
        decided_by: 'approver@example.com',
        approvals: [{ by: 'approver@example.com', at: '2026-11-29T10:20:00.000Z' }],
      });
      const expected = {
        ...a,
        status: 'approved',
        decided_at: '2026-11-29T10:20:00.000Z',
        decided_by: 'approver@example.com',
        approvals: [{ by: 'approver@example.com', at: '2026-11-29T10:20:00.000Z' }],
        version: 1,
      };
      expect(next).toEqual(expected);
      expect(await store.get(a.approval_id)).toEqual(expected);

      const done = await store.transition(a.approval_id, 'approved', {
        status: 'completed',
        result: { note_id: '9001' },
        error: undefined,
        action: { action: 'create_note', contact_id: '101', body: 'Call back on Tuesday' },
      });
      expect(done).toEqual({
        ...expected,
        status: 'completed',
        result: { note_id: '9001' },
        version: 2,
      });
      expect(done).not.toHaveProperty('error');
    });

    it('returns null from the wrong status and changes nothing', async () => {
      const a = approval();
      await store.create(a);
      const before = await rawItem(a.approval_id);
      expect(
        await store.transition(a.approval_id, 'approved', { status: 'completed', decided_by: 'x' }),
      ).toBeNull();
      expect(await rawItem(a.approval_id)).toEqual(before);
    });

    it('returns null for an approval that does not exist, and creates nothing', async () => {
      expect(
        await store.transition('apr_nowhere', 'pending_approval', { status: 'approved' }),
      ).toBeNull();
      expect(await rawItem('apr_nowhere')).toBeUndefined();
    });

    it('never changes approval_id, and ignores a patched version', async () => {
      const a = approval();
      await store.create(a);
      const next = await store.transition(a.approval_id, 'pending_approval', {
        status: 'denied',
        approval_id: 'apr_hijacked',
        version: 42,
      });
      expect(next).toMatchObject({ approval_id: a.approval_id, status: 'denied', version: 1 });
      expect(await rawItem('apr_hijacked')).toBeUndefined();
    });

    it('honours expectedVersion, and counts a missing version as 0', async () => {
      const a = approval();
      await store.create(a);
      expect(
        await store.transition(a.approval_id, 'pending_approval', { status: 'denied' }, 1),
      ).toBeNull();
      expect((await store.get(a.approval_id))?.status).toBe('pending_approval');
      const next = await store.transition(
        a.approval_id,
        'pending_approval',
        { status: 'pending_approval', write_started_at: '2026-11-29T10:21:00.000Z' },
        0,
      );
      expect(next?.version).toBe(1);
      expect(
        await store.transition(a.approval_id, 'pending_approval', { status: 'approved' }, 0),
      ).toBeNull();
      expect(
        (await store.transition(a.approval_id, 'pending_approval', { status: 'approved' }, 1))
          ?.version,
      ).toBe(2);

      // An item written before versions existed.
      const legacy = approval();
      await db.client.send(new PutCommand({ TableName: db.tableName, Item: legacy }));
      expect(
        await store.transition(legacy.approval_id, 'pending_approval', { status: 'denied' }, 1),
      ).toBeNull();
      expect(
        (await store.transition(legacy.approval_id, 'pending_approval', { status: 'denied' }, 0))
          ?.version,
      ).toBe(1);
      const legacy2 = approval();
      await db.client.send(new PutCommand({ TableName: db.tableName, Item: legacy2 }));
      expect(
        (await store.transition(legacy2.approval_id, 'pending_approval', { status: 'denied' }))
          ?.version,
      ).toBe(1);
    });

    it('lets exactly one of 50 concurrent pending → approved transitions win', async () => {
      const a = approval();
      await store.create(a);
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, n) =>
          store.transition(a.approval_id, 'pending_approval', {
            status: 'approved',
            decided_by: `approver-${n}`,
          }),
        ),
      );
      const winners = results.filter((r) => r !== null);
      expect(winners).toHaveLength(1);
      const stored = await store.get(a.approval_id);
      expect(stored).toMatchObject({ status: 'approved', version: 1 });
      expect(stored?.decided_by).toBe(winners[0]?.decided_by);
    });

    it('two-person rule: of concurrent "add an approver" updates, exactly one wins per version', async () => {
      const a = approval({ required_approvals: 10, approvals: [] });
      await store.create(a);
      const people = Array.from({ length: 10 }, (_, n) => `approver-${n}@example.com`);
      const addMe = (me: string, prev: Approval) =>
        store.transition(
          a.approval_id,
          'pending_approval',
          {
            status: 'pending_approval',
            approvals: [...(prev.approvals ?? []), { by: me, at: '2026-11-29T10:20:00.000Z' }],
          },
          prev.version,
        );

      // One round: everyone read version 0; exactly one update lands.
      const prev = (await store.get(a.approval_id)) as Approval;
      const round = await Promise.all(people.map((me) => addMe(me, prev)));
      expect(round.filter((r) => r !== null)).toHaveLength(1);

      // Everyone retries from a fresh read until they are in: no approval is ever lost.
      const wonAt: number[] = [];
      await Promise.all(
        people.map(async (me) => {
          for (;;) {
            const cur = (await store.get(a.approval_id)) as Approval;
            if (cur.approvals?.some((x) => x.by === me)) return;
            const next = await addMe(me, cur);
            if (next) wonAt.push(cur.version ?? 0);
          }
        }),
      );
      const final = (await store.get(a.approval_id)) as Approval;
      expect(final.version).toBe(10);
      expect(new Set(final.approvals?.map((x) => x.by))).toEqual(new Set(people));
      expect(final.approvals).toHaveLength(10);
      // The first round's winner took version 0; the retries took 1..9, one each.
      expect(wonAt.sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });

    it('throws errors other than a failed condition', async () => {
      const elsewhere = new DynamoApprovalStore(db.client, 'no-such-table');
      await expect(
        elsewhere.transition('apr_1', 'pending_approval', { status: 'approved' }),
      ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
      await expect(elsewhere.setTaskToken('apr_1', 'tok')).rejects.toMatchObject({
        name: 'ResourceNotFoundException',
      });
    });
  });

  describe('the Step Functions task token', () => {
    it('is stored only while pending, without bumping the version, and never returned', async () => {
      const a = approval();
      await store.create(a);
      const token = 'AQCEAAAAKgAAAAMAAAAAAAAAAf4k+fake+task+token==';
      expect(await store.getTaskToken(a.approval_id)).toBeUndefined();
      expect(await store.setTaskToken(a.approval_id, token)).toBe(true);
      expect(await store.getTaskToken(a.approval_id)).toBe(token);
      expect((await rawItem(a.approval_id))?.task_token).toBe(token);

      const got = await store.get(a.approval_id);
      expect(got).toEqual({ ...a, version: 0 });
      expect(JSON.stringify(got)).not.toContain(token);
      expect(JSON.stringify(await store.getByRequest(a.request_id))).not.toContain(token);
      expect(JSON.stringify(await store.listByStatus('pending_approval'))).not.toContain(token);

      const next = await store.transition(a.approval_id, 'pending_approval', { status: 'denied' });
      expect(next?.status).toBe('denied');
      expect(next).not.toHaveProperty('task_token');
      expect(next).not.toHaveProperty('ttl');
      expect(JSON.stringify(next)).not.toContain(token);
      expect(JSON.stringify(await store.listByStatus('denied'))).not.toContain(token);
      // It stays in the table, for whoever must answer the wait.
      expect(await store.getTaskToken(a.approval_id)).toBe(token);

      // No longer pending: refused, and the stored token is unchanged.
      expect(await store.setTaskToken(a.approval_id, 'another-token')).toBe(false);
      expect(await store.getTaskToken(a.approval_id)).toBe(token);
    });

    it('is refused for an approval that does not exist, and creates nothing', async () => {
      expect(await store.setTaskToken('apr_ghost', 'tok')).toBe(false);
      expect(await rawItem('apr_ghost')).toBeUndefined();
      expect(await store.getTaskToken('apr_ghost')).toBeUndefined();
    });
  });
});
