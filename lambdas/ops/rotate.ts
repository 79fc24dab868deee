/**
 * Token rotation: check the new value against its issuer before anything changes, store it, let
 * every function pick it up, and confirm with one live call. The same steps serve local mode
 * (the running gateway swaps its in-memory token) and AWS (Secrets Manager, then the functions).
 *
 * No secret is ever printed or returned: every detail and message is built from fixed text,
 * scopes, ids and status codes, and is scrubbed of the old and new values once more before it
 * leaves this module.
 */
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { LogLevel, WebClient } from '@slack/web-api';
import * as z from 'zod';
import { PROBE_SEARCH } from '../adapters/aws/hubspot-call-protocol';
import { HUBSPOT_API, HubSpotAdapter } from '../adapters/hubspot/hubspot-adapter';
import { tokenScopes } from '../core/catalog';
import { asAirlockError } from '../core/errors';
import type { HubSpotCall } from '../core/ports';
import { invokeOps, OpsCommandError } from './aws-stack';
import { isTokenShaped } from './secret-input';

/** The HubSpot tokens, which local mode holds too. */
export type HubSpotWhich = 'read' | 'write';
/** Every secret `rotateAws` can rotate. */
export type RotateWhich = HubSpotWhich | 'slack-bot' | 'slack-signing';

export type RotationStepName = 'check' | 'store' | 'pickup' | 'confirm' | 'revoke_old';

export interface RotationStep {
  step: RotationStepName;
  ok: boolean;
  detail: string;
}

/** What a rotation did, step by step; `message` sums it up for the operator. */
export interface RotationResult {
  ok: boolean;
  which: string;
  steps: RotationStep[];
  message: string;
}

/** A check's verdict; a reason is a plain sentence that never contains the value checked. */
export type CheckResult =
  | { ok: true; scopes: string[]; detail: string }
  | { ok: false; reason: string };

/** The scopes the catalog's reads need (`tokenScopes()`): the read token must hold all of them. */
export const READ_TOKEN_NEEDS: readonly string[] = tokenScopes().read;
/**
 * The scopes the catalog's writes need (`tokenScopes()`): the write token must hold them, the
 * read scope its retried write's lookup takes included (a write token may hold read scopes; a
 * read token may hold no write scope).
 */
export const WRITE_TOKEN_NEEDS: readonly string[] = tokenScopes().write;

/**
 * HubSpot's legacy scopes that grant writing under a name without `write` (`contacts` is the
 * whole CRM, read and write).
 */
const LEGACY_WRITE_SCOPES = new Set([
  'contacts',
  'tickets',
  'e-commerce',
  'crm.import',
  'automation',
  'content',
  'files',
  'forms',
  'timeline',
  'transactional-email',
  'integration-sync',
]);

/** Whether holding `scope` lets a token change something in the account. */
export function isWriteScope(scope: string): boolean {
  return LEGACY_WRITE_SCOPES.has(scope) || /(^|[.-])(write|delete)($|[.-])/.test(scope);
}

const tokenInfo = z.object({
  scopes: z.array(z.string()),
  hubId: z.number().optional(),
  appId: z.number().optional(),
});

/** Scope names as HubSpot spells them; anything else is dropped from our messages. */
const cleanScope = (s: string) => s.replace(/[^\w.-]/g, '').slice(0, 80);

/**
 * Checks a HubSpot token before it is stored: HubSpot's private-app token introspection says
 * whether it is valid and which scopes it holds. The read token must hold every read scope the
 * catalog needs and no write scope (least privilege: a leaked read token cannot change the CRM);
 * the write token must hold the catalog's write scopes (`tokenScopes().write`: the create and
 * its retry's lookup; read scopes are allowed there). A read token then makes one live contacts
 * search (matching nothing) through the gateway's own HubSpot client.
 */
export async function checkHubSpotToken(options: {
  token: string;
  which: HubSpotWhich;
  baseUrl: string;
  deadlineMs?: number;
}): Promise<CheckResult> {
  const { token, which } = options;
  const baseUrl = options.baseUrl.replace(/\/+$/, '') || HUBSPOT_API;
  const deadline = Date.now() + (options.deadlineMs ?? 10_000);
  if (!isTokenShaped(token)) {
    return {
      ok: false,
      reason:
        'That is not a token: expected one line of 8 to 1024 printable characters without spaces.',
    };
  }

  let info: z.infer<typeof tokenInfo>;
  try {
    const res = await fetch(`${baseUrl}/oauth/v2/private-apps/get/access-token-info`, {
      method: 'POST',
      // HubSpot takes the token in the body; EU-hosted accounts want it as the bearer too.
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ tokenKey: token }),
      signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())),
    });
    const text = await res.text();
    if (res.status === 401 || res.status === 400 || res.status === 403 || res.status === 404) {
      return {
        ok: false,
        reason: `HubSpot does not accept this ${which} token (HTTP ${res.status}): it is mistyped, revoked, or not a private-app token. Nothing was changed.`,
      };
    }
    if (res.status === 429) {
      return {
        ok: false,
        reason: 'HubSpot is rate limiting this account; retry the rotation in a minute.',
      };
    }
    if (res.status !== 200) {
      return {
        ok: false,
        reason: `HubSpot could not check the token (HTTP ${res.status}); retry later.`,
      };
    }
    const parsed = tokenInfo.safeParse(JSON.parse(text));
    if (!parsed.success) {
      return { ok: false, reason: 'HubSpot answered the token check in an unexpected shape.' };
    }
    info = parsed.data;
  } catch {
    return {
      ok: false,
      reason: 'HubSpot could not be reached to check the token; retry when it answers.',
    };
  }

  const scopes = info.scopes.map(cleanScope);
  const needs = which === 'read' ? READ_TOKEN_NEEDS : WRITE_TOKEN_NEEDS;
  const missing = needs.filter((s) => !scopes.includes(s));
  if (missing.length > 0) {
    return {
      ok: false,
      reason: `The ${which} token lacks the scope${missing.length > 1 ? 's' : ''} ${missing.join(', ')}: grant ${missing.length > 1 ? 'them' : 'it'} to the private app and copy its token again. Nothing was changed.`,
    };
  }
  if (which === 'read') {
    const writing = scopes.filter(isWriteScope);
    if (writing.length > 0) {
      return {
        ok: false,
        reason: `The read token can also write (${writing.join(', ')}). The read token must hold read scopes only, so that a leaked read token cannot change the CRM: use a private app with read scopes only. Nothing was changed.`,
      };
    }
  }
  const account = info.hubId === undefined ? '' : ` in account ${info.hubId}`;
  const app = info.appId === undefined ? '' : ` (private app ${info.appId})`;
  let detail = `HubSpot knows the ${which} token${account}${app}; it holds ${scopes.join(', ')}.`;

  if (which === 'read') {
    const live = await liveRead(token, baseUrl, deadline);
    if (!live.ok) return live;
    detail += ` ${live.detail}`;
  }
  return { ok: true, scopes, detail };
}

/** One contacts search matching nothing, through the gateway's HubSpot client and retry policy. */
async function liveRead(
  token: string,
  baseUrl: string,
  deadline: number,
): Promise<{ ok: true; detail: string } | { ok: false; reason: string }> {
  const calls: HubSpotCall[] = [];
  const adapter = new HubSpotAdapter({
    tokens: { get: async () => token },
    basePath: baseUrl,
    maxRetries: 1,
  });
  try {
    await adapter.search('contacts', PROBE_SEARCH, { deadline, calls });
    return {
      ok: true,
      detail: `A contacts search with it succeeded (HTTP ${calls.at(-1)?.status ?? 200}).`,
    };
  } catch (err) {
    const e = asAirlockError(err);
    return {
      ok: false,
      reason: `HubSpot knows the read token but refused a contacts search with it: ${e.code === 'internal_error' ? 'the call failed unexpectedly.' : e.message} Nothing was changed.`,
    };
  }
}

const SLACK_API = 'https://slack.com/api/';

/**
 * Checks a Slack bot token with `auth.test` (Slack's own "is this token valid"), and that it is
 * a bot token (`xoxb-`, with a bot id), not a user token.
 */
export async function checkSlackBotToken(options: {
  token: string;
  apiUrl?: string;
}): Promise<CheckResult> {
  const { token } = options;
  if (!isTokenShaped(token) || !token.startsWith('xoxb-')) {
    return {
      ok: false,
      reason:
        'That is not a Slack bot token: bot tokens are one line starting with xoxb- (Slack app → OAuth & Permissions → Bot User OAuth Token).',
    };
  }
  const apiUrl = (options.apiUrl ?? SLACK_API).replace(/\/*$/, '/');
  const web = new WebClient(token, {
    slackApiUrl: apiUrl,
    retryConfig: { retries: 0 },
    logLevel: LogLevel.ERROR,
    timeout: 5000,
  });
  try {
    const out = await web.auth.test();
    if (!out.ok || !out.bot_id) {
      return {
        ok: false,
        reason: 'Slack accepted the token but it is not a bot token; use the Bot User OAuth Token.',
      };
    }
    const team = out.team_id ? ` in workspace ${safeId(out.team_id)}` : '';
    return {
      ok: true,
      scopes: [],
      detail: `Slack accepts the bot token (bot ${safeId(out.bot_id)}${team}).`,
    };
  } catch (err) {
    const e = err as { code?: string; data?: { error?: unknown }; statusCode?: number };
    if (e.code === 'slack_webapi_platform_error') {
      const code = typeof e.data?.error === 'string' ? safeId(e.data.error) : 'unknown';
      return {
        ok: false,
        reason: `Slack refused the bot token (${code}): it is mistyped, revoked, or from another app. Nothing was changed.`,
      };
    }
    if (e.code === 'slack_webapi_http_error') {
      return {
        ok: false,
        reason: `Slack could not check the token (HTTP ${Number(e.statusCode) || 'error'}); retry later.`,
      };
    }
    return { ok: false, reason: 'Slack could not be reached to check the token; retry later.' };
  }
}

/** Slack ids and error codes: letters, digits, `_` and `-` only, so nothing else is echoed. */
function safeId(value: string): string {
  return value.replace(/[^\w-]/g, '').slice(0, 64);
}

/**
 * Checks the shape of a Slack signing secret: 32 hexadecimal characters, as Slack issues them
 * (Slack's docs call it "a unique string"; every issued secret, and secret scanners' rules, have
 * this shape). Slack offers no call that proves a signing secret, so the live confirmation is a
 * request signed with it (see `rotateAws`).
 */
export function checkSlackSigningSecret(value: string): CheckResult {
  if (!/^[0-9a-f]{32}$/i.test(value)) {
    return {
      ok: false,
      reason:
        'That is not a Slack signing secret: expected 32 hexadecimal characters (Slack app → Basic Information → App Credentials → Signing Secret).',
    };
  }
  return { ok: true, scopes: [], detail: 'The signing secret has the shape Slack issues.' };
}

/** Replaces every occurrence of a secret in `text`: the last guard before text leaves. */
function scrub(text: string, secrets: readonly (string | null | undefined)[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('[redacted]');
  return out;
}

function finish(
  which: string,
  steps: RotationStep[],
  ok: boolean,
  message: string,
  secrets: readonly (string | null | undefined)[],
): RotationResult {
  return {
    ok,
    which,
    steps: steps.map((s) => ({ ...s, detail: scrub(s.detail, secrets) })),
    message: scrub(message, secrets),
  };
}

const LABEL: Record<RotateWhich, string> = {
  read: 'read token',
  write: 'write token',
  'slack-bot': 'Slack bot token',
  'slack-signing': 'Slack signing secret',
};

export interface RotateLocalDeps {
  which: HubSpotWhich;
  /** The new token. */
  token: string;
  /** HubSpot (or the emulator) to check the token against. */
  baseUrl: string;
  /** Makes the running gateway use `token` from its next HubSpot call. */
  swap(which: HubSpotWhich, token: string): void;
  /** The token the gateway uses now, or null when it has none. */
  current(which: HubSpotWhich): string | null;
  /** One live call through the running gateway's own adapter. */
  confirm(which: HubSpotWhich): Promise<{ ok: boolean; detail: string }>;
  /** Revokes the previous token at its issuer (the embedded emulator stands in for HubSpot). */
  revokeOld?(oldToken: string): void;
}

/**
 * Rotates a HubSpot token of the running local gateway: check (nothing changes when it fails),
 * swap, confirm with one live call through the gateway, then revoke the old token when the
 * caller can (the embedded emulator); otherwise the message says to expire it in HubSpot.
 */
export async function rotateLocal(deps: RotateLocalDeps): Promise<RotationResult> {
  const { which, token } = deps;
  const label = LABEL[which];
  const old = deps.current(which);
  const secrets = [token, old];
  const steps: RotationStep[] = [];
  const failed = (message: string) => finish(which, steps, false, message, secrets);

  if (old !== null && old === token) {
    steps.push({ step: 'check', ok: false, detail: `That is the ${label} in use already.` });
    return failed(`Nothing to rotate: the new ${label} is the one in use. Nothing was changed.`);
  }
  const check = await checkHubSpotToken({ token, which, baseUrl: deps.baseUrl });
  if (!check.ok) {
    steps.push({ step: 'check', ok: false, detail: check.reason });
    return failed(`The new ${label} was refused: ${check.reason}`);
  }
  steps.push({ step: 'check', ok: true, detail: check.detail });

  try {
    deps.swap(which, token);
  } catch {
    steps.push({ step: 'store', ok: false, detail: 'The gateway could not take the new token.' });
    return failed(`The gateway could not take the new ${label}; it keeps the old one.`);
  }
  steps.push({ step: 'store', ok: true, detail: `The running gateway holds the new ${label}.` });
  steps.push({
    step: 'pickup',
    ok: true,
    detail: 'Local mode reads the token on every HubSpot call: the next call uses the new one.',
  });

  let confirmed: { ok: boolean; detail: string };
  try {
    confirmed = await deps.confirm(which);
  } catch (err) {
    confirmed = { ok: false, detail: `The live call failed: ${asAirlockError(err).message}` };
  }
  steps.push({ step: 'confirm', ok: confirmed.ok, detail: confirmed.detail });
  if (!confirmed.ok) {
    return failed(
      `The new ${label} is in place, but the gateway's live call with it failed. The old token was not revoked: find the cause, then rotate again.`,
    );
  }

  if (deps.revokeOld && old !== null) {
    try {
      deps.revokeOld(old);
      steps.push({
        step: 'revoke_old',
        ok: true,
        detail: `The previous ${label} is revoked: HubSpot (the emulator) refuses it from now on.`,
      });
    } catch {
      steps.push({ step: 'revoke_old', ok: false, detail: 'Revoking the previous token failed.' });
      return failed(
        `The new ${label} is in use and confirmed, but the previous one could not be revoked: expire it in HubSpot.`,
      );
    }
    return finish(
      which,
      steps,
      true,
      `Rotated the ${label}. Checked, in use, confirmed by a live call; the previous one is revoked.`,
      secrets,
    );
  }
  return finish(
    which,
    steps,
    true,
    `Rotated the ${label}. Checked, in use, confirmed by a live call. Now expire the previous token in HubSpot (the private app's Auth tab → Rotate → expire now) so a leaked copy stops working.`,
    secrets,
  );
}

export interface RotateAwsOptions {
  which: RotateWhich;
  /** The new value. */
  token: string;
  /** The secret's name or ARN (`secretIdFor` in set-token.ts, or the stack's output). */
  secretId: string;
  secrets: SecretsManagerClient;
  lambda: LambdaClient;
  hubspotBaseUrl: string;
  /** The ops function: its `probe_read_token` confirms a read token (and audits the probe). */
  opsFunctionName: string;
  /** The operator's IAM identity (ARN), named in the probe's audit record. */
  by: string;
  /** A presigned GetCallerIdentity request proving `by` to the ops function. */
  identity?: () => Promise<string>;
  slackInteractionsFunctionName: string;
  /** @default https://slack.com/api/ */
  slackApiUrl?: string;
  now?: () => number;
}

const PICKUP: Record<RotateWhich, string> = {
  read: 'The HubSpot-call function refetches the token after a HubSpot 401, so it uses the new one at once when the old one is revoked, and otherwise within its 60-second cache.',
  write:
    'The write function refetches the token after a HubSpot 401, so it uses the new one at once when the old one is revoked, and otherwise within its 60-second cache.',
  'slack-bot':
    'The approval functions read the bot token through a 60-second cache: they use the new one within a minute.',
  'slack-signing':
    'The Slack-interactions function refetches the signing secret when a signature does not match, so it checks with the new secret at once.',
};

/**
 * Rotates one of the stack's secrets: check the new value with its issuer, store it as
 * `{"token": "..."}` with PutSecretValue, and confirm with one live call: the read token by the
 * HubSpot-call function's probe, which the ops function runs and audits; the write token and the Slack bot token by reading the secret
 * back (SHA-256 compared) and checking the stored value again (only the state machine may invoke
 * the write function); the signing secret by a request signed with it to the Slack-interactions
 * function (400: signature accepted, nothing to decide; 401: the function does not see it yet).
 */
export async function rotateAws(options: RotateAwsOptions): Promise<RotationResult> {
  const { which, token, secretId } = options;
  const now = options.now ?? Date.now;
  const label = LABEL[which];
  const secrets = [token];
  const steps: RotationStep[] = [];
  const failed = (message: string) => finish(which, steps, false, message, secrets);

  const check = await checkValue(which, token, options);
  if (!check.ok) {
    steps.push({ step: 'check', ok: false, detail: check.reason });
    return failed(`The new ${label} was refused: ${check.reason}`);
  }
  steps.push({ step: 'check', ok: true, detail: check.detail });

  let versionId: string | undefined;
  try {
    const out = await options.secrets.send(
      new PutSecretValueCommand({ SecretId: secretId, SecretString: JSON.stringify({ token }) }),
    );
    versionId = out.VersionId;
  } catch (err) {
    const name = err instanceof Error ? safeId(err.name) : 'Error';
    const detail = `Secrets Manager refused to store the new ${label} in ${secretId} (${name}).`;
    steps.push({ step: 'store', ok: false, detail });
    return failed(`${detail} Nothing was changed: the functions keep the old value.`);
  }
  steps.push({
    step: 'store',
    ok: true,
    detail: `Stored in ${secretId} (version ${safeId(versionId ?? 'unknown')}).`,
  });
  steps.push({ step: 'pickup', ok: true, detail: PICKUP[which] });

  let confirmed: { ok: boolean; detail: string };
  try {
    confirmed = await confirmAws(options, now, versionId);
  } catch (err) {
    const name = err instanceof Error ? safeId(err.name) : 'Error';
    confirmed = { ok: false, detail: `The confirming call failed (${name}).` };
  }
  steps.push({ step: 'confirm', ok: confirmed.ok, detail: confirmed.detail });
  if (!confirmed.ok) {
    return failed(
      `The new ${label} is stored, but the live confirmation failed. Retry the rotation, or wait a minute and check again; do not revoke the old value until it passes.`,
    );
  }
  const after =
    which === 'slack-bot' || which === 'slack-signing'
      ? 'Now revoke the previous value in the Slack app settings.'
      : "Now expire the previous token in HubSpot (the private app's Auth tab → Rotate → expire now) so a leaked copy stops working.";
  return finish(
    which,
    steps,
    true,
    `Rotated the ${label}. Checked, stored, confirmed by a live call. ${after}`,
    secrets,
  );
}

function checkValue(
  which: RotateWhich,
  token: string,
  options: Pick<RotateAwsOptions, 'hubspotBaseUrl' | 'slackApiUrl'>,
): Promise<CheckResult> {
  switch (which) {
    case 'read':
    case 'write':
      return checkHubSpotToken({ token, which, baseUrl: options.hubspotBaseUrl });
    case 'slack-bot':
      return checkSlackBotToken({ token, apiUrl: options.slackApiUrl });
    case 'slack-signing':
      return Promise.resolve(checkSlackSigningSecret(token));
  }
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** The token in a secret's value: JSON `{"token": "..."}` or the bare token (set-token.ts). */
function storedToken(value: string | undefined): string | null {
  const text = value?.trim();
  if (!text) return null;
  if (!text.startsWith('{')) return text;
  try {
    const token = (JSON.parse(text) as { token?: unknown }).token;
    return typeof token === 'string' ? token.trim() : null;
  } catch {
    return null;
  }
}

async function confirmAws(
  options: RotateAwsOptions,
  now: () => number,
  versionId: string | undefined,
): Promise<{ ok: boolean; detail: string }> {
  switch (options.which) {
    case 'read':
      return confirmRead(options);
    case 'slack-signing':
      return confirmSigning(options, now);
    case 'write': {
      // The write secret's own policy lets only the write function read it (not even the
      // operator), so the stored version is confirmed current instead, and the value the
      // operator holds makes the live call.
      const out = await options.secrets.send(
        new DescribeSecretCommand({ SecretId: options.secretId }),
      );
      const stages = versionId ? (out.VersionIdsToStages?.[versionId] ?? []) : [];
      if (!stages.includes('AWSCURRENT')) {
        return {
          ok: false,
          detail:
            'The stored version is not the current one (AWSCURRENT): another change may have run at the same time.',
        };
      }
      const again = await checkValue('write', options.token, options);
      return again.ok
        ? {
            ok: true,
            detail: `The stored version is AWSCURRENT, which the write function reads. ${again.detail}`,
          }
        : { ok: false, detail: `The new value no longer passes the check: ${again.reason}` };
    }
    case 'slack-bot': {
      const out = await options.secrets.send(
        new GetSecretValueCommand({ SecretId: options.secretId }),
      );
      const stored = storedToken(out.SecretString);
      if (stored === null || sha256(stored) !== sha256(options.token)) {
        return {
          ok: false,
          detail:
            'Secrets Manager does not return the new value (SHA-256 differs): another change may have run at the same time.',
        };
      }
      const again = await checkValue(options.which, stored, options);
      return again.ok
        ? {
            ok: true,
            detail: `Secrets Manager returns the new value (SHA-256 matches). ${again.detail}`,
          }
        : { ok: false, detail: `The stored value no longer passes the check: ${again.reason}` };
    }
  }
}

/**
 * The HubSpot-call function's probe, run by the ops function (`probe_read_token`; the operator
 * may not invoke the HubSpot-call function): it refetches the token and makes one empty search.
 */
async function confirmRead(options: RotateAwsOptions): Promise<{ ok: boolean; detail: string }> {
  let answer: Awaited<ReturnType<typeof invokeOps>>;
  try {
    answer = await invokeOps(options.lambda, options.opsFunctionName, {
      command: 'probe_read_token',
      by: options.by,
      ...(options.identity ? { identity: await options.identity() } : {}),
    });
  } catch (err) {
    if (err instanceof OpsCommandError && err.code === 'validation_failed') {
      return {
        ok: false,
        detail:
          'The ops function does not know the read-token probe: deploy the current stack, then rotate again.',
      };
    }
    const code = err instanceof OpsCommandError ? safeId(err.code) : 'the call failed';
    return { ok: false, detail: `The ops function could not run the probe (${code}).` };
  }
  if (!('probe' in answer)) {
    return { ok: false, detail: 'The ops function answered the probe in an unexpected shape.' };
  }
  const probe = answer.probe;
  const status = probe.status === null ? 'no answer' : `HTTP ${probe.status}`;
  if (probe.ok) {
    return {
      ok: true,
      detail: `The HubSpot-call function fetched the new token and HubSpot accepted it (${status}); no CRM data was returned.`,
    };
  }
  if (probe.error?.code === 'validation_failed') {
    return {
      ok: false,
      detail:
        'The HubSpot-call function does not know the probe: deploy the current stack, then rotate again.',
    };
  }
  return {
    ok: false,
    detail: `The HubSpot-call function's live call failed (${status}): ${probe.error?.message ?? 'no reason given'}`,
  };
}

function parsePayload(payload: Uint8Array | undefined): unknown {
  try {
    return JSON.parse(Buffer.from(payload ?? new Uint8Array()).toString('utf8'));
  } catch {
    return null;
  }
}

/**
 * A request to the Slack-interactions function signed with the new secret (Slack's v0 scheme,
 * current timestamp) whose body is no approval action: the function answers 400 once the
 * signature passes, and 401 while it still checks with the old secret.
 */
export function signedProbeEvent(secret: string, nowMs: number): Record<string, unknown> {
  const body = `payload=${encodeURIComponent(JSON.stringify({ type: 'airlock_rotation_check' }))}`;
  const timestamp = String(Math.floor(nowMs / 1000));
  const signature = `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`, 'utf8').digest('hex')}`;
  const headers = {
    'Content-Type': 'application/x-www-form-urlencoded',
    'X-Slack-Request-Timestamp': timestamp,
    'X-Slack-Signature': signature,
    'User-Agent': 'crm-airlock-rotate',
  };
  return {
    resource: '/slack/interactions',
    path: '/slack/interactions',
    httpMethod: 'POST',
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    requestContext: {
      requestId: randomUUID(),
      stage: 'rotation-check',
      httpMethod: 'POST',
      path: '/slack/interactions',
      resourcePath: '/slack/interactions',
      requestTimeEpoch: nowMs,
      identity: { sourceIp: '127.0.0.1', userAgent: 'crm-airlock-rotate' },
    },
    body,
    isBase64Encoded: false,
  };
}

async function confirmSigning(
  options: RotateAwsOptions,
  now: () => number,
): Promise<{ ok: boolean; detail: string }> {
  const out = await options.lambda.send(
    new InvokeCommand({
      FunctionName: options.slackInteractionsFunctionName,
      Payload: Buffer.from(JSON.stringify(signedProbeEvent(options.token, now()))),
    }),
  );
  if (out.FunctionError) {
    return {
      ok: false,
      detail: `The Slack-interactions function failed (${safeId(out.FunctionError)}).`,
    };
  }
  const answer = parsePayload(out.Payload) as { statusCode?: unknown } | null;
  const status = typeof answer?.statusCode === 'number' ? answer.statusCode : null;
  if (status === 400) {
    return {
      ok: true,
      detail:
        'The Slack-interactions function accepted a request signed with the new secret (400: signature valid, nothing to decide; its audit log records the check as a rejected request).',
    };
  }
  if (status === 401) {
    return {
      ok: false,
      detail:
        'The Slack-interactions function refused a request signed with the new secret (401): it does not see the new secret yet.',
    };
  }
  return {
    ok: false,
    detail: `The Slack-interactions function answered ${status ?? 'no status'} to a request signed with the new secret.`,
  };
}

/** The result as the CLI prints it: one line per step, then the summary. */
export function rotationText(result: RotationResult): string {
  const lines = [
    `Rotation of ${LABEL[result.which as RotateWhich] ?? result.which}: ${result.ok ? 'done' : 'FAILED'}`,
  ];
  for (const s of result.steps) lines.push(`  [${s.ok ? 'ok' : 'failed'}] ${s.step}: ${s.detail}`);
  lines.push(result.message);
  return lines.join('\n');
}
