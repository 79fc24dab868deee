import { CreateTableCommand, DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import type { DynamoApprovalStore } from '../../lambdas/adapters/aws/dynamo-approval-store';
import { CONTROL_TABLE, DynamoControlState } from '../../lambdas/adapters/aws/dynamo-control-state';
import { HubSpotAdapter, noteBodyHtml } from '../../lambdas/adapters/hubspot/hubspot-adapter';
import { createWriteHandler, type FlowStore } from '../../lambdas/aws/approval-flow-handlers';
import { actionHash } from '../../lambdas/core/hash';
import type { Approval } from '../../lambdas/core/ports';
import { DEMO } from '../../lambdas/emulator/seed';
import { type Emulator, startEmulator } from '../../lambdas/emulator/server';
import { type DynaliteApprovals, startDynaliteApprovals } from '../helpers/dynalite';

const WRITE = 'write-token-for-tests-0001';
/** The write token can also read notes: a retried write looks for its note before writing. */
const WRITE_SCOPES = ['crm.objects.contacts.write', 'crm.objects.contacts.read'];

describe('the HubSpot write task', () => {
  let db: DynaliteApprovals;
  let store: DynamoApprovalStore;
  let emulator: Emulator;

  beforeAll(async () => {
    db = await startDynaliteApprovals();
    const { DynamoApprovalStore: Store } = await import(
      '../../lambdas/adapters/aws/dynamo-approval-store'
    );
    store = new Store(db.client, db.tableName);
    emulator = await startEmulator({ tokens: { [WRITE]: WRITE_SCOPES } });
  });
  afterAll(async () => {
    await emulator.close();
    await db.close();
  });

  const hubspot = () =>
    new HubSpotAdapter({
      tokens: { get: async () => WRITE },
      basePath: emulator.url,
      backoffMs: 1,
    });
  let control = { contained: false, readOnly: false };
  const handler = (approvals: FlowStore = store) =>
    createWriteHandler({
      approvals,
      control: async () => control,
      hubspot: hubspot(),
      clock: { now: () => Date.now() },
      deadlineMs: 3000,
    });
  const notesWith = (body: string) => emulator.notes().filter((n) => n.body === noteBodyHtml(body));

  async function approved(id: string, body: string): Promise<Approval> {
    const action = { action: 'create_note' as const, contact_id: DEMO.acmeContactId, body };
    const a: Approval = {
      approval_id: id,
      request_id: `req_${id}`,
      action,
      action_hash: actionHash(action),
      user_id: 'u',
      agent_prompt: 'p',
      requested_by: 'agent',
      status: 'approved',
      created_at: new Date().toISOString(),
      expires_at: new Date(Date.now() + 3600_000).toISOString(),
      version: 0,
    };
    await store.create(a);
    return a;
  }

  it('writes the approved note once, and a repeated task returns the same note', async () => {
    const a = await approved('apr_once', 'Exactly once.');
    const first = await handler()({ approval_id: a.approval_id, action_hash: a.action_hash });
    const again = await handler()({ approval_id: a.approval_id, action_hash: a.action_hash });
    expect(again.note_id).toBe(first.note_id);
    expect(notesWith('Exactly once.')).toHaveLength(1);
    expect((await store.get(a.approval_id))?.result).toEqual({ note_id: first.note_id });
  });

  it('after a failure that followed the write, the retry finds the note instead of writing again', async () => {
    const a = await approved('apr_lost', 'Written, then the task failed.');
    // The store fails once, right after HubSpot created the note (the answer is lost).
    let failNextResult = true;
    const flaky: FlowStore = Object.assign(Object.create(store) as FlowStore, {
      transition: (...args: Parameters<FlowStore['transition']>) => {
        if (failNextResult && args[2].result) {
          failNextResult = false;
          return Promise.reject(new Error('ProvisionedThroughputExceeded'));
        }
        return store.transition(...args);
      },
    });
    await expect(
      handler(flaky)({ approval_id: a.approval_id, action_hash: a.action_hash }),
    ).rejects.toMatchObject({
      name: 'Airlock.Retryable',
    });
    const retried = await handler(flaky)({
      approval_id: a.approval_id,
      action_hash: a.action_hash,
    });
    expect(notesWith('Written, then the task failed.')).toHaveLength(1);
    expect(retried.note_id).toBe(notesWith('Written, then the task failed.')[0]?.id);
  });

  it('a HubSpot 5xx on the create is retried by the state machine and still writes one note', async () => {
    const a = await approved('apr_5xx', 'HubSpot hiccup.');
    emulator.faults.failNext(1, 503, '/crm/v3/objects/notes');
    await expect(
      handler()({ approval_id: a.approval_id, action_hash: a.action_hash }),
    ).rejects.toMatchObject({
      name: 'Airlock.Retryable',
    });
    await handler()({ approval_id: a.approval_id, action_hash: a.action_hash });
    expect(notesWith('HubSpot hiccup.')).toHaveLength(1);
  });

  it('refuses, without writing, an action whose hash no longer matches its approval', async () => {
    const a = await approved('apr_tampered', 'Original text.');
    await expect(
      handler()({
        approval_id: a.approval_id,
        action_hash: actionHash({ ...a.action, body: 'Other text.' }),
      }),
    ).rejects.toMatchObject({ name: 'Airlock.HashMismatch' });
    expect(notesWith('Original text.')).toHaveLength(0);
  });

  it('writes nothing while the gateway is contained or read-only', async () => {
    const a = await approved('apr_contained', 'Held by the kill switch.');
    control = { contained: true, readOnly: false };
    try {
      // Contained: the error Finish records as gateway_contained.
      await expect(
        handler()({ approval_id: a.approval_id, action_hash: a.action_hash }),
      ).rejects.toMatchObject({
        name: 'Airlock.Contained',
      });
      control = { contained: false, readOnly: true };
      await expect(
        handler()({ approval_id: a.approval_id, action_hash: a.action_hash }),
      ).rejects.toMatchObject({
        name: 'Airlock.WriteRefused',
      });
    } finally {
      control = { contained: false, readOnly: false };
    }
    expect(notesWith('Held by the kill switch.')).toHaveLength(0);
  });

  it('refuses an approval that is not approved', async () => {
    const a = await approved('apr_pending', 'Not yet.');
    await store.transition(a.approval_id, 'approved', { status: 'denied' });
    await expect(
      handler()({ approval_id: a.approval_id, action_hash: a.action_hash }),
    ).rejects.toMatchObject({
      name: 'Airlock.NotPending',
    });
    expect(notesWith('Not yet.')).toHaveLength(0);
  });

  /**
   * The deployed entry point (lambdas/aws/hubspot-write.ts) as Lambda loads it, its DynamoDB
   * client pointed at dynalite through AWS_ENDPOINT_URL_DYNAMODB, its secret mocked.
   */
  describe('as deployed', () => {
    const sm = mockClient(SecretsManagerClient);
    const saved = { ...process.env };
    const controlTable = 'airlock-control';
    const context = {} as Context;

    beforeAll(async () => {
      const endpoint = await db.client.config.endpoint?.();
      if (!endpoint) throw new Error('the dynalite client has no endpoint');
      await db.client.send(
        new CreateTableCommand({
          TableName: controlTable,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [{ AttributeName: CONTROL_TABLE.partitionKey, AttributeType: 'S' }],
          KeySchema: [{ AttributeName: CONTROL_TABLE.partitionKey, KeyType: 'HASH' }],
        }),
      );
      sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ token: WRITE }) });
      Object.assign(process.env, {
        AWS_REGION: 'eu-west-1',
        AWS_ACCESS_KEY_ID: 'DYNALITE',
        AWS_SECRET_ACCESS_KEY: 'DYNALITE',
        AWS_ENDPOINT_URL_DYNAMODB: `${endpoint.protocol}//${endpoint.hostname}:${endpoint.port}`,
        CONTROL_TABLE_NAME: controlTable,
        APPROVAL_TABLE_NAME: db.tableName,
        HUBSPOT_WRITE_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:write',
        HUBSPOT_BASE_URL: emulator.url,
      });
    });
    afterAll(() => {
      process.env = saved;
      sm.restore();
    });

    it('reads the switch for every write: a contain stops the next write at once, never after a cached "open"', async () => {
      const { handler } = await import('../../lambdas/aws/hubspot-write');
      const before = await approved('apr_entry_open', 'Written while open.');
      await handler({ approval_id: before.approval_id, action_hash: before.action_hash }, context);
      expect(notesWith('Written while open.')).toHaveLength(1);

      await new DynamoControlState({ client: db.client, tableName: controlTable }).set({
        contained: true,
        changedAt: new Date().toISOString(),
        changedBy: 'arn:aws:iam::1:user/op',
      });
      const after = await approved('apr_entry_contained', 'Approved before the contain.');

      await expect(
        handler({ approval_id: after.approval_id, action_hash: after.action_hash }, context),
      ).rejects.toMatchObject({ name: 'Airlock.Contained' });
      expect(notesWith('Approved before the contain.')).toHaveLength(0);

      // A switch that cannot be read is retried by the state machine, never taken as open.
      await db.client.send(new DeleteTableCommand({ TableName: controlTable }));
      await expect(
        handler({ approval_id: after.approval_id, action_hash: after.action_hash }, context),
      ).rejects.toMatchObject({ name: 'Airlock.Retryable' });
      expect(notesWith('Approved before the contain.')).toHaveLength(0);
    });
  });
});
