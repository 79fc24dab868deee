/**
 * The deployment configuration, read once from CDK context (`cdk.json`, or `-c key=value` on the
 * command line) and validated with zod before any construct is built. A bad value stops
 * `cdk synth` with a message naming the key, instead of producing a surprising template.
 *
 * Values given with `-c` arrive as strings, so numbers are coerced; `null` (as written in
 * `cdk.json` for keys whose default depends on the stage) means "use the default".
 */
import type { Node } from 'constructs';
import { z } from 'zod';
import { AWS_APPROVAL_TTL_MIN_SECONDS } from '../lambdas/config/aws';
import {
  APPROVAL_TTL_SECONDS,
  DEFAULT_STAGE,
  MAX_REQUIRED_APPROVALS,
  READ_LIMIT_DEFAULTS,
  READ_LIMITS,
  type ReadLimitName,
} from '../lambdas/config/shared';
import { type AlarmThresholds, DEFAULT_THRESHOLDS } from '../lambdas/core/alarms';
import { actionNames } from '../lambdas/core/catalog';

/** The actions that write to HubSpot, hence need approvals (from the one catalog). */
export const WRITE_ACTIONS: readonly string[] = actionNames('write');

/**
 * Object Lock modes. COMPLIANCE: nobody, not even the account root, can shorten or remove the
 * retention. GOVERNANCE: principals with `s3:BypassGovernanceRetention` can (none in this stack).
 */
export const AUDIT_LOCK_MODES = ['COMPLIANCE', 'GOVERNANCE'] as const;
export type AuditLockMode = (typeof AUDIT_LOCK_MODES)[number];

/** Retention periods CloudWatch Logs accepts (days). */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288,
  3653,
] as const;

/** Settings of the write-approval flow (Step Functions + Slack, `lib/approval-flow.ts`). */
export interface ApprovalConfig {
  /**
   * How long a write waits for a human decision before it expires; the approval state machine's
   * task-token timeout and the `expires_at` returned with 202.
   * @default 3600
   */
  readonly approvalTtlSeconds: number;
  /**
   * The Slack channel the approval requests are posted to (its id, e.g. `C0123456789`, not its
   * name). Empty until Slack is set up: approval requests then fail to post and end `failed`.
   * @default ''
   */
  readonly slackChannelId: string;
  /**
   * The Slack workspace (team id, `T…`) whose button clicks are accepted; clicks signed for
   * another workspace are refused. Empty: no click is accepted.
   * @default ''
   */
  readonly slackTeamId: string;
  /**
   * Slack user ids (`U…`/`W…`) allowed to approve or deny writes. Nobody else's click counts;
   * empty means no write can be approved (each one expires). Given with `-c` as a comma list or
   * a JSON array.
   * @default []
   */
  readonly approverSlackIds: readonly string[];
  /**
   * Approvals each write action needs before it runs (the two-person rule is `2`): write action
   * name → count, 1 to 5. A write action absent from the map needs 1. Given with `-c` as a JSON
   * object.
   * @default one for each write action ({ create_note: 1 })
   */
  readonly requiredApprovals: Readonly<Record<string, number>>;
  /**
   * Which approvers are the same person as a user id the agent sends (`user_id` → Slack user
   * ids): that approver cannot decide a write asked in their own name. Without an entry the
   * `user_id` is not compared with the approver, since the agent chooses it.
   * @default {}
   */
  readonly userApprovers: Readonly<Record<string, readonly string[]>>;
}

/**
 * The per-user and per-account limits the validation function enforces (docs/ARCHITECTURE.md, "Data flow"),
 * counted in the rate-limit table shared by all its instances. A request over a limit gets 429
 * with `Retry-After` and an audit record; HubSpot's own limits are kept below theirs so the
 * gateway, not HubSpot, decides what is refused.
 */
export interface LimitsConfig {
  /**
   * Reads (read actions) one user may make per minute.
   * @default 30
   */
  readonly readsPerMinute: number;
  /**
   * Reads one user may make per hour.
   * @default 300
   */
  readonly readsPerHour: number;
  /**
   * Distinct CRM records one user may receive per hour (the bulk-export guard).
   * @default 200
   */
  readonly distinctRecordsPerHour: number;
  /**
   * HubSpot search calls per second, the whole gateway together (HubSpot allows about 5).
   * @default 4
   */
  readonly hubspotSearchPerSecond: number;
  /**
   * HubSpot calls per 10 seconds, the whole gateway together (HubSpot allows 100 on Free and
   * Starter, 190 on Pro and Enterprise; keep room for other integrations of the account).
   * @default 90
   */
  readonly hubspotCallsPerTenSeconds: number;
}

/** The validated configuration of one deployment (one stage = one stack). */
export interface AirlockConfig {
  /**
   * Deployment stage: part of the stack name, the API stage name and the secret names. `prod`
   * switches on the production defaults (COMPLIANCE lock, 365-day retention, termination
   * protection). Lowercase letters, digits and dashes, starting with a letter.
   * @default 'dev'
   */
  readonly stage: string;
  /**
   * Days every audit record is locked (Object Lock default retention of the audit bucket).
   * @default 365 when stage is `prod`, 30 otherwise
   */
  readonly auditRetentionDays: number;
  /**
   * Object Lock mode of the audit bucket's default retention.
   * @default 'COMPLIANCE' when stage is `prod`, 'GOVERNANCE' otherwise
   */
  readonly auditLockMode: AuditLockMode;
  /**
   * Address subscribed to the alarm topic (5xx, read-rate spikes, pending approvals, function
   * errors). AWS sends it a confirmation e-mail first: nothing is delivered until the link in it
   * is followed. Unset: no subscription (subscribe to the `AlarmTopicArn` output yourself).
   * @default undefined
   */
  readonly alarmEmail?: string;
  /**
   * Thresholds of the alarms that depend on the business (`alarmRules` in
   * `lambdas/core/alarms.ts`). Given with `-c` as a JSON object; missing keys keep their default.
   * @default { contactReadsPerMinute: 100, deniedOrExpiredPerHour: 5, pendingMinutes: 30 }
   */
  readonly alarmThresholds: AlarmThresholds;
  /**
   * Rate limits enforced by the validation function. Given with `-c` as a JSON object; missing
   * keys keep their default.
   * @default { readsPerMinute: 30, readsPerHour: 300, distinctRecordsPerHour: 200,
   *   hubspotSearchPerSecond: 4, hubspotCallsPerTenSeconds: 90 }
   */
  readonly limits: LimitsConfig;
  /**
   * Steady-state requests per second allowed on the API stage, all callers together
   * (API Gateway stage throttling; excess requests get 429 before any Lambda runs).
   * @default 20
   */
  readonly apiRateLimit: number;
  /**
   * Burst capacity (requests) of the API stage's token bucket.
   * @default 40
   */
  readonly apiBurstLimit: number;
  /**
   * Retention of the CloudWatch log groups (Lambda logs, API access and execution logs), in days;
   * one of the values CloudWatch Logs accepts.
   * @default 30
   */
  readonly logRetentionDays: number;
  /**
   * Settings of the write-approval flow (Step Functions + Slack).
   * @default { approvalTtlSeconds: 3600, slackChannelId: '', slackTeamId: '',
   *   approverSlackIds: [], requiredApprovals: { create_note: 1 } }
   */
  readonly approval: ApprovalConfig;
  /**
   * Kill switch: every `/v1` call answers 401 `gateway_contained` (`cdk deploy -c contained=true`).
   * Set in the template, so a later deploy without it releases the gateway on purpose only.
   * @default false
   */
  readonly contained: boolean;
  /**
   * Read-only mode: writes answer 403 `read_only_mode`, reads go on (`-c readOnly=true`).
   * @default false
   */
  readonly readOnly: boolean;
}

/** The context keys this app reads; anything else in context belongs to CDK itself. */
export const CONTEXT_KEYS = [
  'stage',
  'auditRetentionDays',
  'auditLockMode',
  'alarmEmail',
  'alarmThresholds',
  'limits',
  'apiRateLimit',
  'apiBurstLimit',
  'logRetentionDays',
  'approval',
  'contained',
  'readOnly',
] as const;

/** `null` and `''` mean "not set", so `cdk.json` can list a key without fixing its value. */
const unset = (value: unknown) => (value === null || value === '' ? undefined : value);

/** An object given with `-c key='{"a":1}'` arrives as a JSON string. */
const jsonObject = (value: unknown) => {
  if (typeof value !== 'string') return unset(value);
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
};

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** A Slack id of the given kind, or empty (not configured yet). */
const slackId = (pattern: RegExp, what: string) =>
  z.preprocess(
    (v) => (v === null || v === undefined ? '' : v),
    z.string().refine((s) => s === '' || pattern.test(s), { message: `use a Slack ${what}` }),
  );

/** A list given as an array, a JSON array string, or a comma list (`-c` values are strings). */
const stringList = (value: unknown) => {
  if (value === null || value === undefined || value === '') return [];
  if (typeof value !== 'string') return value;
  const trimmed = value.trim();
  if (trimmed.startsWith('[')) return jsonObject(trimmed);
  return trimmed
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
};

const APPROVAL_DEFAULTS = {
  approvalTtlSeconds: APPROVAL_TTL_SECONDS.default,
  slackChannelId: '',
  slackTeamId: '',
  approverSlackIds: [] as string[],
  // One approval for each write action of the catalog.
  requiredApprovals: Object.fromEntries(WRITE_ACTIONS.map((a) => [a, 1])) as Record<string, number>,
  userApprovers: {} as Record<string, string[]>,
};

const approvalSchema = z
  .strictObject({
    approvalTtlSeconds: z.preprocess(
      unset,
      int(AWS_APPROVAL_TTL_MIN_SECONDS, APPROVAL_TTL_SECONDS.max).default(
        APPROVAL_TTL_SECONDS.default,
      ),
    ),
    slackChannelId: slackId(/^[CG][A-Z0-9]{8,}$/, 'channel id (C… or G…), not a channel name'),
    slackTeamId: slackId(/^T[A-Z0-9]{8,}$/, 'team id (T…)'),
    approverSlackIds: z.preprocess(
      stringList,
      z.array(z.string().regex(/^[UW][A-Z0-9]{8,}$/, 'use Slack user ids (U… or W…)')),
    ),
    requiredApprovals: z.preprocess(
      (v) => jsonObject(v) ?? APPROVAL_DEFAULTS.requiredApprovals,
      // A misspelt action would silently fall back to one approval: only write actions count.
      z.record(
        z.string().refine((k) => WRITE_ACTIONS.includes(k), {
          message: `use write actions only (${WRITE_ACTIONS.join(', ')})`,
        }),
        // As many as the validation function accepts (more approvers than a small team has).
        int(1, MAX_REQUIRED_APPROVALS),
      ),
    ),
    userApprovers: z.preprocess(
      (v) => jsonObject(v) ?? APPROVAL_DEFAULTS.userApprovers,
      z.record(
        z.string().min(1).max(128),
        z.array(z.string().regex(/^[UW][A-Z0-9]{8,}$/, 'use Slack user ids (U… or W…)')),
      ),
    ),
  })
  .superRefine((a, ctx) => {
    // With approvers listed, a count above their number could never be reached.
    const approvers = new Set(a.approverSlackIds).size;
    if (approvers === 0) return;
    for (const [action, count] of Object.entries(a.requiredApprovals)) {
      if (count > approvers) {
        ctx.addIssue({
          code: 'custom',
          path: ['requiredApprovals', action],
          message: `${count} approvals needed but only ${approvers} approver(s) listed`,
        });
      }
    }
  });

export const LIMIT_DEFAULTS: LimitsConfig = READ_LIMIT_DEFAULTS;

/** A whole number with a default, `null` meaning the default. */
const intDefault = (min: number, max: number, fallback: number) =>
  z.preprocess(unset, int(min, max).default(fallback));

const thresholdsSchema = z.strictObject({
  // Contact records read per minute, all users: the exfiltration alarm.
  contactReadsPerMinute: intDefault(1, 100_000, DEFAULT_THRESHOLDS.contactReadsPerMinute),
  // 0 is allowed: alarm on the first denied or expired write of the hour.
  deniedOrExpiredPerHour: intDefault(0, 10_000, DEFAULT_THRESHOLDS.deniedOrExpiredPerHour),
  // The watch reports every 5 minutes; a threshold below that would only alarm late anyway.
  pendingMinutes: intDefault(5, 10_080, DEFAULT_THRESHOLDS.pendingMinutes),
});

/** A read limit with its bounds and default, all from `READ_LIMITS` (HubSpot's own limits). */
const limit = (name: ReadLimitName) => {
  const { min, max } = READ_LIMITS[name];
  return intDefault(min, max, LIMIT_DEFAULTS[name]);
};

const limitsSchema = z
  .strictObject({
    readsPerMinute: limit('readsPerMinute'),
    readsPerHour: limit('readsPerHour'),
    distinctRecordsPerHour: limit('distinctRecordsPerHour'),
    hubspotSearchPerSecond: limit('hubspotSearchPerSecond'),
    hubspotCallsPerTenSeconds: limit('hubspotCallsPerTenSeconds'),
  })
  .superRefine((l, ctx) => {
    // An hourly limit below the per-minute one would make the per-minute one meaningless:
    // most likely the two were swapped.
    if (l.readsPerHour < l.readsPerMinute) {
      ctx.addIssue({
        code: 'custom',
        path: ['readsPerHour'],
        message: `must be at least readsPerMinute (${l.readsPerMinute})`,
      });
    }
  });

/** A flag given with `-c key=true` arrives as a string. */
const flag = z.preprocess(
  (v) => (v === 'true' ? true : v === 'false' ? false : unset(v)),
  z.boolean().default(false),
);

const contextSchema = z.object({
  stage: z.preprocess(
    unset,
    z
      .string()
      .regex(
        /^[a-z][a-z0-9-]{0,15}$/,
        'use 1-16 lowercase letters, digits or dashes, starting with a letter',
      )
      .default(DEFAULT_STAGE),
  ),
  auditRetentionDays: z.preprocess(unset, int(1, 36_500).optional()),
  auditLockMode: z.preprocess(unset, z.enum(AUDIT_LOCK_MODES).optional()),
  alarmEmail: z.preprocess(unset, z.email().optional()),
  alarmThresholds: z.preprocess(jsonObject, thresholdsSchema.default(DEFAULT_THRESHOLDS)),
  limits: z.preprocess(jsonObject, limitsSchema.default(LIMIT_DEFAULTS)),
  apiRateLimit: z.preprocess(unset, int(1, 10_000).default(20)),
  apiBurstLimit: z.preprocess(unset, int(1, 5_000).default(40)),
  logRetentionDays: z.preprocess(
    unset,
    z.coerce
      .number()
      .refine((d) => (LOG_RETENTION_DAYS as readonly number[]).includes(d), {
        message: `use one of ${LOG_RETENTION_DAYS.join(', ')}`,
      })
      .default(30),
  ),
  approval: z.preprocess(jsonObject, approvalSchema.default(APPROVAL_DEFAULTS)),
  contained: flag,
  readOnly: flag,
});

/** Thrown when the context holds an invalid value; the message lists every bad key. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Validates raw context values and fills the stage-dependent defaults. */
export function parseConfig(raw: Record<string, unknown>): AirlockConfig {
  const parsed = contextSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (i) => `  ${i.path.join('.') || '(context)'}: ${i.message}`,
    );
    throw new ConfigError(`Invalid CDK context for CRM Airlock:\n${problems.join('\n')}`);
  }
  const c = parsed.data;
  const prod = c.stage === 'prod';
  return {
    stage: c.stage,
    auditRetentionDays: c.auditRetentionDays ?? (prod ? 365 : 30),
    auditLockMode: c.auditLockMode ?? (prod ? 'COMPLIANCE' : 'GOVERNANCE'),
    ...(c.alarmEmail === undefined ? {} : { alarmEmail: c.alarmEmail }),
    alarmThresholds: { ...c.alarmThresholds },
    limits: { ...c.limits },
    apiRateLimit: c.apiRateLimit,
    apiBurstLimit: c.apiBurstLimit,
    logRetentionDays: c.logRetentionDays,
    approval: {
      approvalTtlSeconds: c.approval.approvalTtlSeconds,
      slackChannelId: c.approval.slackChannelId,
      slackTeamId: c.approval.slackTeamId,
      approverSlackIds: [...new Set(c.approval.approverSlackIds)],
      requiredApprovals: c.approval.requiredApprovals,
      userApprovers: c.approval.userApprovers,
    },
    contained: c.contained,
    readOnly: c.readOnly,
  };
}

/** Reads this app's keys from a construct's context (the App's node in `bin/app.ts`). */
export function configFromContext(node: Node): AirlockConfig {
  const raw: Record<string, unknown> = {};
  for (const key of CONTEXT_KEYS) raw[key] = node.tryGetContext(key);
  return parseConfig(raw);
}
