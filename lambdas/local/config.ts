import path from 'node:path';
import * as z from 'zod';
import { CATALOG } from '../core/catalog';
import { userApproversSetting } from '../core/identity';

const ACTION_NAMES = CATALOG.map((a) => a.name) as string[];

const key = (name: string) =>
  z
    .string()
    .min(24, `${name} must be at least 24 characters`)
    .regex(/^[\x21-\x7e]+$/, `${name} must be printable ASCII without spaces`)
    .optional();

/** The local server's settings, from the environment, checked once at start-up. */
const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8787),
  AIRLOCK_DATA_DIR: z.string().min(1).default('.airlock'),
  AIRLOCK_API_KEY: key('AIRLOCK_API_KEY'),
  AIRLOCK_APPROVER_KEY: key('AIRLOCK_APPROVER_KEY'),
  AIRLOCK_OPERATOR_KEY: key('AIRLOCK_OPERATOR_KEY'),
  HUBSPOT_TOKEN: z.string().min(1).optional(),
  HUBSPOT_WRITE_TOKEN: z.string().min(1).optional(),
  HUBSPOT_BASE_URL: z.url().optional(),
  AIRLOCK_PROMPT_POLICY: z.enum(['block', 'flag']).default('block'),
  AIRLOCK_ALLOWED_ACTIONS: z
    .string()
    .optional()
    .transform((s, ctx) => {
      if (s === undefined || s.trim() === '') return null;
      const list = s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
      const unknown = list.filter((a) => !ACTION_NAMES.includes(a));
      if (unknown.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown actions ${unknown.join(', ')}; known: ${ACTION_NAMES.join(', ')}`,
        });
      }
      return list;
    }),
  AIRLOCK_APPROVAL_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 3600)
    .default(3600),
  AIRLOCK_REQUEST_DEADLINE_MS: z.coerce.number().int().min(100).max(60_000).default(8000),
  AIRLOCK_READS_PER_MINUTE: z.coerce.number().int().min(1).default(30),
  AIRLOCK_READS_PER_HOUR: z.coerce.number().int().min(1).default(300),
  AIRLOCK_DISTINCT_RECORDS_PER_HOUR: z.coerce.number().int().min(1).default(200),
  // At least 2: get_last_email_interaction makes two searches.
  AIRLOCK_HUBSPOT_SEARCH_PER_SECOND: z.coerce.number().int().min(2).default(4),
  AIRLOCK_HUBSPOT_CALLS_PER_TEN_SECONDS: z.coerce.number().int().min(1).default(90),
  AIRLOCK_CONTACT_READS_PER_MINUTE: z.coerce.number().int().min(1).default(100),
  AIRLOCK_DENIED_OR_EXPIRED_PER_HOUR: z.coerce.number().int().min(0).default(5),
  AIRLOCK_PENDING_MINUTES: z.coerce.number().int().min(1).default(30),
  AIRLOCK_USER_APPROVERS: userApproversSetting,
});

export type LocalConfig = ReturnType<typeof loadConfig>;

export type HubSpotMode =
  | { kind: 'emulator' }
  | {
      kind: 'remote';
      baseUrl: string;
      readToken: string;
      /** Null when no write token is configured: writes are then not served at all. */
      writeToken: string | null;
    };

export function loadConfig(env: NodeJS.ProcessEnv = process.env) {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  let hubspot: HubSpotMode = { kind: 'emulator' };
  if (c.HUBSPOT_TOKEN) {
    hubspot = {
      kind: 'remote',
      baseUrl: c.HUBSPOT_BASE_URL ?? 'https://api.hubapi.com',
      readToken: c.HUBSPOT_TOKEN,
      writeToken: c.HUBSPOT_WRITE_TOKEN ?? null,
    };
    if (c.HUBSPOT_WRITE_TOKEN === c.HUBSPOT_TOKEN) {
      throw new Error(
        'Invalid configuration:\n  HUBSPOT_WRITE_TOKEN: must not be the read token; reads must never hold the write scope',
      );
    }
  } else if (c.HUBSPOT_BASE_URL || c.HUBSPOT_WRITE_TOKEN) {
    throw new Error(
      'Invalid configuration:\n  HUBSPOT_TOKEN: set it too (HUBSPOT_BASE_URL and HUBSPOT_WRITE_TOKEN need a read token)',
    );
  }
  return {
    port: c.PORT,
    dataDir: path.resolve(c.AIRLOCK_DATA_DIR),
    apiKey: c.AIRLOCK_API_KEY,
    approverKey: c.AIRLOCK_APPROVER_KEY,
    operatorKey: c.AIRLOCK_OPERATOR_KEY,
    hubspot,
    promptMode: c.AIRLOCK_PROMPT_POLICY,
    // Without a write token the gateway serves reads only, rather than reading with a
    // token that can write (DESIGN §5.6: the write token is a separate secret).
    allowedActions:
      hubspot.kind === 'remote' && hubspot.writeToken === null
        ? (c.AIRLOCK_ALLOWED_ACTIONS ?? ACTION_NAMES).filter((a) => a !== 'create_note')
        : c.AIRLOCK_ALLOWED_ACTIONS,
    approvalTtlMs: c.AIRLOCK_APPROVAL_TTL_SECONDS * 1000,
    userApprovers: c.AIRLOCK_USER_APPROVERS,
    requestDeadlineMs: c.AIRLOCK_REQUEST_DEADLINE_MS,
    limits: {
      readsPerMinute: c.AIRLOCK_READS_PER_MINUTE,
      readsPerHour: c.AIRLOCK_READS_PER_HOUR,
      distinctRecordsPerHour: c.AIRLOCK_DISTINCT_RECORDS_PER_HOUR,
      hubspotSearchPerSecond: c.AIRLOCK_HUBSPOT_SEARCH_PER_SECOND,
      hubspotCallsPerTenSeconds: c.AIRLOCK_HUBSPOT_CALLS_PER_TEN_SECONDS,
    },
    alarmThresholds: {
      contactReadsPerMinute: c.AIRLOCK_CONTACT_READS_PER_MINUTE,
      deniedOrExpiredPerHour: c.AIRLOCK_DENIED_OR_EXPIRED_PER_HOUR,
      pendingMinutes: c.AIRLOCK_PENDING_MINUTES,
    },
  };
}
