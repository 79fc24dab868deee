import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import type { DynamoApprovalStore } from '../../lambdas/adapters/aws/dynamo-approval-store';
import { CONTROL_TABLE, DynamoControlState } from '../../lambdas/adapters/aws/dynamo-control-state';
import { HubSpotAdapter, noteBodyHtml } from '../../lambdas/adapters/hubspot/hubspot-adapter';
import { randomIds } from '../../lambdas/adapters/ids';
import { jsonLogger } from '../../lambdas/adapters/json-logger';
import {
  createFinishHandler,
  createNotifyHandler,
  createWriteHandler,
  type SlackApi,
} from '../../lambdas/aws/approval-flow-handlers';
import { createValidationHandler } from '../../lambdas/aws/validation-handler';
import type { AuditRecord } from '../../lambdas/core/audit';
import { actionHash } from '../../lambdas/core/hash';
import type { Approval } from '../../lambdas/core/ports';
import { DEMO } from '../../lambdas/emulator/seed';
import { type Emulator, startEmulator } from '../../lambdas/emulator/server';
import { defaultApprovalFlow, startApprovalExecution } from '../cdk/state-machine-harness';
import { type DynaliteApprovals, startDynaliteApprovals } from '../helpers/dynalite';
import { until } from '../helpers/time';

const READ = 'aws-in-flight-read-token-01';
const WRITE = 'aws-in-flight-write-token-1';
const CONTROL_TABLE_NAME = 'airlock-control-in-flight';
const NOTE_SEARCH = '/crm/v3/objects/notes/search';
const NOTE_CREATE = '/crm/v3/objects/notes';

/**
 * The kill switch stops work in flight on AWS (issue 11, item 5): the switch is read afresh
 * where data leaves the validation function and right before the write function's POST, after
 * its lookup. DynamoDB is dynalite (the control and approvals tables as the CDK declares them),
 * HubSpot the emulator over HTTP, the state machine the synthesized one.
 */
describe('the kill switch stops work in flight on AWS', () => {
  let db: DynaliteApprovals;
  let store: DynamoApprovalStore;
  let emulator: Emulator;
  /** The ops function's view of the switch: it sets it, as `airlock contain` does. */
  let ops: DynamoControlState;
  const log = jsonLogger(() => undefined);

  beforeAll(async () => {
    db = await startDynaliteApprovals();
    const { DynamoApprovalStore: Store } = await import(
      '../../lambdas/adapters/aws/dynamo-approval-store'
    );
    store = new Store(db.client, db.tableName);
    await db.client.send(
      new CreateTableCommand({
        TableName: CONTROL_TABLE_NAME,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: CONTROL_TABLE.partitionKey, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: CONTROL_TABLE.partitionKey, KeyType: 'HASH' }],
      }),
    );
    ops = new DynamoControlState({ client: db.client, tableName: CONTROL_TABLE_NAME });
    emulator = await startEmulator({
      tokens: {
        [READ]: ['crm.objects.contacts.read', 'crm.objects.companies.read', 'sales-email-read'],
        [WRITE]: ['crm.objects.contacts.write', 'crm.objects.contacts.read'],
      },
      rateLimits: { perTenSeconds: 1e6, searchPerSecond: 1e6 },
    });
  });
  afterAll(async () => {
    await emulator.close();
    await db.close();
  });
  beforeEach(async () => {
    emulator.reset();
    await setSwitch(false);
  });

  const setSwitch = (contained: boolean) =>
    ops.set({
      contained,
      changedAt: new Date().toISOString(),
      changedBy: 'arn:aws:iam::1:user/op',
    });

  /** Contains the gateway once HubSpot has a request on `path` waiting (held by `delayNext`). */
  async function containWhileWaitingOn(path: string): Promise<void> {
    await until(`a request on ${path}`, () =>
      emulator.requests.some((r) => r.path === path && r.status === 0),
    );
    await setSwitch(true);
  }

  const notesWith = (body: string) => emulator.notes().filter((n) => n.body === noteBodyHtml(body));
  const creates = () =>
    emulator.requests.filter((r) => r.method === 'POST' && r.path === NOTE_CREATE);

  function approvalOf(id: string, body: string, extra: Partial<Approval> = {}): Approval {
    const action = { action: 'create_note' as const, contact_id: DEMO.acmeContactId, body };
    return {
      approval_id: id,
      request_id: `req_${id}`,
      action,
      action_hash: actionHash(action),
      user_id: 'u-42',
      agent_prompt: 'Log it',
      requested_by: 'arn:aws:iam::1:role/agent',
      status: 'approved',
      created_at: new Date().toISOString(),
      expires_at: new Date(Date.now() + 3600_000).toISOString(),
      version: 0,
      ...extra,
    };
  }

  describe('the write function as deployed (lambdas/aws/hubspot-write.ts)', () => {
    const sm = mockClient(SecretsManagerClient);
    const saved = { ...process.env };
    beforeAll(async () => {
      const endpoint = await db.client.config.endpoint?.();
      if (!endpoint) throw new Error('the dynalite client has no endpoint');
      sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ token: WRITE }) });
      Object.assign(process.env, {
        AWS_REGION: 'eu-west-1',
        AWS_ACCESS_KEY_ID: 'DYNALITE',
        AWS_SECRET_ACCESS_KEY: 'DYNALITE',
        AWS_ENDPOINT_URL_DYNAMODB: `${endpoint.protocol}//${endpoint.hostname}:${endpoint.port}`,
        CONTROL_TABLE_NAME,
        APPROVAL_TABLE_NAME: db.tableName,
        HUBSPOT_WRITE_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:write',
        HUBSPOT_BASE_URL: emulator.url,
      });
    });
    afterAll(() => {
      process.env = saved;
      sm.restore();
    });

    it('a retried write whose lookup is answered after contain sends no POST and writes nothing', async () => {
      const { handler } = await import('../../lambdas/aws/hubspot-write');
      // A retry: an earlier attempt started the write, so this one looks for its note first.
      const a = approvalOf('apr_in_flight_retry', 'Retried while the switch flips.', {
        write_started_at: new Date().toISOString(),
      });
      await store.create(a);
      emulator.faults.delayNext(1, 400, NOTE_SEARCH);
      const running = handler({ approval_id: a.approval_id, action_hash: a.action_hash }, {
        callbackWaitsForEmptyEventLoop: false,
      } as Context);
      await containWhileWaitingOn(NOTE_SEARCH);
      await expect(running).rejects.toMatchObject({ name: 'Airlock.Contained' });
      // The lookup was made (and answered: no note yet); the create was never sent.
      expect(emulator.requests.filter((r) => r.path === NOTE_SEARCH).map((r) => r.status)).toEqual([
        200,
      ]);
      expect(creates()).toEqual([]);
      expect(notesWith('Retried while the switch flips.')).toEqual([]);
      // Nothing claims it was written; the Finish task records the outcome.
      const after = await store.get(a.approval_id);
      expect(after?.result).toBeUndefined();
    });

    it('the same write runs once the switch is released', async () => {
      const { handler } = await import('../../lambdas/aws/hubspot-write');
      const a = approvalOf('apr_in_flight_open', 'Written while open.', {
        write_started_at: new Date().toISOString(),
      });
      await store.create(a);
      const out = await handler({ approval_id: a.approval_id, action_hash: a.action_hash }, {
        callbackWaitsForEmptyEventLoop: false,
      } as Context);
      expect(notesWith('Written while open.').map((n) => n.id)).toEqual([out.note_id]);
    });
  });

  describe('the state machine', () => {
    // Synthesizing the app is the slow part: once, before the test's own clock starts.
    beforeAll(() => void defaultApprovalFlow(), 120_000);

    it('records the stopped write as failed (gateway_contained), audited, shown in Slack', async () => {
      const audit: AuditRecord[] = [];
      const slackMessages: string[] = [];
      const slack: SlackApi = {
        post: async (channel, message) => {
          slackMessages.push(JSON.stringify(message));
          return { channel, ts: `1.${slackMessages.length}` };
        },
        update: async (_c, _ts, message) => void slackMessages.push(JSON.stringify(message)),
      };
      const clock = { now: () => Date.now() };
      const sink = { append: async (r: AuditRecord) => void audit.push(r) };
      const control = new DynamoControlState({ client: db.client, tableName: CONTROL_TABLE_NAME });
      const body = 'Approved in Slack, then contained.';
      // Notify posts the approval to Slack, which takes only well-formed ids.
      const a = approvalOf(randomIds.approvalId(), body, { status: 'pending_approval' });
      await store.create(a);

      // The first attempt's create fails (HubSpot 503, nothing written): the state machine
      // retries, and the retry's lookup is where the contain lands.
      emulator.faults.failNext(1, 503, NOTE_CREATE);
      emulator.faults.delayNext(1, 400, NOTE_SEARCH);
      const execution = startApprovalExecution(
        {
          notify: (p) =>
            createNotifyHandler({
              approvals: store,
              slack,
              channel: 'C0APPROVALS',
              lookupName: async () => 'Jane Cooper',
              log,
            })(p),
          write: (p) =>
            createWriteHandler({
              approvals: store,
              // As the deployed entry reads it: uncached, every time.
              control: async () => {
                const { contained, readOnly } = await control.snapshot();
                return { contained, readOnly };
              },
              hubspot: new HubSpotAdapter({
                tokens: { get: async () => WRITE },
                basePath: emulator.url,
                backoffMs: 1,
              }),
              clock,
              deadlineMs: 3000,
            })(p),
          finish: (p) =>
            createFinishHandler({ approvals: store, audit: sink, slack, clock, log })(p),
        },
        { approval_id: a.approval_id, request_id: a.request_id, action_hash: a.action_hash },
      );
      await until(
        'the approval message',
        async () => !!(await store.getTaskToken(a.approval_id)),
        60_000,
      );
      const decided = await store.transition(a.approval_id, 'pending_approval', {
        status: 'approved',
        decided_at: new Date().toISOString(),
        decided_by: 'U0ANNA',
        approvals: [{ by: 'U0ANNA', at: new Date().toISOString() }],
      });
      expect(decided?.status).toBe('approved');
      execution.callbacks.sendTaskSuccess(execution.taskToken, {
        decision: 'approved',
        by: ['U0ANNA'],
      });
      await containWhileWaitingOn(NOTE_SEARCH);

      const result = await execution.result;
      expect(result.status).toBe('FAILED');
      expect(result.states).toContain('WriteFailed');
      expect(creates().map((r) => r.status)).toEqual([503]);
      expect(notesWith(body)).toEqual([]);
      expect(await store.get(a.approval_id)).toMatchObject({
        status: 'failed',
        error: {
          code: 'gateway_contained',
          message:
            'the kill switch was on when the write was about to be sent; nothing was written',
        },
        finished_at: expect.any(String),
      });
      expect(audit.map((r) => [r.outcome, r.reason])).toEqual([['failed', 'gateway_contained']]);
      expect(slackMessages.at(-1)).toContain('gateway_contained');
    });
  });

  describe('the validation function', () => {
    const validation = () =>
      createValidationHandler({
        hubspot: new HubSpotAdapter({ tokens: { get: async () => READ }, basePath: emulator.url }),
        audit: { append: async (r: AuditRecord) => void records.push(r) },
        approvals: store,
        workflow: { start: async () => undefined },
        // As validation.ts builds it: the control table, cached 5 s.
        control: new DynamoControlState({
          client: db.client,
          tableName: CONTROL_TABLE_NAME,
          log,
        }),
        clock: { now: () => Date.now() },
        ids: randomIds,
        log,
        config: {
          promptMode: 'block',
          allowedActions: null,
          requestDeadlineMs: 3000,
          approvalTtlMs: 3600_000,
        },
      });
    const records: AuditRecord[] = [];
    const read = (handler: ReturnType<typeof validation>) =>
      handler({
        httpMethod: 'POST',
        resource: '/v1/actions',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          user_id: 'u-42',
          agent_prompt: 'Who is Jane?',
          action: { action: 'search_contact', email: DEMO.acmeContactEmail },
        }),
        requestContext: {
          requestId: 'r',
          domainName: 'x.example',
          stage: 'prod',
          identity: { userArn: 'arn:aws:iam::1:role/agent' },
        },
      } as unknown as APIGatewayProxyEvent);

    it('withholds a read whose HubSpot call was answered after contain, though its cached switch says open', async () => {
      const handler = validation();
      // Warm: the container's cached switch says open (and stays cached for 5 s).
      const warm = await read(handler);
      expect(warm.statusCode).toBe(200);
      expect(warm.body).toContain(DEMO.acmeContactLastname);

      emulator.faults.delayNext(1, 400, '/crm/v3/objects/contacts/search');
      const running = read(handler);
      await containWhileWaitingOn('/crm/v3/objects/contacts/search');
      const res = await running;
      expect(res.statusCode).toBe(401);
      const answer = JSON.parse(res.body) as Record<string, unknown>;
      expect((answer.error as { code: string }).code).toBe('gateway_contained');
      expect(answer.data).toBeUndefined();
      expect(res.body).not.toContain(DEMO.acmeContactLastname);
      expect(res.body).not.toContain(DEMO.acmeContactId);

      const mine = records.filter((r) => r.request_id === answer.request_id);
      expect(mine).toHaveLength(1);
      expect(mine[0]).toMatchObject({
        outcome: 'rejected',
        reason: 'gateway_contained',
        rule: 'contained_in_flight',
        record_count: 1,
        hubspot_calls: [expect.objectContaining({ status: 200 })],
      });
      expect(JSON.stringify(mine[0])).not.toContain(DEMO.acmeContactLastname);
    });
  });
});
