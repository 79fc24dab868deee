/** What the adapter reports about each HubSpot call it made, for the audit record. */
export interface HubSpotCall {
  endpoint: string;
  status: number | null;
  attempts: number;
  /** How many of the attempts HubSpot answered 429 (waited out or not). */
  throttled?: number;
  duration_ms: number;
}

/**
 * The audit record (docs/ARCHITECTURE.md, "The audit record"). The first six fields keep the names from the security
 * guidance; the rest say what happened and why.
 */
export const AUDIT_OUTCOMES = [
  'completed',
  'rejected',
  'pending_approval',
  'approved',
  'denied',
  'expired',
  'failed',
] as const;

/** What happened to a request or event; the S3 audit key names it too (core/audit-key.ts). */
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

export interface AuditApproval {
  approval_id: string;
  /** The request that asked for the write (a decision's own request has its own id). */
  request_id?: string;
  action_hash?: string;
  approver?: string | null;
  decided_at?: string | null;
  expires_at?: string;
  /** The HubSpot note a completed write created. */
  note_id?: string;
}

export interface AuditRecord {
  timestamp: string;
  user_id: string | null;
  agent_prompt: string | null;
  structured_action: unknown;
  hubspot_endpoint: string | null;
  /** The HTTP status answered for this request, or null for an event no caller waits on (expiry). */
  response_status: number | null;
  request_id: string;
  /**
   * `request` for an agent's call, `approval` for a decision or expiry of a write, `control`
   * for an operator's command (kill switch, read-only mode, token rotation).
   */
  event: 'request' | 'approval' | 'control';
  /** The route called, e.g. `POST /v1/actions`. */
  route: string | null;
  action: string | null;
  outcome: AuditOutcome;
  /** The rule or error code behind the outcome; null when nothing was refused. */
  reason: string | null;
  caller: string | null;
  hubspot_status: number | null;
  hubspot_calls: HubSpotCall[];
  duration_ms: number;
  /** How many CRM records the answer carried. */
  record_count?: number;
  /** Injection markers found in the prompt when the prompt policy only flags. */
  prompt_flags?: string[];
  /** The policy rule behind a refusal, when the reason has several (e.g. which rate limit). */
  rule?: string;
  approval?: AuditApproval;
  /** The hash of the tool definitions in force (`catalogHash()`, also on `GET /v1/tools`). */
  catalog_hash: string;
}

/** The last HubSpot call's endpoint and status: the two audit fields that name one call. */
export function lastCall(calls: HubSpotCall[]): {
  hubspot_endpoint: string | null;
  hubspot_status: number | null;
} {
  const last = calls[calls.length - 1];
  return { hubspot_endpoint: last?.endpoint ?? null, hubspot_status: last?.status ?? null };
}
