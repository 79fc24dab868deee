import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * dynalite has no TransactWriteItems. This front adds it, over dynalite's own item operations,
 * with DynamoDB's semantics as far as the approval store relies on them:
 *
 * - every request to the front runs alone (one at a time), so a transaction is isolated: no
 *   other request sees it half done, and no two transactions interleave;
 * - a transaction is all or nothing: each of its items is applied with its own condition; if
 *   any condition fails, every item applied is put back as it was and the answer is
 *   `TransactionCanceledException` with one `CancellationReasons` entry per item, in order
 *   (`ConditionalCheckFailed`, with the item as it was when `ReturnValuesOnConditionCheckFailure`
 *   is `ALL_OLD`, or `None`). Any other error (validation, a missing table) also puts back what
 *   was applied and is answered as dynalite answered it;
 * - two operations on one item, or more than 100, are refused (`ValidationException`).
 *
 * Not emulated: `TransactionConflict` (nothing runs concurrently here), `ClientRequestToken`
 * idempotency, consumed capacity, TransactGetItems.
 */
export async function withTransactions(backend: {
  endpoint: string;
  close(): Promise<void>;
}): Promise<{ endpoint: string; close(): Promise<void> }> {
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn);
    chain = run.catch(() => undefined);
    return run;
  };
  const keySchemas = new Map<string, string[]>();

  /** One call to dynalite itself (not through the front), with a signature it accepts. */
  const call = async (
    operation: string,
    input: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(backend.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': `DynamoDB_20120810.${operation}`,
        'x-amz-date': '20260101T000000Z',
        authorization:
          'AWS4-HMAC-SHA256 Credential=DYNALITE/20260101/eu-west-1/dynamodb/aws4_request, ' +
          'SignedHeaders=host, Signature=front',
      },
      body: JSON.stringify(input),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  const keyOf = async (table: string, item: Record<string, unknown>) => {
    let names = keySchemas.get(table);
    if (!names) {
      const described = await call('DescribeTable', { TableName: table });
      if (described.status !== 200) return { error: described };
      const schema = (described.body.Table as { KeySchema: { AttributeName: string }[] }).KeySchema;
      names = schema.map((k) => k.AttributeName);
      keySchemas.set(table, names);
    }
    const key: Record<string, unknown> = {};
    for (const n of names) key[n] = item[n];
    return { key };
  };

  const answer = (status: number, body: unknown) => ({
    status,
    headers: { 'content-type': 'application/x-amz-json-1.0' },
    body: JSON.stringify(body),
  });
  const validation = (message: string) =>
    answer(400, { __type: 'com.amazon.coral.validate#ValidationException', message });

  type Op = Record<string, unknown> & { TableName: string };
  const transact = async (input: { TransactItems?: Record<string, Op>[] }) => {
    const items = input.TransactItems ?? [];
    if (items.length === 0 || items.length > 100) {
      return validation('TransactItems must have between 1 and 100 items');
    }
    const plan: { kind: string; op: Op; key: Record<string, unknown> }[] = [];
    const seen = new Set<string>();
    for (const entry of items) {
      const kinds = Object.keys(entry);
      const kind = kinds[0];
      if (
        kinds.length !== 1 ||
        !kind ||
        !['Put', 'Update', 'Delete', 'ConditionCheck'].includes(kind)
      ) {
        return validation(
          'each TransactItem must have exactly one of Put, Update, Delete, ConditionCheck',
        );
      }
      const op = entry[kind] as Op;
      const found =
        kind === 'Put'
          ? await keyOf(op.TableName, op.Item as Record<string, unknown>)
          : { key: op.Key as Record<string, unknown> };
      if ('error' in found && found.error) return answer(found.error.status, found.error.body);
      const key = found.key as Record<string, unknown>;
      const id = JSON.stringify([op.TableName, key]);
      if (seen.has(id)) {
        return validation('Transaction request cannot include multiple operations on one item');
      }
      seen.add(id);
      plan.push({ kind, op, key });
    }

    const undo: { table: string; key: Record<string, unknown>; old: unknown }[] = [];
    const rollback = async () => {
      for (const u of undo.reverse()) {
        if (u.old) await call('PutItem', { TableName: u.table, Item: u.old });
        else await call('DeleteItem', { TableName: u.table, Key: u.key });
      }
    };
    const reasons: Record<string, unknown>[] = [];
    for (const { kind, op, key } of plan) {
      const before = await call('GetItem', {
        TableName: op.TableName,
        Key: key,
        ConsistentRead: true,
      });
      if (before.status !== 200) {
        await rollback();
        return answer(before.status, before.body);
      }
      const old = before.body.Item;
      const { ReturnValuesOnConditionCheckFailure: returnOld, ...params } = op;
      const done =
        kind === 'Put'
          ? await call('PutItem', params)
          : kind === 'Delete'
            ? await call('DeleteItem', params)
            : kind === 'Update'
              ? await call('UpdateItem', params)
              : // A condition check: an update that changes nothing, undone whatever happened.
                await call('UpdateItem', {
                  ...params,
                  UpdateExpression: 'REMOVE #front_check',
                  ExpressionAttributeNames: {
                    ...(params.ExpressionAttributeNames as object),
                    '#front_check': 'front_condition_check',
                  },
                });
      if (done.status === 200) {
        undo.push({ table: op.TableName, key, old });
        reasons.push({ Code: 'None' });
      } else if (String(done.body.__type).endsWith('#ConditionalCheckFailedException')) {
        reasons.push({
          Code: 'ConditionalCheckFailed',
          Message: 'The conditional request failed',
          ...(returnOld === 'ALL_OLD' && old ? { Item: old } : {}),
        });
      } else {
        await rollback();
        return answer(done.status, done.body);
      }
      if (kind === 'ConditionCheck' && done.status === 200) {
        // Put back at once: a condition check writes nothing.
        const u = undo.pop();
        if (u?.old) await call('PutItem', { TableName: u.table, Item: u.old });
        else if (u) await call('DeleteItem', { TableName: u.table, Key: u.key });
      }
    }
    if (reasons.some((r) => r.Code !== 'None')) {
      await rollback();
      return answer(400, {
        __type: 'com.amazonaws.dynamodb.v20120810#TransactionCanceledException',
        message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons
          .map((r) => r.Code)
          .join(', ')}]`,
        CancellationReasons: reasons,
      });
    }
    return answer(200, {});
  };

  const forward = async (req: http.IncomingMessage, body: Buffer) => {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (typeof v === 'string' && !['host', 'connection', 'content-length'].includes(k)) {
        headers[k] = v;
      }
    }
    const res = await fetch(`${backend.endpoint}${req.url ?? '/'}`, {
      method: req.method,
      headers,
      body: req.method === 'GET' || req.method === 'HEAD' ? undefined : new Uint8Array(body),
    });
    const out: Record<string, string> = {};
    res.headers.forEach((v, k) => {
      if (!['content-length', 'connection', 'transfer-encoding', 'keep-alive'].includes(k)) {
        out[k] = v;
      }
    });
    return { status: res.status, headers: out, body: Buffer.from(await res.arrayBuffer()) };
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      serial(async () => {
        if (req.headers['x-amz-target'] === 'DynamoDB_20120810.TransactWriteItems') {
          let input: { TransactItems?: Record<string, Op>[] };
          try {
            input = JSON.parse(body.toString('utf8'));
          } catch {
            return answer(400, { __type: 'com.amazon.coral.service#SerializationException' });
          }
          return transact(input);
        }
        return forward(req, body);
      }).then(
        (a) => {
          res.writeHead(a.status, a.headers);
          res.end(a.body);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' });
          res.end(JSON.stringify({ __type: 'InternalFailure', message: String(err) }));
        },
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await backend.close();
    },
  };
}
