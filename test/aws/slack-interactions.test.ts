import { createHmac } from 'node:crypto';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import type { DynamoApprovalStore } from '../../lambdas/adapters/aws/dynamo-approval-store';
import { randomIds } from '../../lambdas/adapters/ids';
import { jsonLogger } from '../../lambdas/adapters/json-logger';
import {
  createSlackInteractionsHandler,
  SIGNING_SECRET_REFRESH_MS,
} from '../../lambdas/aws/approval-flow-handlers';
import { secretValue } from '../../lambdas/aws/slack-env';
import type { AuditRecord } from '../../lambdas/core/audit';
import { actionHash } from '../../lambdas/core/hash';
import type { Approval } from '../../lambdas/core/ports';
import { type DynaliteApprovals, startDynaliteApprovals } from '../helpers/dynalite';
import { TEST_EPOCH } from '../helpers/time';

const SECRET = 'slack-signing-secret-for-tests';
/**
 * The one instant of this file: the handlers' clock, the signatures' timestamps and the
 * approvals' times are all taken from it, so a signature 302 s off stays 302 s off (Slack's
 * tolerance is 300 s) however long a test takes.
 */
const NOW = TEST_EPOCH;
const TEAM = 'T0TEAM';
const action = {
  action: 'create_note' as const,
  company_id: '5100000001',
  body: 'Renewal signed.',
};

function approval(id: string, overrides: Partial<Approval> = {}): Approval {
  return {
    approval_id: id,
    request_id: `req_${id}`,
    action,
    action_hash: actionHash(action),
    user_id: 'U0REQUESTER',
    agent_prompt: 'log the renewal',
    requested_by: 'arn:aws:sts::1:assumed-role/agent/x',
    status: 'pending_approval',
    created_at: new Date(NOW).toISOString(),
    expires_at: new Date(NOW + 3600_000).toISOString(),
    approvals: [],
    version: 0,
    ...overrides,
  };
}

function click(
  approvalId: string,
  userId: string,
  decision: 'approve' | 'deny' = 'approve',
  team = TEAM,
): string {
  const payload = {
    type: 'block_actions',
    team: { id: team },
    user: { id: userId, username: userId.toLowerCase() },
    actions: [{ action_id: `airlock_${decision}`, value: approvalId }],
    response_url: 'https://hooks.slack.com/actions/T0TEAM/1/abc',
  };
  return `payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

function signed(
  body: string,
  options: { skewMs?: number; secret?: string; version?: string; tamper?: boolean } = {},
) {
  // The timestamp is the file's instant, with the skew asked for.
  const ts = String(Math.floor((NOW + (options.skewMs ?? 0)) / 1000));
  const mac = createHmac('sha256', options.secret ?? SECRET)
    .update(`v0:${ts}:${body}`)
    .digest('hex');
  return {
    body: options.tamper ? body.replace('airlock_', 'airlock_x') : body,
    headers: {
      'X-Slack-Request-Timestamp': ts,
      'X-Slack-Signature': `${options.version ?? 'v0'}=${mac}`,
      'Content-Type': 'application/x-www-form-urlencoded',
    } as Record<string, string>,
  };
}

describe('POST /slack/interactions', () => {
  let db: DynaliteApprovals;
  let store: DynamoApprovalStore;
  const records: AuditRecord[] = [];
  const decisions: { token: string; output: { decision: string; by: string[] } }[] = [];
  const told: string[] = [];
  let handler: ReturnType<typeof createSlackInteractionsHandler>;
  let control = { contained: false, readOnly: false };
  let failSends = 0;

  beforeAll(async () => {
    db = await startDynaliteApprovals();
    const { DynamoApprovalStore: Store } = await import(
      '../../lambdas/adapters/aws/dynamo-approval-store'
    );
    store = new Store(db.client, db.tableName);
    handler = createSlackInteractionsHandler({
      approvals: store,
      control: async () => control,
      audit: { append: async (r) => void records.push(r) },
      signingSecret: async () => SECRET,
      policy: { teamId: TEAM, approverIds: ['U0ANNA', 'U0BEN', 'U0REQUESTER'] },
      // The requester's own Slack identity (AIRLOCK_USER_APPROVERS): they cannot approve it.
      rules: { userApprovers: { u0requester: ['U0REQUESTER'] } },
      sendDecision: async (token, output) => {
        // As on AWS: a task token resumes its task once; a second send is refused.
        if (decisions.some((d) => d.token === token)) throw new Error('TaskTimedOut');
        if (failSends > 0) {
          failSends -= 1;
          throw new Error('ThrottlingException');
        }
        decisions.push({ token, output });
      },
      respond: async (_url, text) => void told.push(text),
      clock: { now: () => NOW },
      ids: randomIds,
      log: jsonLogger(() => undefined),
    });
  });
  afterAll(() => db.close());
  beforeEach(() => {
    records.length = 0;
    decisions.length = 0;
    told.length = 0;
  });

  const send = (req: { body: string; headers: Record<string, string> }) =>
    handler({
      body: req.body,
      headers: req.headers,
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEvent);

  async function pending(id: string, overrides: Partial<Approval> = {}) {
    await store.create(approval(id, overrides));
    await store.setTaskToken(id, `task-token-${id}`);
  }

  it('approves with a valid signature and resumes the state machine with the stored token', async () => {
    await pending('apr_valid');
    const res = await send(signed(click('apr_valid', 'U0ANNA')));
    expect(res.statusCode).toBe(200);
    expect(decisions).toEqual([
      { token: 'task-token-apr_valid', output: { decision: 'approved', by: ['U0ANNA'] } },
    ]);
    expect((await store.get('apr_valid'))?.status).toBe('approved');
    expect(records).toEqual([
      expect.objectContaining({
        outcome: 'approved',
        caller: `slack:${TEAM}:U0ANNA`,
        route: 'POST /slack/interactions',
      }),
    ]);
    expect(JSON.stringify(records)).not.toContain('task-token');
  });

  it('denies', async () => {
    await pending('apr_deny');
    await send(signed(click('apr_deny', 'U0BEN', 'deny')));
    expect(decisions[0]?.output.decision).toBe('denied');
    expect((await store.get('apr_deny'))?.status).toBe('denied');
  });

  it.each([
    ['stale', { skewMs: -302_000 }, 'slack_stale'],
    ['future-dated', { skewMs: 302_000 }, 'slack_future'],
    ['tampered', { tamper: true }, 'slack_bad_signature'],
    ['wrong-version', { version: 'v1' }, 'slack_bad_version'],
    ['wrongly signed', { secret: 'another-secret' }, 'slack_bad_signature'],
  ])(
    'refuses a %s request with 401, deciding nothing, and audits it',
    async (_what, options, reason) => {
      await pending(`apr_${reason.replace(/_/g, '')}${Object.keys(options)[0]}`);
      const id = `apr_${reason.replace(/_/g, '')}${Object.keys(options)[0]}`;
      const res = await send(signed(click(id, 'U0ANNA'), options));
      expect(res.statusCode).toBe(401);
      expect(decisions).toEqual([]);
      expect((await store.get(id))?.status).toBe('pending_approval');
      expect(records).toEqual([
        expect.objectContaining({ outcome: 'rejected', reason, response_status: 401 }),
      ]);
    },
  );

  it.each([['X-Slack-Signature'], ['X-Slack-Request-Timestamp']])(
    'refuses a request missing %s',
    async (header) => {
      const req = signed(click('apr_nothing', 'U0ANNA'));
      delete req.headers[header];
      expect((await send(req)).statusCode).toBe(401);
      expect(records[0]?.reason).toBe('slack_missing_headers');
    },
  );

  it.each([
    ['a user not on the allowlist', 'U0MALLORY', TEAM, 'approver_required'],
    ['another team', 'U0ANNA', 'T0OTHER', 'unauthorized'],
    ['the requester', 'U0REQUESTER', TEAM, 'approver_required'],
  ])('refuses %s, and the approval stays pending', async (_what, user, team, reason) => {
    const id = `apr_refuse${user}${team}`;
    await pending(id);
    const res = await send(signed(click(id, user, 'approve', team)));
    expect(res.statusCode).toBe(200);
    expect(decisions).toEqual([]);
    expect((await store.get(id))?.status).toBe('pending_approval');
    expect(records[0]).toMatchObject({ outcome: 'rejected', reason });
    expect(told).toHaveLength(1);
  });

  it('answers a double click with "already decided" and resumes the state machine once', async () => {
    await pending('apr_double');
    await Promise.all([
      send(signed(click('apr_double', 'U0ANNA'))),
      send(signed(click('apr_double', 'U0BEN'))),
    ]);
    expect(decisions).toHaveLength(1);
    expect(records.map((r) => r.outcome).sort()).toEqual(['approved', 'rejected']);
    expect(records.find((r) => r.outcome === 'rejected')?.reason).toBe('already_decided');
  });

  it('needs two distinct approvers under the two-person rule', async () => {
    await pending('apr_twoperson', { required_approvals: 2 });
    await send(signed(click('apr_twoperson', 'U0ANNA')));
    expect(decisions).toEqual([]);
    expect(told).toEqual(['Approval recorded; 1 more approver(s) needed.']);
    await send(signed(click('apr_twoperson', 'U0ANNA')));
    expect(decisions).toEqual([]);
    await send(signed(click('apr_twoperson', 'U0BEN')));
    expect(decisions).toEqual([
      {
        token: 'task-token-apr_twoperson',
        output: { decision: 'approved', by: ['U0ANNA', 'U0BEN'] },
      },
    ]);
    expect(records.map((r) => r.outcome)).toEqual(['pending_approval', 'rejected', 'approved']);
  });

  it('holds approvals while the gateway is contained, but lets a deny through', async () => {
    await pending('apr_held');
    control = { contained: true, readOnly: false };
    try {
      await send(signed(click('apr_held', 'U0ANNA')));
      expect(decisions).toEqual([]);
      expect(records[0]).toMatchObject({ outcome: 'rejected', reason: 'gateway_contained' });
      expect((await store.get('apr_held'))?.status).toBe('pending_approval');
      await send(signed(click('apr_held', 'U0ANNA', 'deny')));
      expect(decisions[0]?.output.decision).toBe('denied');
    } finally {
      control = { contained: false, readOnly: false };
    }
  });

  it('sends a decision again when the first send to the state machine failed', async () => {
    await pending('apr_resend');
    failSends = 1;
    await send(signed(click('apr_resend', 'U0ANNA')));
    expect(decisions).toEqual([]);
    // One click, one final record: the decision is recorded, and the approver is told to click again.
    expect(told.pop()).toBe(
      'Your decision is recorded, but the approval flow did not take it yet; click the button again.',
    );
    // The approval is decided; the next click is "already decided", and the decision goes out.
    await send(signed(click('apr_resend', 'U0BEN')));
    expect(decisions).toEqual([
      { token: 'task-token-apr_resend', output: { decision: 'approved', by: ['U0ANNA'] } },
    ]);
    expect(records.map((r) => [r.outcome, r.request_id !== records[0]?.request_id])).toEqual([
      ['approved', false],
      ['rejected', true],
    ]);
  });

  it('refuses an expired approval', async () => {
    await pending('apr_expired', { expires_at: new Date(NOW - 1000).toISOString() });
    await send(signed(click('apr_expired', 'U0ANNA')));
    expect(decisions).toEqual([]);
    expect(records[0]).toMatchObject({ outcome: 'rejected', reason: 'approval_expired' });
  });
});

describe('POST /slack/interactions after the signing secret was rotated', () => {
  const OLD = 'slack-signing-secret-before-rotation';
  const NEW = 'slack-signing-secret-after-rotation';
  const sm = mockClient(SecretsManagerClient);
  let db: DynaliteApprovals;
  let store: DynamoApprovalStore;
  let offsetMs = 0;
  const decisions: string[] = [];

  beforeAll(async () => {
    db = await startDynaliteApprovals();
    const { DynamoApprovalStore: Store } = await import(
      '../../lambdas/adapters/aws/dynamo-approval-store'
    );
    store = new Store(db.client, db.tableName);
  });
  afterAll(async () => {
    sm.restore();
    await db.close();
  });
  beforeEach(() => {
    sm.reset();
    offsetMs = 0;
    decisions.length = 0;
  });

  /** A handler as the entry point builds it: the secret from Secrets Manager, cached. */
  const handlerWithStoredSecret = () =>
    createSlackInteractionsHandler({
      approvals: store,
      control: async () => ({ contained: false, readOnly: false }),
      audit: { append: async () => undefined },
      signingSecret: secretValue('arn:aws:secretsmanager:eu-west-1:1:secret:signing', 'Slack'),
      policy: { teamId: TEAM, approverIds: ['U0ANNA'] },
      sendDecision: async (token) => void decisions.push(token),
      respond: async () => undefined,
      // The handler's clock runs `offsetMs` ahead; requests are signed at the same time.
      clock: { now: () => NOW + offsetMs },
      ids: randomIds,
      log: jsonLogger(() => undefined),
    });
  const fetches = () => sm.commandCalls(GetSecretValueCommand).length;
  const post = (handler: ReturnType<typeof handlerWithStoredSecret>, id: string, secret: string) =>
    handler({
      ...signed(click(id, 'U0ANNA', 'deny'), { secret, skewMs: offsetMs }),
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEvent);

  async function waiting(id: string) {
    await store.create(approval(id));
    await store.setTaskToken(id, `task-token-${id}`);
  }

  it('accepts a request signed with the new secret at once, while the old one is still cached', async () => {
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: OLD })
      .resolves({ SecretString: NEW });
    const handler = handlerWithStoredSecret();
    await waiting('apr_rotold');
    await waiting('apr_rotnew');
    expect((await post(handler, 'apr_rotold', OLD)).statusCode).toBe(200);
    expect(fetches()).toBe(1);

    const res = await post(handler, 'apr_rotnew', NEW);

    expect(res.statusCode).toBe(200);
    expect(decisions).toEqual(['task-token-apr_rotold', 'task-token-apr_rotnew']);
    expect(fetches()).toBe(2);
  });

  it('still refuses forged requests, and a flood of them reads the secret again at most once per 10 s', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: NEW });
    const handler = handlerWithStoredSecret();
    await waiting('apr_forged');

    const first = await post(handler, 'apr_forged', 'forged-secret');
    expect(first.statusCode).toBe(401);
    // The cached value, then one read past the cache to rule out a rotation.
    expect(fetches()).toBe(2);
    for (let i = 0; i < 20; i += 1) {
      expect((await post(handler, 'apr_forged', 'forged-secret')).statusCode).toBe(401);
    }
    expect(fetches()).toBe(2);

    offsetMs += SIGNING_SECRET_REFRESH_MS;
    for (let i = 0; i < 5; i += 1) await post(handler, 'apr_forged', 'forged-secret');
    expect(fetches()).toBe(3);
    expect(decisions).toEqual([]);
    expect((await store.get('apr_forged'))?.status).toBe('pending_approval');
  });
});
