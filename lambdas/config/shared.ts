/**
 * The settings both sides share: each constant, default and bound is stated here once, and the
 * zod fragments that read them from an environment are composed by the local settings
 * (`local.ts`) and by each AWS function's environment (`aws.ts`); the CDK app (`lib/`) reads
 * the same constants to write those environments and to check its context. Pure: zod and the
 * core only. See docs/ARCHITECTURE.md, section "Configuration".
 */
import * as z from 'zod';
import { DEFAULT_AUDIT_PREFIX } from '../core/audit-key';
import { actionNames } from '../core/catalog';
import { DEFAULT_DIGEST_PREFIX } from '../core/evidence/digest-format';

/** The key prefix audit records are written under (the core's default, `core/audit-key.ts`). */
export const AUDIT_PREFIX = DEFAULT_AUDIT_PREFIX;

/** The key prefix of the hourly digests, in the same bucket (`core/evidence/digest-format.ts`). */
export const DIGEST_PREFIX = DEFAULT_DIGEST_PREFIX;

/** HubSpot's API, unless a base URL is configured (tests point it at the emulator). */
export const HUBSPOT_API = 'https://api.hubapi.com';

/** How long one request may spend on HubSpot, retries included (milliseconds). */
export const REQUEST_DEADLINE_MS = {
  default: 8000,
  min: 100,
  /** Locally; on AWS the validation function's timeout caps it lower (`aws.ts`). */
  max: 60_000,
} as const;

/** How long a write waits for a human decision before it expires (seconds). */
export const APPROVAL_TTL_SECONDS = { default: 3600, max: 7 * 24 * 3600 } as const;

/**
 * The most approvals one write action may need (the two-person rule is 2): more approvers than a
 * small team has.
 */
export const MAX_REQUIRED_APPROVALS = 5;

/** The deployment stage when none is given: the `Stage` dimension of the metrics, too. */
export const DEFAULT_STAGE = 'dev';

/** What the prompt policy does with a prompt that looks like an injection. */
export const PROMPT_POLICIES = ['block', 'flag'] as const;
export const DEFAULT_PROMPT_POLICY = 'block' satisfies (typeof PROMPT_POLICIES)[number];

/**
 * The read limits, one entry each: the environment variable both sides read it from, its
 * default, and its bounds. The minimums hold everywhere. The maximums are HubSpot's own limits
 * (about 5 searches per second, 100 or 190 calls per 10 s per app) and sizes no small team
 * reaches: the deployment's context is checked against them (`lib/config.ts`), where the target
 * is the real HubSpot; the environments read here (the local server, whose tests switch the
 * limits off with huge values, and the validation function, whose environment the checked
 * context wrote) apply the minimums only.
 */
export const READ_LIMITS = {
  /** Reads (read actions) one user may make per minute. */
  readsPerMinute: { env: 'AIRLOCK_READS_PER_MINUTE', default: 30, min: 1, max: 10_000 },
  /** Reads one user may make per hour. */
  readsPerHour: { env: 'AIRLOCK_READS_PER_HOUR', default: 300, min: 1, max: 100_000 },
  /** Distinct CRM records one user may receive per hour (the bulk-export guard). */
  distinctRecordsPerHour: {
    env: 'AIRLOCK_DISTINCT_RECORDS_PER_HOUR',
    default: 200,
    min: 1,
    max: 100_000,
  },
  /**
   * HubSpot search calls per second, the whole gateway together. At least 2: the last-email
   * read makes two searches, which a budget of 1 would refuse for ever.
   */
  hubspotSearchPerSecond: {
    env: 'AIRLOCK_HUBSPOT_SEARCH_PER_SECOND',
    default: 4,
    min: 2,
    max: 5,
  },
  /** HubSpot calls per 10 seconds, the whole gateway together. */
  hubspotCallsPerTenSeconds: {
    env: 'AIRLOCK_HUBSPOT_CALLS_PER_TEN_SECONDS',
    default: 90,
    min: 1,
    max: 190,
  },
} as const;

export type ReadLimitName = keyof typeof READ_LIMITS;
export type ReadLimits = { readonly [K in ReadLimitName]: number };

/** The read limits' defaults, by name. */
export const READ_LIMIT_DEFAULTS: ReadLimits = {
  readsPerMinute: READ_LIMITS.readsPerMinute.default,
  readsPerHour: READ_LIMITS.readsPerHour.default,
  distinctRecordsPerHour: READ_LIMITS.distinctRecordsPerHour.default,
  hubspotSearchPerSecond: READ_LIMITS.hubspotSearchPerSecond.default,
  hubspotCallsPerTenSeconds: READ_LIMITS.hubspotCallsPerTenSeconds.default,
};

/** A whole number from an environment variable (a string), at least `min`, at most `max`. */
export const envInt = (bounds: { min: number; max?: number; default: number }) => {
  const n = z.coerce.number().int().min(bounds.min);
  return (bounds.max === undefined ? n : n.max(bounds.max)).default(bounds.default);
};

/** A read limit as an environment variable: its minimum and default (see {@link READ_LIMITS}). */
const limitEnv = (name: ReadLimitName) =>
  envInt({ min: READ_LIMITS[name].min, default: READ_LIMITS[name].default });

/** The read limits as environment variables, under the names {@link READ_LIMITS} gives. */
export const readLimitsEnv = {
  AIRLOCK_READS_PER_MINUTE: limitEnv('readsPerMinute'),
  AIRLOCK_READS_PER_HOUR: limitEnv('readsPerHour'),
  AIRLOCK_DISTINCT_RECORDS_PER_HOUR: limitEnv('distinctRecordsPerHour'),
  AIRLOCK_HUBSPOT_SEARCH_PER_SECOND: limitEnv('hubspotSearchPerSecond'),
  AIRLOCK_HUBSPOT_CALLS_PER_TEN_SECONDS: limitEnv('hubspotCallsPerTenSeconds'),
} satisfies { [K in ReadLimitName as (typeof READ_LIMITS)[K]['env']]: z.ZodType };

/** The read limits the core takes, from the environment variables {@link readLimitsEnv} read. */
export function readLimitsOf(
  env: {
    [K in keyof typeof readLimitsEnv]: number;
  },
): ReadLimits {
  return {
    readsPerMinute: env.AIRLOCK_READS_PER_MINUTE,
    readsPerHour: env.AIRLOCK_READS_PER_HOUR,
    distinctRecordsPerHour: env.AIRLOCK_DISTINCT_RECORDS_PER_HOUR,
    hubspotSearchPerSecond: env.AIRLOCK_HUBSPOT_SEARCH_PER_SECOND,
    hubspotCallsPerTenSeconds: env.AIRLOCK_HUBSPOT_CALLS_PER_TEN_SECONDS,
  };
}

/** The prompt policy as an environment variable. */
export const promptPolicyEnv = z.enum(PROMPT_POLICIES).default(DEFAULT_PROMPT_POLICY);

/** The request deadline as an environment variable, at most `max` milliseconds. */
export const requestDeadlineEnv = (max: number = REQUEST_DEADLINE_MS.max) =>
  envInt({ ...REQUEST_DEADLINE_MS, max });

/**
 * A comma list of action names, every one in the catalog (blanks and spaces around names are
 * dropped). An unknown name is refused with the known ones listed.
 */
export const actionListEnv = z.string().transform((s, ctx) => {
  const known: readonly string[] = actionNames();
  const list = s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  const unknown = list.filter((a) => !known.includes(a));
  if (unknown.length > 0) {
    ctx.addIssue({
      code: 'custom',
      message: `unknown actions ${unknown.join(', ')}; known: ${known.join(', ')}`,
    });
  }
  return list;
});

/** A non-empty string (a table name, an ARN, a function name). */
export const required = z.string().min(1);
