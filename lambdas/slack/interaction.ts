/**
 * Slack's interactivity POST (a button click), parsed strictly. The body must already have
 * passed `verifySlackSignature`; this module still trusts nothing it cannot check.
 */

import { parseBoundedJson } from '../core/bounded';

export const APPROVE_ACTION_ID = 'airlock_approve';
export const DENY_ACTION_ID = 'airlock_deny';
/** The only thing a button carries: an approval id as `randomIds.approvalId()` makes them. */
export const APPROVAL_ID_PATTERN = /^apr_[A-Za-z0-9]{1,64}$/;

/** Larger bodies are refused unread; real interaction payloads are far smaller. */
export const MAX_INTERACTION_BODY = 1024 * 1024;
/** Slack team, user and channel ids: letters and digits (T…, U…, W…, C…, G…, D…). */
const SLACK_ID = /^[A-Za-z0-9]{1,64}$/;
/** Message timestamps look like "1700000000.123456". */
const MESSAGE_TS = /^[0-9]{1,20}\.[0-9]{1,10}$/;
const RESPONSE_URL_HOSTS = new Set(['hooks.slack.com', 'hooks.slack-gov.com']);
const MAX_USER_NAME = 256;
/** Only the first actions of a payload are looked at (a click carries one). */
const MAX_ACTIONS = 25;

export type Decision = 'approve' | 'deny';

export interface Interaction {
  teamId: string;
  userId: string;
  userName?: string;
  decision: Decision;
  approvalId: string;
  channelId?: string;
  messageTs?: string;
  /** Only a `https://hooks.slack.com/…` (or Slack GovCloud) URL; anything else is dropped. */
  responseUrl?: string;
}

/**
 * Parses a `block_actions` interaction: `application/x-www-form-urlencoded` with one
 * `payload` field holding JSON. Takes the first action whose `action_id` is
 * `airlock_approve` or `airlock_deny` and whose `value` is a well-formed approval id.
 * Returns null for anything else: another payload type, malformed JSON, a missing team
 * or user, no such action, a value that is not an approval id.
 */
export function parseInteraction(rawBody: string): Interaction | null {
  if (typeof rawBody !== 'string' || rawBody.length === 0) return null;
  if (rawBody.length > MAX_INTERACTION_BODY) return null;

  const payloads = new URLSearchParams(rawBody).getAll('payload');
  // Two payload fields would leave it to us to pick one: refuse instead.
  if (payloads.length !== 1) return null;
  const payload = parseJsonObject(payloads[0] as string);
  if (payload?.type !== 'block_actions') return null;

  const teamId = idOf(payload.team);
  const user = asObject(payload.user);
  const userId = user ? slackId(user.id) : undefined;
  if (!teamId || !user || !userId) return null;

  const chosen = firstDecision(payload.actions);
  if (!chosen) return null;

  const out: Interaction = {
    teamId,
    userId,
    decision: chosen.decision,
    approvalId: chosen.approvalId,
  };
  const userName = userNameOf(user);
  if (userName !== undefined) out.userName = userName;

  const container = asObject(payload.container);
  const channelId = idOf(payload.channel) ?? slackId(container?.channel_id);
  if (channelId !== undefined) out.channelId = channelId;
  const messageTs =
    messageTsOf(asObject(payload.message)?.ts) ?? messageTsOf(container?.message_ts);
  if (messageTs !== undefined) out.messageTs = messageTs;
  const responseUrl = responseUrlOf(payload.response_url);
  if (responseUrl !== undefined) out.responseUrl = responseUrl;
  return out;
}

export interface ApproverPolicy {
  /** The one Slack workspace whose members may decide. */
  teamId: string;
  /** Slack user ids allowed to approve or deny. */
  approverIds: readonly string[];
}

export type ApproverCheck = { ok: true } | { ok: false; reason: 'wrong_team' | 'not_an_approver' };

/** Exact, case-sensitive matches only; an empty team or user id never matches. */
export function checkApprover(
  i: { teamId: string; userId: string },
  policy: ApproverPolicy,
): ApproverCheck {
  if (typeof policy.teamId !== 'string' || policy.teamId.length === 0) {
    return { ok: false, reason: 'wrong_team' };
  }
  if (i.teamId !== policy.teamId) return { ok: false, reason: 'wrong_team' };
  if (typeof i.userId !== 'string' || i.userId.length === 0) {
    return { ok: false, reason: 'not_an_approver' };
  }
  if (!policy.approverIds.includes(i.userId)) return { ok: false, reason: 'not_an_approver' };
  return { ok: true };
}

type JsonObject = Record<string, unknown>;

function firstDecision(actions: unknown): { decision: Decision; approvalId: string } | null {
  if (!Array.isArray(actions)) return null;
  for (const raw of actions.slice(0, MAX_ACTIONS)) {
    const action = asObject(raw);
    if (!action) continue;
    const decision =
      action.action_id === APPROVE_ACTION_ID
        ? 'approve'
        : action.action_id === DENY_ACTION_ID
          ? 'deny'
          : null;
    if (!decision) continue;
    const value = action.value;
    if (typeof value !== 'string' || !APPROVAL_ID_PATTERN.test(value)) continue;
    return { decision, approvalId: value };
  }
  return null;
}

function parseJsonObject(text: string): JsonObject | undefined {
  try {
    // A forged payload is attacker text: parsed within the input bounds, like every request.
    return asObject(parseBoundedJson(text, 'not JSON'));
  } catch {
    return undefined;
  }
}

function asObject(value: unknown): JsonObject | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as JsonObject)
    : undefined;
}

function slackId(value: unknown): string | undefined {
  return typeof value === 'string' && SLACK_ID.test(value) ? value : undefined;
}

function idOf(value: unknown): string | undefined {
  return slackId(asObject(value)?.id);
}

function userNameOf(user: JsonObject): string | undefined {
  for (const candidate of [user.username, user.name]) {
    if (typeof candidate === 'string' && candidate.length > 0) {
      return Array.from(candidate).slice(0, MAX_USER_NAME).join('');
    }
  }
  return undefined;
}

function messageTsOf(value: unknown): string | undefined {
  return typeof value === 'string' && MESSAGE_TS.test(value) ? value : undefined;
}

function responseUrlOf(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 2048) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' || !RESPONSE_URL_HOSTS.has(url.hostname)) return undefined;
  if (url.username !== '' || url.password !== '' || url.port !== '') return undefined;
  return url.href;
}
