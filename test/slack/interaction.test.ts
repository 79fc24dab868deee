import {
  APPROVAL_ID_PATTERN,
  checkApprover,
  MAX_INTERACTION_BODY,
  parseInteraction,
} from '../../lambdas/slack/interaction';
import { FAKE_SLACK_TOKEN } from '../helpers/fake-credentials';

const APPROVAL_ID = 'apr_0123456789abcdef0123456789abcdef';

/** A `block_actions` payload shaped like Slack's, with overrides. */
function payload(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'block_actions',
    team: { id: 'T0123ABCD', domain: 'acme' },
    user: { id: 'U0APPROVER', username: 'dana', name: 'dana', team_id: 'T0123ABCD' },
    api_app_id: 'A0APP',
    token: 'legacy-verification-token',
    container: {
      type: 'message',
      message_ts: '1700000000.123456',
      channel_id: 'C0APPROVALS',
      is_ephemeral: false,
    },
    trigger_id: '123.456.abc',
    channel: { id: 'C0APPROVALS', name: 'crm-approvals' },
    message: { type: 'message', ts: '1700000000.123456', text: 'CRM write awaiting approval' },
    response_url: 'https://hooks.slack.com/actions/T0123ABCD/1234/abcdEFGH',
    actions: [
      {
        type: 'button',
        action_id: 'airlock_approve',
        block_id: 'airlock_decision',
        text: { type: 'plain_text', text: 'Approve' },
        value: APPROVAL_ID,
        style: 'primary',
        action_ts: '1700000001.000000',
      },
    ],
    ...overrides,
  };
}

/** The body Slack POSTs: form-encoded, one `payload` field holding JSON. */
function form(p: unknown): string {
  return new URLSearchParams({ payload: typeof p === 'string' ? p : JSON.stringify(p) }).toString();
}

function button(action_id: string, value: unknown): Record<string, unknown> {
  return { type: 'button', action_id, block_id: 'airlock_decision', value };
}

describe('parseInteraction', () => {
  it('parses an approve click', () => {
    expect(parseInteraction(form(payload()))).toEqual({
      teamId: 'T0123ABCD',
      userId: 'U0APPROVER',
      userName: 'dana',
      decision: 'approve',
      approvalId: APPROVAL_ID,
      channelId: 'C0APPROVALS',
      messageTs: '1700000000.123456',
      responseUrl: 'https://hooks.slack.com/actions/T0123ABCD/1234/abcdEFGH',
    });
  });

  it('parses a deny click', () => {
    const parsed = parseInteraction(
      form(payload({ actions: [button('airlock_deny', APPROVAL_ID)] })),
    );
    expect(parsed).toMatchObject({
      decision: 'deny',
      approvalId: APPROVAL_ID,
      userId: 'U0APPROVER',
    });
  });

  it('leaves out the optional fields when they are absent, taking channel and ts from the container', () => {
    const p = payload({ channel: undefined, message: undefined, response_url: undefined });
    delete (p.user as Record<string, unknown>).username;
    delete (p.user as Record<string, unknown>).name;
    expect(parseInteraction(form(p))).toEqual({
      teamId: 'T0123ABCD',
      userId: 'U0APPROVER',
      decision: 'approve',
      approvalId: APPROVAL_ID,
      channelId: 'C0APPROVALS',
      messageTs: '1700000000.123456',
    });
    const bare = payload({
      channel: undefined,
      message: undefined,
      container: undefined,
      response_url: undefined,
    });
    expect(parseInteraction(form(bare))).toEqual({
      teamId: 'T0123ABCD',
      userId: 'U0APPROVER',
      userName: 'dana',
      decision: 'approve',
      approvalId: APPROVAL_ID,
    });
  });

  it('drops a response_url that is not a Slack hooks URL', () => {
    for (const url of [
      'http://hooks.slack.com/actions/x',
      'https://evil.example/actions/x',
      'https://hooks.slack.com.evil.example/x',
      'https://user:pw@hooks.slack.com/x',
      'https://hooks.slack.com:8443/x',
      'javascript:alert(1)',
      'not a url',
      42,
    ]) {
      const parsed = parseInteraction(form(payload({ response_url: url })));
      expect(parsed).not.toBeNull();
      expect(parsed).not.toHaveProperty('responseUrl');
    }
  });

  it('drops a channel id or message ts that is not well-formed', () => {
    const parsed = parseInteraction(
      form(
        payload({
          channel: { id: 'C0<!channel>' },
          message: { ts: '1700000000' },
          container: { channel_id: '', message_ts: 'x.y' },
        }),
      ),
    );
    expect(parsed).not.toHaveProperty('channelId');
    expect(parsed).not.toHaveProperty('messageTs');
  });

  it('caps a long user name', () => {
    const p = payload();
    (p.user as Record<string, unknown>).username = 'n'.repeat(1000);
    expect(parseInteraction(form(p))?.userName).toBe('n'.repeat(256));
  });

  it('refuses other payload types', () => {
    for (const type of [
      'view_submission',
      'view_closed',
      'shortcut',
      'message_action',
      'interactive_message',
      'block_suggestion',
      'BLOCK_ACTIONS',
      undefined,
      null,
      1,
    ]) {
      expect(parseInteraction(form(payload({ type })))).toBeNull();
    }
  });

  it('refuses malformed bodies and payloads', () => {
    for (const body of [
      '',
      'payload=',
      'payload=%7B',
      'payload=not-json',
      'payload=null',
      'payload=%5B%5D',
      'payload=%22block_actions%22',
      'payload=42',
      'nothing=here',
      JSON.stringify(payload()),
      `${form(payload())}&${form(payload({ actions: [button('airlock_deny', APPROVAL_ID)] }))}`,
    ]) {
      expect(parseInteraction(body)).toBeNull();
    }
  });

  it('refuses a body larger than the cap without parsing it', () => {
    const big = form(payload({ padding: 'x'.repeat(MAX_INTERACTION_BODY) }));
    expect(big.length).toBeGreaterThan(MAX_INTERACTION_BODY);
    expect(parseInteraction(big)).toBeNull();
  });

  it('refuses a payload without a team or a user', () => {
    expect(parseInteraction(form(payload({ team: undefined })))).toBeNull();
    expect(parseInteraction(form(payload({ team: null })))).toBeNull();
    expect(parseInteraction(form(payload({ team: { id: '' } })))).toBeNull();
    expect(parseInteraction(form(payload({ team: 'T0123ABCD' })))).toBeNull();
    expect(parseInteraction(form(payload({ user: undefined })))).toBeNull();
    expect(parseInteraction(form(payload({ user: { name: 'dana' } })))).toBeNull();
    expect(parseInteraction(form(payload({ user: { id: 7 } })))).toBeNull();
    expect(parseInteraction(form(payload({ user: { id: 'U1 <@U2>' } })))).toBeNull();
  });

  it('refuses a payload without actions, or without an airlock action', () => {
    expect(parseInteraction(form(payload({ actions: undefined })))).toBeNull();
    expect(parseInteraction(form(payload({ actions: [] })))).toBeNull();
    expect(parseInteraction(form(payload({ actions: {} })))).toBeNull();
    expect(parseInteraction(form(payload({ actions: [null, 1, 'x'] })))).toBeNull();
    for (const id of ['airlock_approved', 'AIRLOCK_APPROVE', 'approve', 'airlock_deny ', '']) {
      expect(parseInteraction(form(payload({ actions: [button(id, APPROVAL_ID)] })))).toBeNull();
    }
  });

  it('refuses values that are not exactly an approval id', () => {
    for (const value of [
      'apr_x; drop',
      'apr_x drop',
      'apr_',
      'apr_x\n',
      ' apr_x',
      'apr_x-y',
      'APR_x',
      `apr_${'a'.repeat(65)}`,
      FAKE_SLACK_TOKEN,
      'AAAAQUIhWt1bm8vY2xvdWQtZnVuY3Rpb25zLmV4YW1wbGUuY29tL3Rhc2stdG9rZW4=',
      JSON.stringify({ approval_id: APPROVAL_ID, task_token: 'AAAA' }),
      undefined,
      null,
      42,
      [APPROVAL_ID],
    ]) {
      expect(
        parseInteraction(form(payload({ actions: [button('airlock_approve', value)] }))),
      ).toBeNull();
    }
  });

  it('accepts an approval id of 1 and of 64 characters after the prefix', () => {
    for (const id of ['apr_a', `apr_${'Z9'.repeat(32)}`]) {
      expect(
        parseInteraction(form(payload({ actions: [button('airlock_deny', id)] })))?.approvalId,
      ).toBe(id);
    }
  });

  it('takes the first airlock action with a well-formed value', () => {
    const other = 'apr_second';
    expect(
      parseInteraction(
        form(
          payload({
            actions: [button('airlock_deny', APPROVAL_ID), button('airlock_approve', other)],
          }),
        ),
      ),
    ).toMatchObject({ decision: 'deny', approvalId: APPROVAL_ID });
    expect(
      parseInteraction(
        form(
          payload({
            actions: [
              button('overflow_menu', 'apr_ignored'),
              button('airlock_approve', 'apr_x; drop'),
              button('airlock_deny', other),
              button('airlock_approve', APPROVAL_ID),
            ],
          }),
        ),
      ),
    ).toMatchObject({ decision: 'deny', approvalId: other });
  });

  it('reads JSON keys named __proto__ as plain data', () => {
    const raw = `{"type":"block_actions","__proto__":{"polluted":true},"team":{"id":"T1"},"user":{"id":"U1"},"actions":[{"action_id":"airlock_approve","value":"apr_a"}]}`;
    expect(parseInteraction(form(raw))).toEqual({
      teamId: 'T1',
      userId: 'U1',
      decision: 'approve',
      approvalId: 'apr_a',
    });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('exports the approval id pattern the buttons follow', () => {
    expect(APPROVAL_ID_PATTERN.test(APPROVAL_ID)).toBe(true);
    expect(APPROVAL_ID_PATTERN.test('apr_x; drop')).toBe(false);
  });
});

describe('checkApprover', () => {
  const policy = { teamId: 'T0123ABCD', approverIds: ['U0APPROVER', 'U0OTHER'] } as const;

  it('accepts an allowlisted approver of the right workspace', () => {
    expect(checkApprover({ teamId: 'T0123ABCD', userId: 'U0APPROVER' }, policy)).toEqual({
      ok: true,
    });
    expect(checkApprover({ teamId: 'T0123ABCD', userId: 'U0OTHER' }, policy)).toEqual({ ok: true });
  });

  it('refuses a user of another workspace, even one with an allowlisted id', () => {
    expect(checkApprover({ teamId: 'T0EVIL', userId: 'U0APPROVER' }, policy)).toEqual({
      ok: false,
      reason: 'wrong_team',
    });
    expect(checkApprover({ teamId: 't0123abcd', userId: 'U0APPROVER' }, policy)).toEqual({
      ok: false,
      reason: 'wrong_team',
    });
  });

  it('refuses a member of the workspace who is not an approver', () => {
    for (const userId of ['U0SOMEONE', 'u0approver', 'U0APPROVER ', 'U0APPRO', '']) {
      expect(checkApprover({ teamId: 'T0123ABCD', userId }, policy)).toEqual({
        ok: false,
        reason: 'not_an_approver',
      });
    }
  });

  it('refuses everyone when the policy has no approvers or no team', () => {
    expect(
      checkApprover(
        { teamId: 'T0123ABCD', userId: 'U0APPROVER' },
        { teamId: 'T0123ABCD', approverIds: [] },
      ),
    ).toEqual({ ok: false, reason: 'not_an_approver' });
    expect(checkApprover({ teamId: '', userId: 'U0APPROVER' }, { ...policy, teamId: '' })).toEqual({
      ok: false,
      reason: 'wrong_team',
    });
  });

  it('works on a parsed interaction', () => {
    const parsed = parseInteraction(form(payload()));
    expect(parsed).not.toBeNull();
    if (parsed) expect(checkApprover(parsed, policy)).toEqual({ ok: true });
  });
});
