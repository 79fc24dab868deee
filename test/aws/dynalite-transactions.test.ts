import { GetCommand, PutCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { type DynaliteApprovals, startDynaliteApprovals } from '../helpers/dynalite';

/** The TransactWriteItems that the test front adds to dynalite behaves as DynamoDB's does. */
describe('TransactWriteItems in front of dynalite', () => {
  let db: DynaliteApprovals;
  beforeAll(async () => {
    db = await startDynaliteApprovals();
  });
  afterAll(async () => {
    await db.close();
  });

  const get = async (id: string) =>
    (
      await db.client.send(
        new GetCommand({ TableName: db.tableName, Key: { approval_id: id }, ConsistentRead: true }),
      )
    ).Item;

  it('commits every item, or none, and says which condition failed', async () => {
    await db.client.send(
      new PutCommand({ TableName: db.tableName, Item: { approval_id: 'c', n: 5 } }),
    );
    const items = (cap: number) => [
      { Put: { TableName: db.tableName, Item: { approval_id: 'new', v: 1 } } },
      {
        Update: {
          TableName: db.tableName,
          Key: { approval_id: 'c' },
          UpdateExpression: 'ADD n :one',
          ConditionExpression: 'n < :cap',
          ExpressionAttributeValues: { ':one': 1, ':cap': cap },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
        },
      },
    ];
    await expect(
      db.client.send(new TransactWriteCommand({ TransactItems: items(5) })),
    ).rejects.toMatchObject({
      name: 'TransactionCanceledException',
      CancellationReasons: [
        { Code: 'None' },
        { Code: 'ConditionalCheckFailed', Item: { approval_id: { S: 'c' }, n: { N: '5' } } },
      ],
    });
    // The put that succeeded was undone.
    expect(await get('new')).toBeUndefined();
    expect((await get('c'))?.n).toBe(5);

    await db.client.send(new TransactWriteCommand({ TransactItems: items(6) }));
    expect(await get('new')).toEqual({ approval_id: 'new', v: 1 });
    expect((await get('c'))?.n).toBe(6);
  });

  it('refuses two operations on one item, and passes other errors through', async () => {
    const put = { Put: { TableName: db.tableName, Item: { approval_id: 'twice' } } };
    await expect(
      db.client.send(new TransactWriteCommand({ TransactItems: [put, put] })),
    ).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(
      db.client.send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: { TableName: db.tableName, Item: { approval_id: 'first' } } },
            { Put: { TableName: 'no-such-table', Item: { approval_id: 'x' } } },
          ],
        }),
      ),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    expect(await get('first')).toBeUndefined();
    expect(await get('twice')).toBeUndefined();
  });

  it('runs each transaction alone: 100 concurrent increments under a cap of 60 stop at 60', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 100 }, (_, i) =>
        db.client.send(
          new TransactWriteCommand({
            TransactItems: [
              { Put: { TableName: db.tableName, Item: { approval_id: `item-${i}` } } },
              {
                Update: {
                  TableName: db.tableName,
                  Key: { approval_id: 'counter' },
                  UpdateExpression: 'ADD n :one',
                  ConditionExpression: 'attribute_not_exists(n) OR n < :cap',
                  ExpressionAttributeValues: { ':one': 1, ':cap': 60 },
                },
              },
            ],
          }),
        ),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(60);
    expect((await get('counter'))?.n).toBe(60);
    let items = 0;
    for (let i = 0; i < 100; i += 1) if (await get(`item-${i}`)) items += 1;
    expect(items).toBe(60);
  });
});
