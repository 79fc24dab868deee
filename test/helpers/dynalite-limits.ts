import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { RATE_LIMIT_TABLE } from '../../lambdas/adapters/aws/dynamo-rate-limiter';
import { startDynaliteServer } from './dynalite';

export interface DynaliteLimits {
  /** A plain DocumentClient (default translation options, as a Lambda would build it). */
  client: DynamoDBDocumentClient;
  tableName: string;
  /** The dynalite endpoint, to build other clients (say, for a table that does not exist). */
  endpoint: string;
  close(): Promise<void>;
}

/** A DocumentClient of the real SDK for `endpoint`, with one attempt per call (no retries). */
export function limitsClient(endpoint: string): DynamoDBDocumentClient {
  const raw = new DynamoDBClient({
    region: 'eu-west-1',
    endpoint,
    credentials: { accessKeyId: 'DYNALITE', secretAccessKey: 'DYNALITE' },
    maxAttempts: 1,
  });
  return DynamoDBDocumentClient.from(raw);
}

/** A loopback port with nothing listening on it (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A real DynamoDB API (dynalite, in memory) on loopback with the rate-limit table created as
 * the CDK construct declares it (RATE_LIMIT_TABLE: partition key `key`), and a client of the
 * real AWS SDK talking to it over HTTP. dynalite has no TimeToLive API: `ttl` is stored but
 * never acted on.
 */
export async function startDynaliteLimits(tableName = 'airlock-limits'): Promise<DynaliteLimits> {
  const server = await startDynaliteServer();
  const endpoint = server.endpoint;
  const client = limitsClient(endpoint);
  const close = async () => {
    client.destroy();
    await server.close();
  };
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: RATE_LIMIT_TABLE.partitionKey, AttributeType: 'S' },
        ],
        KeySchema: [{ AttributeName: RATE_LIMIT_TABLE.partitionKey, KeyType: 'HASH' }],
      }),
    );
    for (let i = 0; ; i++) {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
      if (Table?.TableStatus === 'ACTIVE') break;
      if (i > 200) throw new Error(`table ${tableName} did not become ACTIVE`);
      await new Promise((r) => setTimeout(r, 5));
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { client, tableName, endpoint, close };
}
