import path from 'node:path';
import { localEnv } from '../config/local';
import { HUBSPOT_API, readLimitsOf } from '../config/shared';
import { actionNames, isWriteAction } from '../core/catalog';

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

/**
 * The local server's settings, from the environment, checked once at start-up (the schema is
 * `lambdas/config/local.ts`), with what follows from them: the HubSpot mode and the actions it
 * can serve.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env) {
  const parsed = localEnv.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  let hubspot: HubSpotMode = { kind: 'emulator' };
  if (c.HUBSPOT_TOKEN) {
    hubspot = {
      kind: 'remote',
      baseUrl: c.HUBSPOT_BASE_URL ?? HUBSPOT_API,
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
    // token that can write (the write token is a separate secret; docs/ARCHITECTURE.md,
    // section "Security invariants").
    allowedActions:
      hubspot.kind === 'remote' && hubspot.writeToken === null
        ? (c.AIRLOCK_ALLOWED_ACTIONS ?? actionNames()).filter((a) => !isWriteAction(a))
        : c.AIRLOCK_ALLOWED_ACTIONS,
    approvalTtlMs: c.AIRLOCK_APPROVAL_TTL_SECONDS * 1000,
    userApprovers: c.AIRLOCK_USER_APPROVERS,
    requestDeadlineMs: c.AIRLOCK_REQUEST_DEADLINE_MS,
    limits: readLimitsOf(c),
    alarmThresholds: {
      contactReadsPerMinute: c.AIRLOCK_CONTACT_READS_PER_MINUTE,
      deniedOrExpiredPerHour: c.AIRLOCK_DENIED_OR_EXPIRED_PER_HOUR,
      pendingMinutes: c.AIRLOCK_PENDING_MINUTES,
    },
  };
}
