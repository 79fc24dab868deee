/**
 * The local server's settings (`npm start`), read from the environment: the schema, composed of
 * the fragments both sides share (`shared.ts`). `lambdas/local/config.ts` parses it once at
 * start-up and derives what the server needs. Pure: zod and the core only. See
 * docs/ARCHITECTURE.md, section "Configuration".
 */
import * as z from 'zod';
import { DEFAULT_THRESHOLDS } from '../core/alarms';
import { userApproversSetting } from '../core/identity';
import {
  APPROVAL_TTL_SECONDS,
  actionListEnv,
  envInt,
  promptPolicyEnv,
  readLimitsEnv,
  requestDeadlineEnv,
} from './shared';

/** The port the gateway listens on, on 127.0.0.1, unless `PORT` says otherwise. */
export const DEFAULT_PORT = 8787;

/** Where keys, approvals and the audit log are kept, unless `AIRLOCK_DATA_DIR` says otherwise. */
export const DEFAULT_DATA_DIR = '.airlock';

/** A key given in the environment: long, printable, no spaces (else one is generated). */
const key = (name: string) =>
  z
    .string()
    .min(24, `${name} must be at least 24 characters`)
    .regex(/^[\x21-\x7e]+$/, `${name} must be printable ASCII without spaces`)
    .optional();

/** The local server's settings, from the environment. */
export const localEnv = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(DEFAULT_PORT),
  AIRLOCK_DATA_DIR: z.string().min(1).default(DEFAULT_DATA_DIR),
  AIRLOCK_API_KEY: key('AIRLOCK_API_KEY'),
  AIRLOCK_APPROVER_KEY: key('AIRLOCK_APPROVER_KEY'),
  AIRLOCK_OPERATOR_KEY: key('AIRLOCK_OPERATOR_KEY'),
  HUBSPOT_TOKEN: z.string().min(1).optional(),
  HUBSPOT_WRITE_TOKEN: z.string().min(1).optional(),
  HUBSPOT_BASE_URL: z.url().optional(),
  AIRLOCK_PROMPT_POLICY: promptPolicyEnv,
  // Unset or blank: every action the HubSpot mode can serve (null).
  AIRLOCK_ALLOWED_ACTIONS: z
    .string()
    .optional()
    .transform((s) => (s === undefined || s.trim() === '' ? undefined : s))
    .pipe(actionListEnv.optional())
    .transform((list) => list ?? null),
  // At least 1 s locally, so tests can watch a write expire.
  AIRLOCK_APPROVAL_TTL_SECONDS: envInt({ ...APPROVAL_TTL_SECONDS, min: 1 }),
  AIRLOCK_REQUEST_DEADLINE_MS: requestDeadlineEnv(),
  ...readLimitsEnv,
  AIRLOCK_CONTACT_READS_PER_MINUTE: envInt({
    min: 1,
    default: DEFAULT_THRESHOLDS.contactReadsPerMinute,
  }),
  AIRLOCK_DENIED_OR_EXPIRED_PER_HOUR: envInt({
    min: 0,
    default: DEFAULT_THRESHOLDS.deniedOrExpiredPerHour,
  }),
  AIRLOCK_PENDING_MINUTES: envInt({ min: 1, default: DEFAULT_THRESHOLDS.pendingMinutes }),
  AIRLOCK_USER_APPROVERS: userApproversSetting,
});

export type LocalEnv = z.infer<typeof localEnv>;
