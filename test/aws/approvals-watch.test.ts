import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';

type WatchModule = typeof import('../../lambdas/aws/approvals-watch');

const NOW = Date.parse('2026-03-02T10:00:00.000Z');
const minutesAgo = (m: number) => new Date(NOW - m * 60_000).toISOString();

/** The EMF line CloudWatch turns into ApprovalsPending and OldestPendingMinutes for a stage. */
const emf = (stage: string, pending: number, oldest: number) =>
  `{"_aws":{"Timestamp":${NOW},"CloudWatchMetrics":[{"Namespace":"CrmAirlock","Dimensions":[["Stage"]],"Metrics":[{"Name":"ApprovalsPending","Unit":"Count"},{"Name":"OldestPendingMinutes","Unit":"None"}]}]},"Stage":"${stage}","ApprovalsPending":${pending},"OldestPendingMinutes":${oldest}}`;

describe('the approvals watch', () => {
  const dynamo = mockClient(DynamoDBDocumentClient);
  const saved = { ...process.env };
  let watch: WatchModule;

  beforeAll(async () => {
    // The entry file reads its environment when loaded, as Lambda loads it.
    Object.assign(process.env, {
      AWS_REGION: 'eu-west-1',
      APPROVAL_TABLE_NAME: 'approvals',
      AIRLOCK_STAGE: 'prod',
    });
    watch = await import('../../lambdas/aws/approvals-watch');
  });
  afterAll(() => {
    process.env = saved;
    dynamo.restore();
  });
  beforeEach(() => dynamo.reset());

  const run = (pending: { created_at: string }[]) => {
    const lines: string[] = [];
    const result = watch.createApprovalsWatch({
      listPending: async () => pending,
      now: () => NOW,
      write: (l) => lines.push(l),
      stage: 'dev',
    })();
    return { lines, result };
  };

  it('reports 0 pending and 0 minutes when nothing waits', async () => {
    const { lines, result } = run([]);
    await expect(result).resolves.toEqual({ pending: 0, oldestPendingMinutes: 0 });
    expect(lines).toEqual([emf('dev', 0, 0)]);
  });

  it('reports 3 pending and the whole minutes the oldest has waited', async () => {
    const { lines, result } = run([
      { created_at: minutesAgo(5) },
      { created_at: minutesAgo(42.5) },
      { created_at: minutesAgo(12) },
    ]);
    await expect(result).resolves.toEqual({ pending: 3, oldestPendingMinutes: 42 });
    expect(lines).toEqual([emf('dev', 3, 42)]);
  });

  it('counts an approval with an unreadable date without letting it set the wait', async () => {
    const { lines, result } = run([{ created_at: 'yesterday' }, { created_at: minutesAgo(7) }]);
    await result;
    expect(lines).toEqual([emf('dev', 2, 7)]);
  });

  it('writes nothing and fails when the approvals cannot be listed', async () => {
    const lines: string[] = [];
    const failing = watch.createApprovalsWatch({
      listPending: () => Promise.reject(new Error('ProvisionedThroughputExceededException')),
      now: () => NOW,
      write: (l) => lines.push(l),
      stage: 'dev',
    });
    await expect(failing()).rejects.toThrow('ProvisionedThroughputExceededException');
    expect(lines).toEqual([]);
  });

  it('as deployed: queries the by_status index for pending approvals and logs one line for its stage', async () => {
    dynamo
      .on(QueryCommand)
      .resolvesOnce({
        Items: [{ approval_id: 'a1', status: 'pending_approval', created_at: minutesAgo(31) }],
        LastEvaluatedKey: { approval_id: 'a1' },
      })
      .resolvesOnce({
        Items: [{ approval_id: 'a2', status: 'pending_approval', created_at: minutesAgo(3) }],
      });
    const written: string[] = [];
    const stdout = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    const now = jest.spyOn(Date, 'now').mockReturnValue(NOW);
    try {
      await watch.handler({}, {} as Context);
    } finally {
      stdout.mockRestore();
      now.mockRestore();
    }
    expect(written).toEqual([`${emf('prod', 2, 31)}\n`]);
    const queries = dynamo.commandCalls(QueryCommand).map((c) => c.args[0].input);
    expect(queries).toHaveLength(2);
    expect(queries[0]).toMatchObject({
      TableName: 'approvals',
      IndexName: 'by_status',
      ExpressionAttributeValues: { ':status': 'pending_approval' },
    });
    expect(queries[1]?.ExclusiveStartKey).toEqual({ approval_id: 'a1' });
  });
});
