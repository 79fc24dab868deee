import { codePointName, displayUnits, isUnsafeChar } from '../core/text';
import { APPROVAL_ID_PATTERN, APPROVE_ACTION_ID, DENY_ACTION_ID } from './interaction';

/**
 * Block Kit messages for approvals. Everything that came from the agent, the user or the CRM
 * is untrusted: it is escaped for mrkdwn (so it cannot mention, link or ping anyone), shown
 * in code style (so it cannot format itself to look like ours), its hidden characters are
 * made visible, and it is cut to Slack's size limits with a visible notice.
 *
 * The caller should post with `link_names` off (the default) and unfurling off.
 */

/** Slack's limit on a section's text. */
export const SECTION_TEXT_MAX = 3000;
/** The note body is split over at most this many sections (2000 characters always fit). */
const BODY_MAX_SECTIONS = 6;
const INLINE_MAX = 200;
const ID_MAX = 64;
const TARGET_NAME_MAX = 300;
const HASH_MAX = 128;
const OTHER_PARAMS_MAX = 20;
const PEOPLE_MAX = 10;
/** Shown for a backtick inside code, which would otherwise end the code span or block. */
const BACKTICK_STAND_IN = '\u02CB';

/** What an approver sees. Only these fields are read; any other property is ignored. */
export interface ApprovalView {
  approval_id: string;
  user_id: string;
  requested_by: string;
  agent_prompt: string;
  /** The validated action, e.g. `{action:'create_note', company_id:'51', body:'…'}`. */
  action: Record<string, unknown>;
  action_hash: string;
  /** The target record's current name, or null when it was not found. */
  target_name: string | null;
  expires_at: string;
  required_approvals: number;
  approvals: { by: string; at: string }[];
}

export type OutcomeStatus = 'completed' | 'denied' | 'expired' | 'failed';

export interface ApprovalOutcome {
  status: OutcomeStatus;
  noteId?: string;
  detail?: string;
  decidedBy?: string[];
  /** With `denied`: nobody denied it, the operator's kill switch cancelled it. */
  cancelled?: boolean;
}

export interface SlackMessage {
  /** Notification fallback; holds nothing untrusted but the (well-formed) approval id. */
  text: string;
  blocks: unknown[];
}

/** Escapes the three characters Slack mrkdwn gives meaning to: `&`, `<` and `>`. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * The message asking for a decision, with Approve and Deny buttons. The buttons carry the
 * approval id and nothing else. Throws when the approval id is not well-formed (the
 * callback would refuse its clicks).
 */
export function approvalMessage(view: ApprovalView): SlackMessage {
  const approvalId = String(view.approval_id);
  if (!APPROVAL_ID_PATTERN.test(approvalId)) {
    throw new Error('approvalMessage: the approval id is not well-formed');
  }
  const blocks: unknown[] = [
    header('CRM write awaiting approval'),
    ...detailBlocks(view),
    context(
      'Approving runs exactly the action above (bound to its hash), once. Check the note body and the target before you approve.',
    ),
    {
      type: 'actions',
      block_id: 'airlock_decision',
      elements: [
        {
          type: 'button',
          action_id: APPROVE_ACTION_ID,
          text: plain('Approve'),
          style: 'primary',
          value: approvalId,
          confirm: {
            title: plain('Approve this CRM write?'),
            text: plain('The action shown in this message will be written to HubSpot.'),
            confirm: plain('Approve'),
            deny: plain('Cancel'),
          },
        },
        {
          type: 'button',
          action_id: DENY_ACTION_ID,
          text: plain('Deny'),
          style: 'danger',
          value: approvalId,
        },
      ],
    },
  ];
  return {
    text: `CRM write awaiting approval: ${actionNameForText(view.action)} (${approvalId})`,
    blocks,
  };
}

/** The same message once decided: the buttons give way to the result. */
export function outcomeMessage(view: ApprovalView, outcome: ApprovalOutcome): SlackMessage {
  const status: string = String(outcome.status);
  const decidedBy =
    outcome.decidedBy ??
    (status === 'completed' && Array.isArray(view.approvals)
      ? view.approvals.map((a) => asText(a?.by))
      : []);
  const people = peopleList(decidedBy);
  const result: unknown[] = [];
  let title: string;
  switch (status) {
    case 'completed': {
      title = 'CRM write completed';
      const note =
        outcome.noteId === undefined
          ? 'The note was created.'
          : `Note ${inlineCode(outcome.noteId, ID_MAX)} created.`;
      result.push(section(`:white_check_mark: *Completed.* ${note}\n*Approved by:* ${people}`));
      break;
    }
    case 'denied':
      if (outcome.cancelled === true) {
        title = 'CRM write cancelled';
        result.push(
          section(
            ':octagonal_sign: *Cancelled by the kill switch:* an operator stopped the gateway while this write waited. Nothing was written; the write can be asked for again once the gateway is released.',
          ),
        );
        break;
      }
      title = 'CRM write denied';
      result.push(section(`:no_entry_sign: *Denied* by ${people}. Nothing was written.`));
      break;
    case 'expired':
      title = 'CRM write expired';
      result.push(
        section(
          `:hourglass: *Expired* at ${expiryText(view.expires_at)} without the approvals it needed. Nothing was written.`,
        ),
      );
      break;
    case 'failed':
      title = 'CRM write failed';
      result.push(
        section(
          `:warning: *Failed.* The write did not complete.${decidedBy.length > 0 ? `\n*Approved by:* ${people}` : ''}`,
        ),
      );
      if (outcome.detail !== undefined && outcome.detail !== '') {
        result.push(...codeBlockSections('*Failure detail*', asText(outcome.detail), 1));
      }
      break;
    default:
      title = 'CRM write finished';
      result.push(section(`*Finished* with status ${inlineCode(status, ID_MAX)}.`));
  }
  const approvalId = String(view.approval_id);
  const idForText = APPROVAL_ID_PATTERN.test(approvalId) ? approvalId : 'unknown approval';
  return {
    text: `${title}: ${actionNameForText(view.action)} (${idForText})`,
    blocks: [header(title), ...detailBlocks(view), { type: 'divider' }, ...result],
  };
}

/** What is asked, by whom, and the state of the approval: shared by both messages. */
function detailBlocks(view: ApprovalView): unknown[] {
  const action: Record<string, unknown> =
    view.action !== null && typeof view.action === 'object' ? view.action : {};
  const blocks: unknown[] = [];

  const targets = TARGET_KEYS.filter(([, key]) => present(action[key])).map(
    ([type, key]) => `${type} ${inlineCode(asText(action[key]), ID_MAX)}`,
  );
  const targetName =
    view.target_name === null || view.target_name === undefined
      ? '_(not found)_'
      : inlineCode(asText(view.target_name), TARGET_NAME_MAX);
  blocks.push(
    section(
      [
        `*Action:* ${inlineCode(asText(action.action), ID_MAX)}`,
        `*Target:* ${targets.length > 0 ? targets.join(', ') : '_(none)_'}`,
        `*Target's current name:* ${targetName}`,
      ].join('\n'),
    ),
  );

  if (present(action.body)) {
    const body = asText(action.body);
    blocks.push(
      ...codeBlockSections(
        `*Note body* (${countChars(body)} characters, exactly as written)`,
        body,
        BODY_MAX_SECTIONS,
      ),
    );
  }

  // Anything else in the action is shown too: the approver sees all of what is written.
  const others = Object.keys(action).filter((k) => !SHOWN_KEYS.has(k) && present(action[k]));
  if (others.length > 0) {
    blocks.push(
      linesSection(
        ':warning: *Other parameters:*',
        others
          .slice(0, OTHER_PARAMS_MAX)
          .map((k) => `• ${inlineCode(k, ID_MAX)}: ${inlineCode(asText(action[k]), INLINE_MAX)}`),
        others.length,
        (n) => `_… and ${n} more parameter${n === 1 ? '' : 's'} not shown_`,
      ),
    );
  }

  blocks.push(
    section(
      [
        `*Asked by user:* ${inlineCode(asText(view.user_id), INLINE_MAX)}`,
        `*Agent credential:* ${inlineCode(asText(view.requested_by), INLINE_MAX)}`,
      ].join('\n'),
    ),
  );
  const prompt = asText(view.agent_prompt);
  blocks.push(...codeBlockSections(`*Agent prompt* (${countChars(prompt)} characters)`, prompt, 1));

  const approvals = Array.isArray(view.approvals) ? view.approvals : [];
  const required = Number.isSafeInteger(view.required_approvals)
    ? String(view.required_approvals)
    : '?';
  const fixed = [
    `*Action hash:* ${inlineCode(asText(view.action_hash), HASH_MAX)}`,
    `*Expires:* ${expiryText(view.expires_at)}`,
    `*Approval id:* ${inlineCode(asText(view.approval_id), ID_MAX + 4)}`,
    `*Approvals:* ${approvals.length} of ${required} given`,
  ];
  blocks.push(
    linesSection(
      fixed.join('\n'),
      approvals
        .slice(0, PEOPLE_MAX)
        .map(
          (a) => `• ${inlineCode(asText(a?.by), ID_MAX)} at ${inlineCode(asText(a?.at), ID_MAX)}`,
        ),
      approvals.length,
      (n) => `_… and ${n} more approval${n === 1 ? '' : 's'} not shown_`,
    ),
  );
  return blocks;
}

const TARGET_KEYS: readonly (readonly [string, string])[] = [
  ['contact', 'contact_id'],
  ['company', 'company_id'],
];
const SHOWN_KEYS = new Set(['action', 'contact_id', 'company_id', 'body']);

function present(value: unknown): boolean {
  return value !== undefined && value !== null;
}

/** Any value as text; objects as JSON. Never throws. */
function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return '';
  if (typeof value === 'object') {
    try {
      return JSON.stringify(value) ?? '';
    } catch {
      return '[unprintable]';
    }
  }
  return String(value);
}

function countChars(text: string): number {
  return Array.from(text).length;
}

/** The action's name for the notification text: a catalog-shaped name, or nothing of it. */
function actionNameForText(action: unknown): string {
  const name = (action as { action?: unknown } | null)?.action;
  return typeof name === 'string' && /^[a-z_]{1,64}$/.test(name) ? name : 'unknown action';
}

/** An ISO 8601 date and time with a zone; `Date.parse` alone accepts far too much ("01000"). */
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

function expiryText(expiresAt: unknown): string {
  const raw = asText(expiresAt);
  const ms = ISO_TIMESTAMP.test(raw) ? Date.parse(raw) : Number.NaN;
  const shown = inlineCode(raw, ID_MAX);
  if (!Number.isFinite(ms) || ms < 0) return shown;
  // A Slack date token, built only from a number and our own ISO string: it shows the time
  // in the reader's time zone.
  const iso = new Date(ms).toISOString();
  return `${shown} (<!date^${Math.floor(ms / 1000)}^{date_short_pretty} at {time_secs}|${iso}>)`;
}

function peopleList(ids: string[]): string {
  if (ids.length === 0) return '_(unknown)_';
  const shown = ids.slice(0, PEOPLE_MAX).map((id) => inlineCode(asText(id), ID_MAX));
  if (ids.length > PEOPLE_MAX) shown.push(`… and ${ids.length - PEOPLE_MAX} more`);
  return shown.join(', ');
}

function truncationNotice(more: number): string {
  return `_… (truncated, ${more} more character${more === 1 ? '' : 's'})_`;
}

interface Display {
  /** One display string per code point of the input. */
  units: string[];
  hidden: number;
  backticks: number;
}

/**
 * Turns untrusted text into mrkdwn-safe display units, one per code point: `& < >` escaped,
 * backticks replaced (they would end the code style), control, invisible and lone surrogate
 * characters shown as `[U+XXXX]`. In a block, new lines and tabs are kept (CRLF becomes LF).
 */
function display(text: string, block: boolean): Display {
  const source = block ? text.replace(/\r\n/g, '\n') : text;
  const out: Display = { units: [], hidden: 0, backticks: 0 };
  for (const ch of displayUnits(source)) {
    if (ch === '&') out.units.push('&amp;');
    else if (ch === '<') out.units.push('&lt;');
    else if (ch === '>') out.units.push('&gt;');
    else if (ch === '`') {
      out.units.push(BACKTICK_STAND_IN);
      out.backticks += 1;
    } else if (block && (ch === '\n' || ch === '\t')) out.units.push(ch);
    else if (isUnsafeChar(ch)) {
      out.units.push(`[${codePointName(ch)}]`);
      out.hidden += 1;
    } else out.units.push(ch);
  }
  return out;
}

/** How many units, from `start`, fit in `budget` characters of output. */
function fitCount(units: string[], start: number, budget: number): number {
  let used = 0;
  let n = 0;
  while (start + n < units.length) {
    const len = (units[start + n] as string).length;
    if (used + len > budget) break;
    used += len;
    n += 1;
  }
  return n;
}

/** Untrusted text in inline code, at most `max` display characters, or a visible "(empty)". */
function inlineCode(text: string, max: number): string {
  const { units, hidden } = display(text, false);
  if (units.length === 0) return '_(empty)_';
  const n = fitCount(units, 0, max);
  const rest = units.length - n;
  return [
    `\`${units.slice(0, n).join('')}\``,
    hidden > 0 ? ` _(${hidden} hidden character${hidden === 1 ? '' : 's'} shown as [U+…])_` : '',
    rest > 0 ? ` ${truncationNotice(rest)}` : '',
  ].join('');
}

/**
 * Untrusted text as code blocks under a label, split over up to `maxSections` sections of at
 * most SECTION_TEXT_MAX characters each; what does not fit is cut with a visible notice.
 */
function codeBlockSections(label: string, text: string, maxSections: number): unknown[] {
  const { units, hidden, backticks } = display(text, true);
  const notes: string[] = [];
  if (hidden > 0) {
    notes.push(
      `:warning: Contains ${hidden} hidden or control character${hidden === 1 ? '' : 's'}, shown as [U+XXXX].`,
    );
  }
  if (backticks > 0) notes.push(`Backticks are shown as ${BACKTICK_STAND_IN}.`);
  const head = [label, ...notes].join('\n');
  if (units.length === 0) return [section(`${head}\n_(empty)_`)];

  // Room for the label, a "(part i of n)" suffix, the fences and a truncation notice.
  const reserve =
    head.length + ' (continued, part 99 of 99)'.length + 8 + truncationNotice(units.length).length;
  const budget = SECTION_TEXT_MAX - reserve;
  const chunks: string[] = [];
  let start = 0;
  while (start < units.length && chunks.length < maxSections) {
    let n = fitCount(units, start, budget);
    if (start + n < units.length) {
      // Prefer to break after a new line near the end of the chunk.
      for (let k = n; k > Math.floor(n * 0.75); k -= 1) {
        if (units[start + k - 1] === '\n') {
          n = k;
          break;
        }
      }
    }
    chunks.push(units.slice(start, start + n).join(''));
    start += n;
  }
  const rest = units.length - start;
  return chunks.map((chunk, i) => {
    const part =
      chunks.length > 1 ? ` (${i > 0 ? 'continued, ' : ''}part ${i + 1} of ${chunks.length})` : '';
    const title = [`${label}${part}`, ...(i === 0 ? notes : [])].join('\n');
    const notice = i === chunks.length - 1 && rest > 0 ? `\n${truncationNotice(rest)}` : '';
    return section(`${title}\n\`\`\`${chunk}\`\`\`${notice}`);
  });
}

/**
 * A heading and as many of `lines` as fit in one section; `total` counts all the items, and
 * `more(n)` says how many were left out.
 */
function linesSection(
  heading: string,
  lines: string[],
  total: number,
  more: (n: number) => string,
): unknown {
  const reserve = more(total).length + 1;
  let text = heading;
  let shown = 0;
  for (const line of lines) {
    const isLastItem = shown === total - 1;
    if (text.length + 1 + line.length + (isLastItem ? 0 : reserve) > SECTION_TEXT_MAX) break;
    text += `\n${line}`;
    shown += 1;
  }
  if (shown < total) text += `\n${more(total - shown)}`;
  return section(text);
}

function section(text: string): unknown {
  return { type: 'section', text: { type: 'mrkdwn', text } };
}

function header(text: string): unknown {
  return { type: 'header', text: plain(text) };
}

function context(text: string): unknown {
  return { type: 'context', elements: [{ type: 'mrkdwn', text }] };
}

function plain(text: string): { type: 'plain_text'; text: string; emoji: boolean } {
  return { type: 'plain_text', text, emoji: true };
}
