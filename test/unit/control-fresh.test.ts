import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CONTROL_TABLE, DynamoControlState } from '../../lambdas/adapters/aws/dynamo-control-state';
import { ControlFile } from '../../lambdas/adapters/local/control-file';
import type { Logger } from '../../lambdas/core/ports';
import { startDynaliteServer } from '../helpers/dynalite';

/**
 * `fresh()`: the switch as stored now, for the points where work leaves the gateway (a read's
 * data, a write about to be sent). It sees a change the cached `read()` does not yet.
 */
const change = (contained: boolean) => ({
  contained,
  changedAt: new Date().toISOString(),
  changedBy: 'op',
});

describe('ControlFile.fresh', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'airlock-control-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('sees a contain made by another process at once, while read() still has it cached', async () => {
    const file = path.join(dir, 'control.json');
    const gateway = new ControlFile(file, 60_000);
    expect(await gateway.read()).toEqual({ contained: false, readOnly: false });
    await new ControlFile(file).set(change(true));
    expect(await gateway.read()).toEqual({ contained: false, readOnly: false });
    expect(await gateway.fresh()).toEqual({ contained: true, readOnly: false });
  });

  it('fails closed on a file it cannot parse', async () => {
    const file = path.join(dir, 'control.json');
    writeFileSync(file, '{not json');
    expect(await new ControlFile(file).fresh()).toEqual({ contained: true, readOnly: true });
  });
});

describe('DynamoControlState.fresh', () => {
  let server: { endpoint: string; close(): Promise<void> };
  let raw: DynamoDBClient;
  let client: DynamoDBDocumentClient;
  beforeAll(async () => {
    server = await startDynaliteServer();
    raw = new DynamoDBClient({
      region: 'eu-west-1',
      endpoint: server.endpoint,
      credentials: { accessKeyId: 'DYNALITE', secretAccessKey: 'DYNALITE' },
    });
    client = DynamoDBDocumentClient.from(raw);
    await raw.send(
      new CreateTableCommand({
        TableName: 'control',
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: CONTROL_TABLE.partitionKey, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: CONTROL_TABLE.partitionKey, KeyType: 'HASH' }],
      }),
    );
  });
  afterAll(async () => {
    raw.destroy();
    await server.close();
  });

  it('reads the table uncached: a contain set by the ops function is seen inside the cache bound', async () => {
    const validation = new DynamoControlState({ client, tableName: 'control' });
    expect(await validation.read()).toEqual({ contained: false, readOnly: false });
    await new DynamoControlState({ client, tableName: 'control' }).set(change(true));
    expect(await validation.read()).toEqual({ contained: false, readOnly: false });
    expect(await validation.fresh()).toEqual({ contained: true, readOnly: false });
    // The fresher answer serves read() from then on.
    expect(await validation.read()).toEqual({ contained: true, readOnly: false });
    await new DynamoControlState({ client, tableName: 'control' }).set(change(false));
  });

  it('ORs in the deploy-time switch', async () => {
    const forced = new DynamoControlState({
      client,
      tableName: 'control',
      forced: { contained: false, readOnly: true },
    });
    expect(await forced.fresh()).toEqual({ contained: false, readOnly: true });
  });

  it('fails closed, and logs, when the table cannot be read', async () => {
    const errors: string[] = [];
    const log: Logger = { info: () => {}, warn: () => {}, error: (m) => void errors.push(m) };
    const missing = new DynamoControlState({ client, tableName: 'no-such-table', log });
    expect(await missing.fresh()).toEqual({ contained: true, readOnly: true });
    expect(errors).toEqual(['the kill switch cannot be read afresh; failing closed']);
  });
});
