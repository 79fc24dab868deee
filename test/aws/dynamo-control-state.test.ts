import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { CONTROL_TABLE, DynamoControlState } from '../../lambdas/adapters/aws/dynamo-control-state';
import type { Logger } from '../../lambdas/core/ports';
import { startDynaliteServer } from '../helpers/dynalite';

/**
 * The kill switch on AWS against dynalite (a real DynamoDB API over HTTP), with the control
 * table created as the CDK construct declares it (CONTROL_TABLE). Time is an injected clock:
 * the cache bounds are shown by moving it, never by waiting.
 */
describe('DynamoControlState', () => {
  let server: { endpoint: string; close(): Promise<void> };
  let raw: DynamoDBClient;
  let client: DynamoDBDocumentClient;
  let tables = 0;

  beforeAll(async () => {
    server = await startDynaliteServer();
    raw = new DynamoDBClient({
      region: 'eu-west-1',
      endpoint: server.endpoint,
      credentials: { accessKeyId: 'DYNALITE', secretAccessKey: 'DYNALITE' },
    });
    client = DynamoDBDocumentClient.from(raw);
  });
  afterAll(async () => {
    raw.destroy();
    await server.close();
  });

  /** A fresh control table (dynalite creates tables at once). */
  async function table(): Promise<string> {
    const name = `control-${++tables}`;
    await raw.send(
      new CreateTableCommand({
        TableName: name,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: CONTROL_TABLE.partitionKey, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: CONTROL_TABLE.partitionKey, KeyType: 'HASH' }],
      }),
    );
    return name;
  }

  const clock = () => {
    let t = 1_000_000;
    return {
      now: () => t,
      advance: (ms: number) => {
        t += ms;
      },
    };
  };

  const change = (contained: boolean, readOnly: boolean, changedBy = 'arn:aws:iam::1:user/op') => ({
    contained,
    readOnly,
    changedAt: '2030-01-01T00:00:00.000Z',
    changedBy,
    reason: 'incident 42',
  });

  it('is open while nothing was ever set', async () => {
    const control = new DynamoControlState({ client, tableName: await table() });
    expect(await control.read()).toEqual({ contained: false, readOnly: false });
    expect(await control.snapshot()).toEqual({ contained: false, readOnly: false });
  });

  it('reads back what it set, at once, with who, when and why', async () => {
    const control = new DynamoControlState({ client, tableName: await table() });
    await control.read();
    await control.set(change(true, false));
    expect(await control.read()).toEqual({ contained: true, readOnly: false });
    expect(await control.snapshot()).toEqual({
      contained: true,
      readOnly: false,
      changedAt: '2030-01-01T00:00:00.000Z',
      changedBy: 'arn:aws:iam::1:user/op',
      reason: 'incident 42',
    });
  });

  it('updates only the flag it is given, keeping the other as another instance set it', async () => {
    const tableName = await table();
    const alice = new DynamoControlState({ client, tableName });
    const bob = new DynamoControlState({ client, tableName });
    await bob.set({ readOnly: true, changedAt: '2030-01-01T00:00:00.000Z', changedBy: 'arn:bob' });

    const after = await alice.set({
      contained: true,
      changedAt: '2030-01-01T00:00:01.000Z',
      changedBy: 'arn:alice',
      reason: 'leak',
    });

    // The answer is the item as stored after the update, Bob's flag included.
    expect(after).toEqual({
      contained: true,
      readOnly: true,
      changedAt: '2030-01-01T00:00:01.000Z',
      changedBy: 'arn:alice',
      reason: 'leak',
    });
    expect(await bob.snapshot()).toEqual(after);
    expect(await alice.read()).toEqual({ contained: true, readOnly: true });
  });

  it('keeps both of two concurrent changes to different flags', async () => {
    const tableName = await table();
    await new DynamoControlState({ client, tableName }).set(change(false, true));
    const at = '2030-01-02T00:00:00.000Z';

    await Promise.all([
      new DynamoControlState({ client, tableName }).set({
        contained: true,
        changedAt: at,
        changedBy: 'a',
      }),
      new DynamoControlState({ client, tableName }).set({
        readOnly: false,
        changedAt: at,
        changedBy: 'b',
      }),
    ]);

    expect(await new DynamoControlState({ client, tableName }).stored()).toMatchObject({
      contained: true,
      readOnly: false,
    });
  });

  it('answers a set with the deploy-time override ORed in, and setStored without it', async () => {
    const tableName = await table();
    const control = new DynamoControlState({
      client,
      tableName,
      forced: { contained: true, readOnly: false },
    });
    const release = { contained: false, changedAt: '2030-01-01T00:00:00.000Z', changedBy: 'op' };
    expect(await control.set(release)).toMatchObject({ contained: true, readOnly: false });
    expect(await control.setStored(release)).toMatchObject({ contained: false, readOnly: false });
  });

  it("shows another instance's change within its cache bound, and not before", async () => {
    const tableName = await table();
    const time = clock();
    const reader = new DynamoControlState({ client, tableName, now: time.now, maxAgeMs: 5000 });
    const operator = new DynamoControlState({ client, tableName });
    expect(await reader.read()).toEqual({ contained: false, readOnly: false });

    await operator.set(change(true, false));
    time.advance(4999);
    expect(await reader.read()).toEqual({ contained: false, readOnly: false });
    time.advance(1);
    expect(await reader.read()).toEqual({ contained: true, readOnly: false });
    // The operator's view is never cached.
    expect((await reader.snapshot()).contained).toBe(true);
  });

  it('keeps the last good value through a read error younger than 10 s, then fails closed and logs, then recovers', async () => {
    const tableName = await table();
    const time = clock();
    let failing = false;
    const flaky = {
      send: (command: never) =>
        failing
          ? Promise.reject(Object.assign(new Error('timeout'), { name: 'TimeoutError' }))
          : client.send(command),
    } as unknown as DynamoDBDocumentClient;
    const errors: Record<string, unknown>[] = [];
    const log: Logger = {
      info: () => undefined,
      warn: () => undefined,
      error: (_m, f) => void errors.push(f ?? {}),
    };
    const control = new DynamoControlState({ client: flaky, tableName, now: time.now, log });
    await new DynamoControlState({ client, tableName }).set(change(false, true));
    expect(await control.read()).toEqual({ contained: false, readOnly: true });

    failing = true;
    time.advance(6000);
    expect(await control.read()).toEqual({ contained: false, readOnly: true });
    expect(errors).toEqual([]);

    time.advance(4000);
    expect(await control.read()).toEqual({ contained: true, readOnly: true });
    expect(errors).toEqual([{ table: tableName, error: 'TimeoutError' }]);
    await expect(control.snapshot()).rejects.toThrow('timeout');

    failing = false;
    expect(await control.read()).toEqual({ contained: false, readOnly: true });
  });

  it('fails closed without any good read to fall back on', async () => {
    const broken = {
      send: () => Promise.reject(new Error('ResourceNotFoundException')),
    } as unknown as DynamoDBDocumentClient;
    const control = new DynamoControlState({ client: broken, tableName: 'missing' });
    expect(await control.read()).toEqual({ contained: true, readOnly: true });
  });

  it('keeps the deploy-time override on whatever the table says: it cannot be released at run time', async () => {
    const tableName = await table();
    const control = new DynamoControlState({
      client,
      tableName,
      forced: { contained: true, readOnly: false },
    });
    await control.set(change(false, false));
    expect(await control.read()).toEqual({ contained: true, readOnly: false });
    expect(await control.snapshot()).toMatchObject({ contained: true, readOnly: false });
    expect(await control.stored()).toMatchObject({ contained: false, readOnly: false });
    // Another instance, not forced, sees the table as it is.
    expect(await new DynamoControlState({ client, tableName }).read()).toEqual({
      contained: false,
      readOnly: false,
    });
  });

  it('counts any flag value but false as on, so a hand-edited item never opens the gateway', async () => {
    const tableName = await table();
    await client.send(
      new PutCommand({
        TableName: tableName,
        Item: { pk: 'control', contained: 'false', read_only: false },
      }),
    );
    const control = new DynamoControlState({ client, tableName });
    expect(await control.read()).toEqual({ contained: true, readOnly: false });
  });

  it('shares one read between the concurrent callers of one container', async () => {
    const tableName = await table();
    let gets = 0;
    const counting = {
      send: (command: never) => {
        gets += 1;
        return client.send(command);
      },
    } as unknown as DynamoDBDocumentClient;
    const control = new DynamoControlState({ client: counting, tableName });
    await Promise.all([control.read(), control.read(), control.read()]);
    expect(gets).toBe(1);
  });
});
