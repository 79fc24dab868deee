import { AirlockError } from './errors';

/**
 * Checks every edge (the local server, the Lambda handler) makes before a body reaches the
 * core, so that both deployments refuse the same bodies with the same errors.
 */

/** The largest request body accepted, in bytes (DESIGN §3: 413 above it). */
export const MAX_BODY_BYTES = 64 * 1024;

/** 415 unless the content type is JSON (any charset parameter is accepted). */
export function checkContentType(contentType: string | undefined): AirlockError | null {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  return type === 'application/json'
    ? null
    : new AirlockError(
        'unsupported_media_type',
        'Send the body as JSON with "Content-Type: application/json".',
      );
}

/** 413 when the body is larger than {@link MAX_BODY_BYTES}. */
export function checkBodySize(bytes: number): AirlockError | null {
  return bytes > MAX_BODY_BYTES
    ? new AirlockError(
        'payload_too_large',
        `The body is larger than ${MAX_BODY_BYTES} bytes; send a smaller request.`,
      )
    : null;
}

export const UNAUTHORIZED_MESSAGE = {
  local: 'Send the gateway key as "Authorization: Bearer <key>" (printed by npm start).',
  aws: 'Sign the request with SigV4 using a role that has the gateway invoke policy.',
} as const;

export function notFound(): AirlockError {
  return new AirlockError(
    'not_found',
    'No such route. The API is POST /v1/actions, GET /v1/actions/{request_id}, GET /v1/tools.',
  );
}
