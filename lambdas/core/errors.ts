/**
 * The one error vocabulary of the gateway (docs/ARCHITECTURE.md, "The HTTP contract") and the one place that maps it to HTTP.
 * Every refusal, local or on AWS, is an {@link AirlockError} with one of these codes.
 */
export const ERROR_STATUS = {
  invalid_json: 400,
  validation_failed: 400,
  unknown_action: 400,
  invalid_request_target: 400,
  malformed_request: 400,
  unauthorized: 401,
  gateway_contained: 401,
  hubspot_unauthorized: 401,
  read_only_mode: 403,
  action_not_allowed: 403,
  approver_required: 403,
  operator_required: 403,
  not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  already_decided: 409,
  approval_mismatch: 409,
  approval_expired: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  prompt_rejected: 422,
  bulk_request_rejected: 422,
  hubspot_rejected: 422,
  rate_limited: 429,
  headers_too_large: 431,
  internal_error: 500,
  hubspot_error: 502,
  hubspot_missing_scopes: 502,
  audit_unavailable: 503,
  secrets_unavailable: 503,
  approvals_unavailable: 503,
  limits_unavailable: 503,
  hubspot_timeout: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface AirlockErrorOptions {
  details?: unknown;
  /** Seconds the caller should wait; becomes the Retry-After header. */
  retryAfterSeconds?: number;
  /** The status HubSpot answered, when the error comes from HubSpot. */
  hubspotStatus?: number;
  cause?: unknown;
}

export class AirlockError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details?: unknown;
  readonly retryAfterSeconds?: number;
  readonly hubspotStatus?: number;

  constructor(code: ErrorCode, message: string, options: AirlockErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AirlockError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.details = options.details;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.hubspotStatus = options.hubspotStatus;
  }
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

const GENERIC_5XX: Partial<Record<ErrorCode, string>> = {
  internal_error: 'The gateway failed unexpectedly. The request was not completed; retry later.',
};

/** Turns anything thrown into an {@link AirlockError}; unknown errors become a generic 500. */
export function asAirlockError(err: unknown): AirlockError {
  if (err instanceof AirlockError) return err;
  return new AirlockError('internal_error', GENERIC_5XX.internal_error ?? 'internal error', {
    cause: err,
  });
}

/** The single mapping from an error to the HTTP answer. 5xx bodies stay generic. */
export function errorAnswer(requestId: string, err: unknown): HttpAnswer {
  const e = asAirlockError(err);
  const headers: Record<string, string> = {};
  if (e.retryAfterSeconds !== undefined) {
    headers['retry-after'] = String(Math.max(1, Math.ceil(e.retryAfterSeconds)));
  }
  const error: Record<string, unknown> = { code: e.code, message: e.message };
  if (e.details !== undefined && e.status < 500) error.details = e.details;
  return { status: e.status, headers, body: { request_id: requestId, error } };
}
