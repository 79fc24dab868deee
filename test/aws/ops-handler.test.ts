import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import type { DynamoApprovalStore } from '../../lambdas/adapters/aws/dynamo-approval-store';
import { CONTROL_TABLE, DynamoControlState } from '../../lambdas/adapters/aws/dynamo-control-state';
import { HubSpotAdapter } from '../../lambdas/adapters/hubspot/hubspot-adapter';
import { randomIds } from '../../lambdas/adapters/ids';
import { jsonLogger } from '../../lambdas/adapters/json-logger';
import {
  createFinishHandler,
  createNotifyHandler,
  type SlackApi,
} from '../../lambdas/aws/approval-flow-handlers';
import { createHubSpotCallHandler } from '../../lambdas/aws/hubspot-call-handler';
import { RESWEEP_AFTER_MS } from '../../lambdas/aws/ops/contain';
import type { OpsResult } from '../../lambdas/aws/ops/contract';
import type { OpsDeps } from '../../lambdas/aws/ops/deps';
import { createOpsHandler } from '../../lambdas/aws/ops-handler';
import { createValidationHandler } from '../../lambdas/aws/validation-handler';
import type { AuditRecord } from '../../lambdas/core/audit';
import { actionHash } from '../../lambdas/core/hash';
import type { Approval } from '../../lambdas/core/ports';
import { DEMO } from '../../lambdas/emulator/seed';
import { type Emulator, startEmulator } from '../../lambdas/emulator/server';
import type { SlackMessage } from '../../lambdas/slack/message';
import { startApprovalExecution } from '../cdk/state-machine-harness';
import { invokePayload } from '../helpers/aws-stand-ins';
import { type DynaliteApprovals, startDynaliteApprovals } from '../helpers/dynalite';

const READ = 'ops-test-read-token-0001';
const REVOKED = 'ops-test-revoked-token-0002';
const HUBSPOT_CALL = 'airlock-hubspot-call';
const OPERATOR = 'arn:aws:sts::123456789012:assumed-role/airlock-operator/alice';
const action = { action: 'create_note' as const, company_id: DEMO.acmeCompanyId, body: 'Renewal.' };

/**
 * The ops function's core over the real parts it drives: the approvals and control tables in
 * dynalite, the audit sink in memory, Step Functions mocked (or wired to the synthesized state
 * machine, run locally with the real Notify and Finish handlers). The validation handler reads
 * the same control table, as the deployed validation function does. Lambda is mocked: an
 * invocation of the HubSpot-call function runs its real handler against the emulator.
 */
describe('the ops function', () => {
  const sfn = mockClient(SFNClient);
  const lambda = mockClient(LambdaClient);
  /** The token the HubSpot-call function reads from its secret. */
  let readToken = READ;
  let emulator: Emulator;
  let db: DynaliteApprovals;
  let store: DynamoApprovalStore;
  let controlTable: string;
  const audit: AuditRecord[] = [];
  const log = jsonLogger(() => undefined);
  let ids = 0;

  beforeAll(async () => {
    emulator = await startEmulator({
      tokens: {
        [READ]: ['crm.objects.contacts.read', 'crm.objects.companies.read', 'sales-email-read'],
      },
    });
  });
  afterAll(async () => {
    sfn.restore();
    lambda.restore();
    await emulator.close();
  });

  beforeEach(async () => {
    // A fresh pair of tables per test: a `contain` cancels everything pending in its table.
    db = await startDynaliteApprovals();
    const { DynamoApprovalStore: Store } = await import(
      '../../lambdas/adapters/aws/dynamo-approval-store'
    );
    store = new Store(db.client, db.tableName);
    controlTable = 'airlock-control';
    await db.client.send(
      new CreateTableCommand({
        TableName: controlTable,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: CONTROL_TABLE.partitionKey, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: CONTROL_TABLE.partitionKey, KeyType: 'HASH' }],
      }),
    );
    audit.length = 0;
    sfn.reset();
    sfn.on(SendTaskSuccessCommand).resolves({});
    readToken = READ;
    lambda.reset();
    const hubspotCall = createHubSpotCallHandler({
      hubspot: new HubSpotAdapter({
        tokens: { get: async () => readToken },
        basePath: emulator.url,
      }),
      tokens: { get: async () => readToken },
      log,
      now: Date.now,
    });
    lambda.on(InvokeCommand, { FunctionName: HUBSPOT_CALL }).callsFake(async (input) => ({
      StatusCode: 200,
      Payload: invokePayload(await hubspotCall(JSON.parse(Buffer.from(input.Payload).toString()))),
    }));
  });
  afterEach(() => db.close());

  const control = (options: { forced?: { contained: boolean; readOnly: boolean } } = {}) =>
    new DynamoControlState({ client: db.client, tableName: controlTable, ...options });

  const ops = (
    options: { forced?: { contained: boolean; readOnly: boolean } } & Partial<OpsDeps> = {},
  ) =>
    createOpsHandler({
      control: control(options),
      approvals: store,
      audit: { append: async (r) => void audit.push(r) },
      sfn: new SFNClient({ region: 'eu-west-1' }),
      clock: { now: () => Date.now() },
      log,
      requestId: () => `ops-test${++ids}`,
      lambda: new LambdaClient({ region: 'eu-west-1' }),
      hubspotCallFunctionName: HUBSPOT_CALL,
      resweepAfterMs: 0,
      ...options,
    });

  async function pending(id: string, taskToken?: string): Promise<Approval> {
    const a: Approval = {
      approval_id: id,
      request_id: `req_${id}`,
      action,
      action_hash: actionHash(action),
      user_id: 'u-42',
      agent_prompt: 'log the renewal',
      requested_by: 'arn:aws:iam::1:role/agent',
      status: 'pending_approval',
      created_at: new Date().toISOString(),
      expires_at: new Date(Date.now() + 3600_000).toISOString(),
      version: 0,
    };
    await store.create(a);
    if (taskToken) await store.setTaskToken(id, taskToken);
    return a;
  }

  /** The validation handler over the same control table, its cache driven by `now`. */
  function gateway(now: () => number) {
    const handler = createValidationHandler({
      hubspot: new HubSpotAdapter({ tokens: { get: async () => READ }, basePath: emulator.url }),
      audit: { append: async () => undefined },
      approvals: store,
      workflow: { start: async () => undefined },
      control: new DynamoControlState({ client: db.client, tableName: controlTable, now }),
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
    const call = async (httpMethod: string, resource: string, body?: unknown) => {
      const res = await handler({
        httpMethod,
        resource,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? null : JSON.stringify(body),
        isBase64Encoded: false,
        requestContext: {
          requestId: 'r',
          domainName: 'x.example',
          stage: 'dev',
          identity: { userArn: 'arn:aws:iam::1:role/agent' },
        },
      } as unknown as APIGatewayProxyEvent);
      return {
        status: res.statusCode,
        code: JSON.parse(res.body).error?.code as string | undefined,
      };
    };
    return {
      tools: () => call('GET', '/v1/tools'),
      read: () =>
        call('POST', '/v1/actions', {
          user_id: 'u-42',
          agent_prompt: 'Find Acme',
          action: { action: 'search_company', name: 'Acme' },
        }),
      write: () => call('POST', '/v1/actions', { user_id: 'u-42', agent_prompt: 'Log it', action }),
    };
  }

  const succeeded = (r: OpsResult) => {
    if (!r.ok) throw new Error(`ops failed: ${r.error.code}: ${r.error.message}`);
    return r;
  };

  it('status: reports the switch, the override and the pending writes, and audits the call', async () => {
    await pending('apr_status1');
    const result = succeeded(await ops()({ command: 'status', by: OPERATOR }));
    expect(result).toMatchObject({
      ok: true,
      control: { contained: false, readOnly: false },
      forced: { contained: false, readOnly: false },
      pending: { count: 1, approvals: [{ approval_id: 'apr_status1', action: 'create_note' }] },
    });
    expect(audit).toEqual([
      expect.objectContaining({
        event: 'control',
        action: 'status',
        outcome: 'completed',
        caller: OPERATOR,
        route: 'lambda:ops',
        request_id: result.request_id,
      }),
    ]);
  });

  it('record_rotation: audits the steps and outcome of a rotation the CLI ran, and nothing else', async () => {
    const rotation = {
      which: 'read' as const,
      ok: false,
      steps: [{ step: 'check' as const, ok: false }],
    };

    const result = succeeded(await ops()({ command: 'record_rotation', by: OPERATOR, rotation }));

    expect(result).toMatchObject({ ok: true, forced: { contained: false, readOnly: false } });
    expect(audit).toEqual([
      expect.objectContaining({
        event: 'control',
        action: 'rotate_read',
        outcome: 'rejected',
        reason: 'rotation_refused',
        caller: OPERATOR,
        structured_action: rotation,
      }),
    ]);
    expect(await control().stored()).toMatchObject({ contained: false, readOnly: false });
  });

  describe('probe_read_token', () => {
    const probeInvocations = () =>
      lambda
        .commandCalls(InvokeCommand)
        .map((c) => JSON.parse(Buffer.from(c.args[0].input.Payload as Uint8Array).toString()));

    it('runs the HubSpot-call function probe for the operator and audits ok and status, never data', async () => {
      const result = succeeded(await ops()({ command: 'probe_read_token', by: OPERATOR }));

      expect(result).toMatchObject({
        ok: true,
        forced: { contained: false, readOnly: false },
        probe: { ok: true, status: 200 },
      });
      expect(probeInvocations()).toEqual([{ op: 'probe', deadline: expect.any(Number) }]);
      expect(lambda.commandCalls(InvokeCommand)[0]?.args[0].input.FunctionName).toBe(HUBSPOT_CALL);
      expect(emulator.requests.at(-1)?.path).toBe('/crm/v3/objects/contacts/search');
      expect(audit).toEqual([
        expect.objectContaining({
          event: 'control',
          action: 'probe_read_token',
          outcome: 'completed',
          caller: OPERATOR,
          structured_action: { ok: true, status: 200 },
          request_id: result.request_id,
        }),
      ]);
    });

    it('reports and audits a read token HubSpot refuses', async () => {
      readToken = REVOKED;

      const result = succeeded(await ops()({ command: 'probe_read_token', by: OPERATOR }));

      expect(result).toMatchObject({
        probe: { ok: false, status: 401, error: { code: 'hubspot_unauthorized' } },
      });
      expect(audit).toEqual([
        expect.objectContaining({
          action: 'probe_read_token',
          outcome: 'failed',
          reason: 'hubspot_unauthorized',
          structured_action: { ok: false, status: 401 },
        }),
      ]);
    });

    it('passes on nothing but the verdict, even from a function that answers records', async () => {
      lambda.on(InvokeCommand, { FunctionName: HUBSPOT_CALL }).resolves({
        StatusCode: 200,
        Payload: invokePayload({
          ok: true,
          status: 200,
          calls: [],
          records: [{ id: '1', properties: { email: 'ceo@acme.example' } }],
        }),
      });

      const result = await ops()({ command: 'probe_read_token', by: OPERATOR });

      expect(result).toEqual({
        ok: true,
        request_id: expect.any(String),
        forced: { contained: false, readOnly: false },
        probe: { ok: true, status: 200, calls: [] },
      });
      expect(JSON.stringify(audit)).not.toContain('acme.example');
    });

    it('answers a failure, with one failed record, when the HubSpot-call function fails', async () => {
      lambda.on(InvokeCommand, { FunctionName: HUBSPOT_CALL }).resolves({
        StatusCode: 200,
        FunctionError: 'Unhandled',
        Payload: invokePayload({ errorType: 'Error', errorMessage: 'boom' }),
      });

      const result = await ops()({ command: 'probe_read_token', by: OPERATOR });

      expect(result).toMatchObject({ ok: false, error: { code: 'internal_error' } });
      expect(audit).toEqual([
        expect.objectContaining({ action: 'probe_read_token', outcome: 'failed' }),
      ]);
    });
  });

  describe('contain sweeps twice', () => {
    it('cancels, once every cached switch has expired, a write that became pending after the first sweep', async () => {
      await pending('apr_early');
      const slept: number[] = [];
      const run = ops({
        resweepAfterMs: undefined,
        // A validation container still answering from its cached "open" queues a write while
        // the ops function waits.
        sleep: async (ms) => {
          slept.push(ms);
          await pending('apr_late');
        },
      });

      const result = succeeded(await run({ command: 'contain', by: OPERATOR }));

      expect(slept).toEqual([RESWEEP_AFTER_MS]);
      expect(RESWEEP_AFTER_MS).toBeGreaterThan(10_000);
      expect('cancelled' in result && result.cancelled).toEqual(['apr_early', 'apr_late']);
      expect(await store.get('apr_late')).toMatchObject({
        status: 'denied',
        error: { code: 'gateway_contained' },
      });
      expect(audit.filter((r) => r.event === 'control')).toHaveLength(1);
    });

    it('does not sweep again when the gateway was released during the wait', async () => {
      const run = ops({
        sleep: async () => {
          succeeded(await ops()({ command: 'release', by: OPERATOR }));
          await pending('apr_after_release');
        },
      });

      const result = succeeded(await run({ command: 'contain', by: OPERATOR }));

      expect('cancelled' in result && result.cancelled).toEqual([]);
      expect((await store.get('apr_after_release'))?.status).toBe('pending_approval');
    });

    it('keeps one record for a contain whose sweeps cannot list the pending writes, and answers incomplete', async () => {
      const failing = Object.assign(Object.create(store) as DynamoApprovalStore, {
        listByStatus: async () => {
          throw new Error('ProvisionedThroughputExceededException');
        },
      });

      const result = await ops({ approvals: failing })({ command: 'contain', by: OPERATOR });

      expect(result).toMatchObject({
        ok: true,
        changed: true,
        cancelled: [],
        incomplete: true,
        control: { contained: true },
      });
      expect(audit).toEqual([expect.objectContaining({ action: 'contain', outcome: 'completed' })]);
    });
  });

  it('contain: every /v1 call answers 401 gateway_contained within the cache bound; every pending write is cancelled and the waiting ones get a denial', async () => {
    let t = 0;
    const agent = gateway(() => t);
    expect((await agent.tools()).status).toBe(200);
    await pending('apr_waiting', 'task-token-waiting');
    await pending('apr_unnotified');

    const result = succeeded(
      await ops()({ command: 'contain', by: OPERATOR, reason: 'token leaked in a ticket' }),
    );

    expect(result).toMatchObject({
      command: 'contain',
      changed: true,
      control: { contained: true, readOnly: false, changedBy: OPERATOR },
    });
    expect('cancelled' in result && [...result.cancelled].sort()).toEqual([
      'apr_unnotified',
      'apr_waiting',
    ]);
    for (const id of ['apr_waiting', 'apr_unnotified']) {
      expect(await store.get(id)).toMatchObject({
        status: 'denied',
        decided_by: OPERATOR,
        error: { code: 'gateway_contained' },
      });
    }
    // Only the write whose execution already waits has a token to resume.
    expect(sfn.commandCalls(SendTaskSuccessCommand).map((c) => c.args[0].input)).toEqual([
      { taskToken: 'task-token-waiting', output: JSON.stringify({ decision: 'denied', by: [] }) },
    ]);
    expect(await control().stored()).toMatchObject({
      contained: true,
      readOnly: false,
      changedBy: OPERATOR,
      reason: 'token leaked in a ticket',
    });
    // One record for the command; each cancellation is recorded by its flow's Finish task.
    expect(audit).toEqual([
      expect.objectContaining({
        event: 'control',
        action: 'contain',
        outcome: 'completed',
        caller: OPERATOR,
        structured_action: expect.objectContaining({ reason: 'token leaked in a ticket' }),
      }),
    ]);

    t += 5000;
    expect(await agent.read()).toEqual({ status: 401, code: 'gateway_contained' });
    expect(await agent.tools()).toEqual({ status: 401, code: 'gateway_contained' });
  });

  it('release: the gateway answers again, and a second release changes nothing', async () => {
    let t = 0;
    const agent = gateway(() => t);
    const run = ops();
    succeeded(await run({ command: 'contain', by: OPERATOR }));
    expect((await agent.tools()).status).toBe(401);

    const released = succeeded(await run({ command: 'release', by: OPERATOR, reason: 'rotated' }));
    expect(released).toMatchObject({ changed: true, control: { contained: false }, cancelled: [] });
    t += 5000;
    expect(await agent.read()).toEqual({ status: 200, code: undefined });

    const again = succeeded(await run({ command: 'release', by: OPERATOR }));
    expect(again).toMatchObject({ changed: false, control: { contained: false } });
    expect(audit.map((r) => [r.action, r.structured_action])).toEqual([
      ['contain', expect.objectContaining({ changed: true })],
      ['release', expect.objectContaining({ changed: true, reason: 'rotated' })],
      ['release', expect.objectContaining({ changed: false })],
    ]);
  });

  it('read-only: a write answers 403 read_only_mode while reads go on, until it is turned off', async () => {
    let t = 0;
    const agent = gateway(() => t);
    const run = ops();
    succeeded(await run({ command: 'read_only_on', by: OPERATOR }));
    expect(await agent.write()).toEqual({ status: 403, code: 'read_only_mode' });
    expect(await agent.read()).toEqual({ status: 200, code: undefined });

    succeeded(await run({ command: 'read_only_off', by: OPERATOR }));
    t += 5000;
    expect((await agent.write()).status).toBe(202);
  });

  it.each([
    ['an unknown command', { command: 'explode', by: OPERATOR }, 'command', OPERATOR],
    ['no caller identity', { command: 'contain' }, 'by', 'unknown'],
    ['a caller identity with a new line', { command: 'contain', by: 'arn\nx' }, 'by', 'unknown'],
    [
      'a reason over 500 characters',
      { command: 'contain', by: OPERATOR, reason: 'r'.repeat(501) },
      'reason',
      OPERATOR,
    ],
    ['an unexpected field', { command: 'release', by: OPERATOR, force: true }, 'event', OPERATOR],
    ['no object at all', 'contain', 'event', 'unknown'],
    [
      'a rotation record without the rotation',
      { command: 'record_rotation', by: OPERATOR },
      'rotation',
      OPERATOR,
    ],
    [
      'a rotation attached to another command',
      { command: 'contain', by: OPERATOR, rotation: { which: 'read', ok: true, steps: [] } },
      'rotation',
      OPERATOR,
    ],
  ])(
    'refuses %s with validation_failed, changes nothing and audits the refusal',
    async (_what, event, field, caller) => {
      const result = await ops()(event);
      expect(result).toMatchObject({ ok: false, error: { code: 'validation_failed' } });
      expect(!result.ok && result.error.message).toContain(`${field}:`);
      expect(await control().stored()).toMatchObject({ contained: false, readOnly: false });
      expect(audit).toEqual([
        expect.objectContaining({
          event: 'control',
          outcome: 'rejected',
          reason: 'validation_failed',
          caller,
        }),
      ]);
    },
  );

  it.each([
    [
      'status',
      { command: 'status' as const, by: OPERATOR },
      "The status could not be read (TableGone); see the ops function's log.",
    ],
    [
      'release',
      { command: 'release' as const, by: OPERATOR, reason: 'drill' },
      'The command did not complete (TableGone). The switch may already have moved: run status to see where it stands, then run the command again.',
    ],
  ])(
    'answers a %s whose store fails with what to do next, and audits it as failed',
    async (_what, event, message) => {
      const broken = control();
      const gone = Object.assign(new Error('the control table is gone'), { name: 'TableGone' });
      broken.read = async () => Promise.reject(gone);
      broken.snapshot = async () => Promise.reject(gone);
      broken.stored = async () => Promise.reject(gone);
      broken.setStored = async () => Promise.reject(gone);
      const result = await ops({ control: broken })(event);
      expect(result).toEqual({
        ok: false,
        request_id: expect.stringMatching(/^ops-test\d+$/),
        error: { code: 'internal_error', message },
      });
      expect(audit.at(-1)).toMatchObject({
        event: 'control',
        action: event.command,
        outcome: 'failed',
        caller: OPERATOR,
      });
    },
  );

  it('stores a contain made under the deploy-time override, and reports the override after a release', async () => {
    const run = ops({ forced: { contained: true, readOnly: false } });
    const contained = succeeded(await run({ command: 'contain', by: OPERATOR }));
    expect(contained).toMatchObject({ changed: true, forced: { contained: true } });
    expect((await control().stored()).contained).toBe(true);

    const released = succeeded(await run({ command: 'release', by: OPERATOR }));
    // Released in the table, still contained by the override: the answer says both.
    expect(released).toMatchObject({
      changed: true,
      control: { contained: true },
      forced: { contained: true, readOnly: false },
    });
    expect((await control().stored()).contained).toBe(false);
  });

  describe('with the approval state machine', () => {
    const posted: SlackMessage[] = [];
    const updated: SlackMessage[] = [];
    const slack: SlackApi = {
      post: async (channel, message) => {
        posted.push(message);
        return { channel, ts: `1.${posted.length}` };
      },
      update: async (_c, _ts, message) => void updated.push(message),
    };
    beforeEach(() => {
      posted.length = 0;
      updated.length = 0;
    });

    const handlers = (beforeNotify: () => Promise<void> = async () => undefined) => {
      const notify = createNotifyHandler({
        approvals: store,
        slack,
        channel: 'C0APPROVALS',
        lookupName: async () => 'Acme Corp',
        log,
      });
      const finish = createFinishHandler({
        approvals: store,
        audit: { append: async (r) => void audit.push(r) },
        slack,
        clock: { now: () => Date.now() },
        log,
      });
      return {
        notify: async (p: Parameters<typeof notify>[0]) => {
          await beforeNotify();
          return notify(p);
        },
        write: () => {
          throw new Error('a cancelled write must never run');
        },
        finish: (p: Parameters<typeof finish>[0]) => finish(p),
      };
    };

    const start = (a: Approval, h: ReturnType<typeof handlers>) =>
      startApprovalExecution(h, {
        approval_id: a.approval_id,
        request_id: a.request_id,
        action_hash: a.action_hash,
      });

    async function tokenStored(approvalId: string): Promise<void> {
      for (let i = 0; i < 200 && !(await store.getTaskToken(approvalId)); i += 1) {
        await new Promise((r) => setTimeout(r, 10));
      }
    }

    it('ends a waiting execution through Finish: denied, reason gateway_contained, the Slack message saying so', async () => {
      const a = await pending('apr_flowwaiting');
      const execution = start(a, handlers());
      await tokenStored(a.approval_id);
      sfn.on(SendTaskSuccessCommand).callsFake((input: { taskToken: string; output: string }) => {
        execution.callbacks.sendTaskSuccess(input.taskToken, JSON.parse(input.output));
        return {};
      });

      succeeded(await ops()({ command: 'contain', by: OPERATOR }));
      const result = await execution.result;

      expect(result.status).toBe('SUCCEEDED');
      expect(result.states).toEqual(['Notify', 'Decide', 'Denied', 'Done']);
      expect(audit.filter((r) => r.event === 'approval')).toEqual([
        expect.objectContaining({
          outcome: 'denied',
          reason: 'gateway_contained',
          approval: expect.objectContaining({ approval_id: a.approval_id }),
        }),
      ]);
      expect(posted).toHaveLength(1);
      expect(JSON.stringify(updated)).toContain('Cancelled by the kill switch');
      expect((await store.get(a.approval_id))?.finished_at).toBeDefined();
    });

    it('ends an execution cancelled before Notify stored its token through Finish too, with nothing posted', async () => {
      const a = await pending('apr_flowearly');
      let letNotifyRun: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => {
        letNotifyRun = resolve;
      });
      let notifyCalled: () => void = () => undefined;
      const notifying = new Promise<void>((resolve) => {
        notifyCalled = resolve;
      });
      const execution = start(
        a,
        handlers(async () => {
          notifyCalled();
          await gate;
        }),
      );
      await notifying;

      const result = succeeded(await ops()({ command: 'contain', by: OPERATOR }));
      letNotifyRun();
      const run = await execution.result;

      expect('cancelled' in result && result.cancelled).toEqual([a.approval_id]);
      expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
      expect(run.status).toBe('SUCCEEDED');
      expect(run.states).toEqual(['Notify', 'Denied', 'Done']);
      expect(audit.filter((r) => r.event === 'approval')).toEqual([
        expect.objectContaining({ outcome: 'denied', reason: 'gateway_contained' }),
      ]);
      expect(posted).toEqual([]);
      expect(await store.getTaskToken(a.approval_id)).toBeUndefined();
    });

    it('shows the outcome on a message posted while the cancelled flow already finished', async () => {
      // On AWS the denial can end the flow while Notify is still posting: Finish then has no
      // message to update, and Notify, storing the message, finds the flow finished.
      const a = await pending('apr_flowrace');
      const h = handlers();
      const racing = createNotifyHandler({
        approvals: store,
        slack: {
          ...slack,
          post: async (channel, message) => {
            succeeded(await ops()({ command: 'contain', by: OPERATOR }));
            await h.finish({ approval_id: a.approval_id, outcome: 'denied' });
            return slack.post(channel, message);
          },
        },
        channel: 'C0APPROVALS',
        lookupName: async () => 'Acme Corp',
        log,
      });

      await racing({ approval_id: a.approval_id, action_hash: a.action_hash, task_token: 't' });

      expect(posted).toHaveLength(1);
      expect(updated).toHaveLength(1);
      expect(JSON.stringify(updated[0])).toContain('Cancelled by the kill switch');
      expect(await store.get(a.approval_id)).toMatchObject({
        status: 'denied',
        slack: { channel: 'C0APPROVALS', ts: '1.1' },
      });
    });
  });
});
