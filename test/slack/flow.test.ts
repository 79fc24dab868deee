import { createHmac } from 'node:crypto';
import { checkApprover, parseInteraction } from '../../lambdas/slack/interaction';
import { approvalMessage } from '../../lambdas/slack/message';
import { headerValue, verifySlackSignature } from '../../lambdas/slack/verify';

const SECRET = 'test-signing-secret-0123456789';
const NOW_SEC = 1_800_000_000;
const APPROVAL_ID = 'apr_5f0c2a9be1d84c55a3f0e0c4b1d2e3f4';

/** What Slack would POST when someone clicks a button of our message. */
function clickBody(button: Record<string, unknown>): string {
  const payload = {
    type: 'block_actions',
    team: { id: 'T0TEAM' },
    user: { id: 'U0APPROVER', username: 'dana' },
    channel: { id: 'C0APPROVALS' },
    message: { ts: '1800000000.000100' },
    response_url: 'https://hooks.slack.com/actions/T0TEAM/1/abc',
    actions: [
      {
        type: 'button',
        action_id: button.action_id,
        block_id: 'airlock_decision',
        value: button.value,
        action_ts: `${NOW_SEC}.000200`,
      },
    ],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

describe('a click on our own message, end to end', () => {
  const message = approvalMessage({
    approval_id: APPROVAL_ID,
    user_id: 'user-1',
    requested_by: 'agent',
    agent_prompt: 'note it',
    action: { action: 'create_note', company_id: '51', body: 'hello' },
    action_hash: 'f'.repeat(64),
    target_name: 'Acme',
    expires_at: '2027-01-15T08:00:00.000Z',
    required_approvals: 1,
    approvals: [],
  });
  const actions = (message.blocks as { type: string; elements?: Record<string, unknown>[] }[]).find(
    (b) => b.type === 'actions',
  );
  const [approve, deny] = actions?.elements ?? [];

  it.each([
    ['approve', approve],
    ['deny', deny],
  ])('verifies, parses and checks a %s click', (decision, button) => {
    expect(button).toBeDefined();
    const rawBody = clickBody(button as Record<string, unknown>);
    const timestamp = String(NOW_SEC);
    const headers = {
      'X-Slack-Request-Timestamp': timestamp,
      'X-Slack-Signature': `v0=${createHmac('sha256', SECRET).update(`v0:${timestamp}:${rawBody}`).digest('hex')}`,
      'Content-Type': 'application/x-www-form-urlencoded',
    };
    expect(
      verifySlackSignature({
        rawBody,
        timestamp: headerValue(headers, 'x-slack-request-timestamp'),
        signature: headerValue(headers, 'x-slack-signature'),
        signingSecret: SECRET,
        nowMs: NOW_SEC * 1000 + 2_000,
      }),
    ).toEqual({ ok: true });
    const interaction = parseInteraction(rawBody);
    expect(interaction).toEqual({
      teamId: 'T0TEAM',
      userId: 'U0APPROVER',
      userName: 'dana',
      decision,
      approvalId: APPROVAL_ID,
      channelId: 'C0APPROVALS',
      messageTs: '1800000000.000100',
      responseUrl: 'https://hooks.slack.com/actions/T0TEAM/1/abc',
    });
    if (interaction) {
      expect(checkApprover(interaction, { teamId: 'T0TEAM', approverIds: ['U0APPROVER'] })).toEqual(
        { ok: true },
      );
    }
  });
});
