import type { DynamoApprovalStore } from '../../lambdas/adapters/aws/dynamo-approval-store';
import { jsonLogger } from '../../lambdas/adapters/json-logger';
import {
  createFinishHandler,
  createNotifyHandler,
  type SlackApi,
} from '../../lambdas/aws/approval-flow-handlers';
import type { AuditRecord } from '../../lambdas/core/audit';
import { actionHash } from '../../lambdas/core/hash';
import type { Approval } from '../../lambdas/core/ports';
import type { SlackMessage } from '../../lambdas/slack/message';
import { type DynaliteApprovals, startDynaliteApprovals } from '../helpers/dynalite';
import { FAKE_HUBSPOT_TOKEN, FAKE_SLACK_TOKEN } from '../helpers/fake-credentials';

const action = {
  action: 'create_note' as const,
  company_id: '5100000001',
  body: 'Q3 renewal signed.',
};

describe('the Notify and Finish tasks', () => {
  let db: DynaliteApprovals;
  let store: DynamoApprovalStore;
  const posted: { channel: string; message: SlackMessage }[] = [];
  const updated: { ts: string; message: SlackMessage }[] = [];
  const records: AuditRecord[] = [];
  const slack: SlackApi = {
    post: async (channel, message) => {
      posted.push({ channel, message });
      return { channel, ts: `17000000.${posted.length}` };
    },
    update: async (_channel, ts, message) => void updated.push({ ts, message }),
  };

  beforeAll(async () => {
    db = await startDynaliteApprovals();
    const { DynamoApprovalStore: Store } = await import(
      '../../lambdas/adapters/aws/dynamo-approval-store'
    );
    store = new Store(db.client, db.tableName);
  });
  afterAll(() => db.close());
  beforeEach(() => {
    posted.length = 0;
    updated.length = 0;
    records.length = 0;
  });

  async function create(id: string, overrides: Partial<Approval> = {}): Promise<Approval> {
    const a: Approval = {
      approval_id: id,
      request_id: `req_${id}`,
      action,
      action_hash: actionHash(action),
      user_id: 'u-42',
      agent_prompt: 'Log the renewal <!channel>',
      requested_by: 'arn:aws:sts::1:assumed-role/agent/x',
      status: 'pending_approval',
      created_at: new Date().toISOString(),
      expires_at: new Date(Date.now() + 3600_000).toISOString(),
      version: 0,
      ...overrides,
    };
    await store.create(a);
    return a;
  }

  const notify = (event: { approval_id: string; action_hash: string; task_token: string }) =>
    createNotifyHandler({
      approvals: store,
      slack,
      channel: 'C0APPROVALS',
      lookupName: async () => 'Acme Corp',
      log: jsonLogger(() => undefined),
    })(event);

  it('Notify keeps the task token in the table only and posts the exact action to Slack', async () => {
    const a = await create('apr_notify');
    await notify({
      approval_id: a.approval_id,
      action_hash: a.action_hash,
      task_token: 'secret-task-token',
    });
    expect(await store.getTaskToken(a.approval_id)).toBe('secret-task-token');
    expect(posted).toHaveLength(1);
    const json = JSON.stringify(posted[0]?.message);
    expect(json).not.toContain('secret-task-token');
    expect(json).toContain('Q3 renewal signed.');
    expect(json).toContain('Acme Corp');
    expect(json).toContain(a.action_hash);
    expect(json).not.toContain('<!channel>');
    expect((await store.get(a.approval_id))?.slack).toEqual({
      channel: 'C0APPROVALS',
      ts: '17000000.1',
    });
  });

  it('Notify refuses an approval whose action no longer matches its hash, posting nothing', async () => {
    const a = await create('apr_notify_tampered', { action: { ...action, body: 'changed' } });
    await expect(
      notify({ approval_id: a.approval_id, action_hash: a.action_hash, task_token: 't' }),
    ).rejects.toMatchObject({ name: 'Airlock.HashMismatch' });
    expect(posted).toHaveLength(0);
  });

  const finish = () =>
    createFinishHandler({
      approvals: store,
      audit: { append: async (r) => void records.push(r) },
      slack,
      clock: { now: () => Date.now() },
      log: jsonLogger(() => undefined),
    });

  it('Finish records a completed write once, even when the task runs twice, and updates Slack', async () => {
    const a = await create('apr_done', {
      status: 'approved',
      slack: { channel: 'C0APPROVALS', ts: '1.1' },
    });
    await finish()({ approval_id: a.approval_id, outcome: 'completed', note_id: '5400000099' });
    await finish()({ approval_id: a.approval_id, outcome: 'completed', note_id: '5400000099' });
    expect(await store.get(a.approval_id)).toMatchObject({
      status: 'completed',
      result: { note_id: '5400000099' },
    });
    expect(records.map((r) => r.outcome)).toEqual(['completed']);
    expect(records[0]).toMatchObject({
      request_id: a.request_id,
      event: 'approval',
      response_status: null,
    });
    expect(JSON.stringify(updated[0]?.message)).toContain('5400000099');
  });

  it('a Finish retried after its audit write failed writes the record once', async () => {
    const a = await create('apr_finish_retry', { status: 'approved' });
    let failAudit = true;
    const flaky = () =>
      createFinishHandler({
        approvals: store,
        audit: {
          append: async (r) => {
            if (failAudit) {
              failAudit = false;
              throw new Error('S3 503');
            }
            records.push(r);
          },
        },
        slack,
        clock: { now: () => Date.now() },
        log: jsonLogger(() => undefined),
      });
    await expect(
      flaky()({ approval_id: a.approval_id, outcome: 'completed', note_id: '54' }),
    ).rejects.toThrow('S3 503');
    await flaky()({ approval_id: a.approval_id, outcome: 'completed', note_id: '54' });
    await flaky()({ approval_id: a.approval_id, outcome: 'completed', note_id: '54' });
    expect(records.map((r) => r.outcome)).toEqual(['completed']);
    expect((await store.get(a.approval_id))?.finished_at).toEqual(expect.any(String));
  });

  it('Finish marks expired an approval approved in the instant its wait timed out', async () => {
    const a = await create('apr_photo_finish', { status: 'approved' });
    await finish()({ approval_id: a.approval_id, outcome: 'expired' });
    expect((await store.get(a.approval_id))?.status).toBe('expired');
    expect(records.map((r) => r.outcome)).toEqual(['expired']);
  });

  it('Finish marks an expired approval expired, and a failed write failed without its error text', async () => {
    const e = await create('apr_late');
    await finish()({ approval_id: e.approval_id, outcome: 'expired' });
    expect((await store.get(e.approval_id))?.status).toBe('expired');
    const f = await create('apr_broken', { status: 'approved' });
    await finish()({
      approval_id: f.approval_id,
      outcome: 'failed',
      error: {
        Error: 'Airlock.WriteRefused',
        Cause: '{"errorMessage":"hubspot_unauthorized: token pat-na1-..."}',
      } as never,
    });
    expect(await store.get(f.approval_id)).toMatchObject({
      status: 'failed',
      error: { code: 'Airlock.WriteRefused' },
    });
    expect(records.map((r) => [r.outcome, r.reason])).toEqual([
      ['expired', 'approval_expired'],
      ['failed', 'Airlock.WriteRefused'],
    ]);
    expect(JSON.stringify(records)).not.toContain('pat-na1');
  });

  it('Finish and the Slack records redact a credential held in the approval, as every path does', async () => {
    // The gateway refuses a request that carries a credential, so one can only be in an
    // approval stored by other means (an older version, a hand-edited table): the record of
    // its flow still never carries it.
    const a = await create('apr_secret', {
      status: 'approved',
      agent_prompt: `Log it; token ${FAKE_HUBSPOT_TOKEN}`,
      user_id: `u-${FAKE_SLACK_TOKEN}`,
    });
    await finish()({ approval_id: a.approval_id, outcome: 'completed', note_id: '5400000123' });
    expect(records.map((r) => r.outcome)).toEqual(['completed']);
    const text = JSON.stringify(records);
    expect(text).not.toContain(FAKE_HUBSPOT_TOKEN);
    expect(text).not.toContain(FAKE_SLACK_TOKEN);
    expect(text).toContain('[REDACTED]');
  });
});
