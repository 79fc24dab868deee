import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import { APPROVAL_TABLE } from '../../lambdas/adapters/aws/dynamo-approval-store';
import { withTransactions } from './dynalite-transactions';

export interface DynaliteApprovals {
  /** A plain DocumentClient (default translation options, as a Lambda would build it). */
  client: DynamoDBDocumentClient;
  tableName: string;
  close(): Promise<void>;
}

/**
 * A real DynamoDB API (dynalite, in memory) on loopback, with the approvals table created
 * exactly as the CDK construct declares it (APPROVAL_TABLE: key, both GSIs), and a client of
 * the real AWS SDK talking to it over HTTP, with TransactWriteItems added in front of it
 * (`withTransactions`). dynalite has no TimeToLive API: the `ttl` attribute
 * is stored but never acted on, as a table without TTL enabled would do.
 */
export async function startDynaliteApprovals(
  tableName = 'airlock-approvals',
): Promise<DynaliteApprovals> {
  // The approval store reserves pending slots in transactions, which dynalite lacks.
  const server = await withTransactions(await startDynaliteServer());
  const raw = new DynamoDBClient({
    region: 'eu-west-1',
    endpoint: server.endpoint,
    credentials: { accessKeyId: 'DYNALITE', secretAccessKey: 'DYNALITE' },
  });
  const close = async () => {
    raw.destroy();
    await server.close();
  };
  try {
    await raw.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: APPROVAL_TABLE.partitionKey, AttributeType: 'S' },
          { AttributeName: 'request_id', AttributeType: 'S' },
          { AttributeName: 'status', AttributeType: 'S' },
          { AttributeName: 'created_at', AttributeType: 'S' },
        ],
        KeySchema: [{ AttributeName: APPROVAL_TABLE.partitionKey, KeyType: 'HASH' }],
        GlobalSecondaryIndexes: [
          {
            IndexName: APPROVAL_TABLE.byRequestIndex,
            KeySchema: [{ AttributeName: 'request_id', KeyType: 'HASH' }],
            Projection: { ProjectionType: 'ALL' },
          },
          {
            IndexName: APPROVAL_TABLE.byStatusIndex,
            KeySchema: [
              { AttributeName: 'status', KeyType: 'HASH' },
              { AttributeName: 'created_at', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      }),
    );
    for (let i = 0; ; i++) {
      const { Table } = await raw.send(new DescribeTableCommand({ TableName: tableName }));
      if (Table?.TableStatus === 'ACTIVE') break;
      if (i > 200) throw new Error(`table ${tableName} did not become ACTIVE`);
      await new Promise((r) => setTimeout(r, 5));
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { client: DynamoDBDocumentClient.from(raw), tableName, close };
}

/** dynalite (an in-memory DynamoDB) listening on a free loopback port. */
export async function startDynaliteServer(): Promise<{ endpoint: string; close(): Promise<void> }> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
