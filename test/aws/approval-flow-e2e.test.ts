import { createHmac } from 'node:crypto';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { DynamoApprovalStore } from '../../lambdas/adapters/aws/dynamo-approval-store';
import { HubSpotAdapter, noteBodyHtml } from '../../lambdas/adapters/hubspot/hubspot-adapter';
import { randomIds } from '../../lambdas/adapters/ids';
import { jsonLogger } from '../../lambdas/adapters/json-logger';
import {
  createFinishHandler,
  createNotifyHandler,
  createSlackInteractionsHandler,
  createWriteHandler,
  type SlackApi,
} from '../../lambdas/aws/approval-flow-handlers';
import { createValidationHandler } from '../../lambdas/aws/validation-handler';
import type { AuditRecord } from '../../lambdas/core/audit';
import { DEMO } from '../../lambdas/emulator/seed';
import { type Emulator, startEmulator } from '../../lambdas/emulator/server';
import { type ApprovalExecution, startApprovalExecution } from '../cdk/state-machine-harness';
import { type DynaliteApprovals, startDynaliteApprovals } from '../helpers/dynalite';

const READ = 'e2e-read-token-0000000001';
const WRITE = 'e2e-write-token-000000001';
const SIGNING = 'e2e-slack-signing-secret';
const TEAM = 'T0E2ETEAM';

/**
 * The write path on AWS end to end, in one process: the validation handler stores the approval
 * and starts the synthesized state machine (run by aws-local-stepfunctions), whose tasks are the
 * real Notify, Write and Finish handlers over dynalite and the HubSpot emulator; a signed Slack
 * click goes through the real Slack handler, which resumes the execution with the task token.
 */
const open = { contained: false, readOnly: false };

describe('the approval flow on AWS, end to end', () => {
  let db: DynaliteApprovals;
  let store: DynamoApprovalStore;
  let emulator: Emulator;
  const audit: AuditRecord[] = [];
  const slackMessages: string[] = [];
  const executions = new Map<string, ApprovalExecution>();

  const slack: SlackApi = {
    post: async (channel, message) => {
      slackMessages.push(JSON.stringify(message));
      return { channel, ts: `1.${slackMessages.length}` };
    },
    update: async (_c, _ts, message) => void slackMessages.push(JSON.stringify(message)),
  };
  const clock = { now: () => Date.now() };
  const log = jsonLogger(() => undefined);
  const sink = { append: async (r: AuditRecord) => void audit.push(r) };

  beforeAll(async () => {
    db = await startDynaliteApprovals();
    const { DynamoApprovalStore: Store } = await import(
      '../../lambdas/adapters/aws/dynamo-approval-store'
    );
    store = new Store(db.client, db.tableName);
    emulator = await startEmulator({
      tokens: {
        [READ]: ['crm.objects.contacts.read', 'crm.objects.companies.read', 'sales-email-read'],
        [WRITE]: ['crm.objects.contacts.write', 'crm.objects.contacts.read'],
      },
    });
  });
  afterAll(async () => {
    for (const e of executions.values()) e.abort();
    await emulator.close();
    await db.close();
  });

  const handlers = () => ({
    notify: createNotifyHandler({
      approvals: store,
      slack,
      channel: 'C0APPROVALS',
      lookupName: async () => 'Acme Corp',
      log,
    }),
    write: createWriteHandler({
      approvals: store,
      control: async () => open,
      hubspot: new HubSpotAdapter({
        tokens: { get: async () => WRITE },
        basePath: emulator.url,
        backoffMs: 1,
      }),
      clock,
      deadlineMs: 3000,
    }),
    finish: createFinishHandler({ approvals: store, audit: sink, slack, clock, log }),
  });

  const validation = (tamper = false) =>
    createValidationHandler({
      hubspot: new HubSpotAdapter({ tokens: { get: async () => READ }, basePath: emulator.url }),
      audit: sink,
      approvals: store,
      workflow: {
        async start(a) {
          const h = handlers();
          executions.set(
            a.approval_id,
            startApprovalExecution(
              { notify: (p) => h.notify(p), write: (p) => h.write(p), finish: (p) => h.finish(p) },
              {
                approval_id: a.approval_id,
                request_id: a.request_id,
                action_hash: tamper ? 'f'.repeat(64) : a.action_hash,
              },
            ),
          );
        },
      },
      control: { read: async () => ({ contained: false, readOnly: false }) },
      clock,
      ids: randomIds,
      log,
      config: {
        promptMode: 'block',
        allowedActions: null,
        requestDeadlineMs: 3000,
        approvalTtlMs: 3600_000,
      },
    });

  const slackHandler = () =>
    createSlackInteractionsHandler({
      approvals: store,
      control: async () => open,
      audit: sink,
      signingSecret: async () => SIGNING,
      policy: { teamId: TEAM, approverIds: ['U0ANNA'] },
      sendDecision: async (token, output) => {
        const execution = [...executions.values()].find((e) => e.taskToken === token);
        execution?.callbacks.sendTaskSuccess(token, output);
      },
      respond: async () => undefined,
      clock,
      ids: randomIds,
      log,
    });

  async function requestNote(body: string, tamper = false): Promise<string> {
    const res = await validation(tamper)({
      httpMethod: 'POST',
      resource: '/v1/actions',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        user_id: 'u-42',
        agent_prompt: 'Log it',
        action: { action: 'create_note', company_id: DEMO.acmeCompanyId, body },
      }),
      requestContext: {
        requestId: 'r',
        domainName: 'x.example',
        stage: 'prod',
        identity: { userArn: 'arn:aws:iam::1:role/agent' },
      },
    } as unknown as APIGatewayProxyEvent);
    expect(res.statusCode).toBe(202);
    return JSON.parse(res.body).approval.id as string;
  }

  async function waitForTaskToken(approvalId: string): Promise<void> {
    for (let i = 0; i < 200 && !(await store.getTaskToken(approvalId)); i += 1) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async function click(approvalId: string, decision: 'approve' | 'deny'): Promise<void> {
    const body = `payload=${encodeURIComponent(
      JSON.stringify({
        type: 'block_actions',
        team: { id: TEAM },
        user: { id: 'U0ANNA' },
        actions: [{ action_id: `airlock_${decision}`, value: approvalId }],
      }),
    )}`;
    const ts = String(Math.floor(Date.now() / 1000));
    const sig = `v0=${createHmac('sha256', SIGNING).update(`v0:${ts}:${body}`).digest('hex')}`;
    const res = await slackHandler()({
      body,
      headers: { 'X-Slack-Request-Timestamp': ts, 'X-Slack-Signature': sig },
    } as unknown as APIGatewayProxyEvent);
    expect(res.statusCode).toBe(200);
  }

  const notes = (body: string) => emulator.notes().filter((n) => n.body === noteBodyHtml(body));

  it('approve: the note is written exactly once, the outcome audited and shown in Slack', async () => {
    const id = await requestNote('Approved end to end.');
    await waitForTaskToken(id);
    await click(id, 'approve');
    const result = await executions.get(id)?.result;
    expect(result?.status).toBe('SUCCEEDED');
    expect(notes('Approved end to end.')).toHaveLength(1);
    const approval = await store.get(id);
    expect(approval).toMatchObject({
      status: 'completed',
      result: { note_id: notes('Approved end to end.')[0]?.id },
    });
    const trail = audit.filter((r) => r.approval?.approval_id === id).map((r) => r.outcome);
    expect(trail).toEqual(['pending_approval', 'approved', 'completed']);
    expect(slackMessages.some((m) => m.includes(String(approval?.result?.note_id)))).toBe(true);
    expect(JSON.stringify(audit) + slackMessages.join('')).not.toContain(
      executions.get(id)?.taskToken ?? 'x',
    );
  });

  it('deny: nothing is written', async () => {
    const id = await requestNote('Denied end to end.');
    await waitForTaskToken(id);
    await click(id, 'deny');
    expect((await executions.get(id)?.result)?.status).toBe('SUCCEEDED');
    expect(notes('Denied end to end.')).toHaveLength(0);
    expect((await store.get(id))?.status).toBe('denied');
  });

  it('a failing write is retried and still creates exactly one note', async () => {
    const id = await requestNote('Retried end to end.');
    await waitForTaskToken(id);
    emulator.faults.failNext(1, 503, '/crm/v3/objects/notes');
    await click(id, 'approve');
    const result = await executions.get(id)?.result;
    expect(result?.status).toBe('SUCCEEDED');
    // HubSpot failed the first create; the state machine's retry wrote the note once.
    const creates = emulator.requests.filter(
      (r) => r.method === 'POST' && r.path === '/crm/v3/objects/notes',
    );
    expect(creates.map((r) => r.status).slice(-2)).toEqual([503, 201]);
    expect(notes('Retried end to end.')).toHaveLength(1);
    expect((await store.get(id))?.status).toBe('completed');
  });

  it('an action whose hash no longer matches its approval is never written', async () => {
    const id = await requestNote('Tampered end to end.', true);
    const result = await executions.get(id)?.result;
    expect(result?.states).toContain('Failed');
    expect(notes('Tampered end to end.')).toHaveLength(0);
    expect((await store.get(id))?.status).toBe('failed');
  });
});
