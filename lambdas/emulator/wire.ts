/**
 * HubSpot's error wire format, as every part of the emulator answers it: the error body, the
 * `HttpError` a handler throws to answer one, and the JSON body parsing whose failures are
 * HubSpot's 400s.
 */

import { randomUUID } from 'node:crypto';

export type ErrorBody = Record<string, unknown> & {
  status: 'error';
  message: string;
  correlationId: string;
};

/** HubSpot's error body: a fresh correlation id, `extra` fields, then the category (if any). */
export function errorBody(
  message: string,
  category: string | null,
  extra: Record<string, unknown> = {},
): ErrorBody {
  return {
    status: 'error',
    message,
    correlationId: randomUUID(),
    ...extra,
    ...(category === null ? {} : { category }),
  };
}

/** Thrown by a handler to answer `status` with `body`; the server turns it into the response. */
export class HttpError {
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
  ) {}
}

export function validationError(message: string, extra: Record<string, unknown> = {}): HttpError {
  return new HttpError(400, errorBody(message, 'VALIDATION_ERROR', extra));
}

/** The answer to a body larger than the emulator reads. */
export function bodyTooLarge(): HttpError {
  return new HttpError(413, errorBody('Request body too large.', 'VALIDATION_ERROR'));
}

/** The answer to anything the emulator did not expect. */
export function internalErrorBody(): ErrorBody {
  return errorBody('internal error', null);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A request's JSON body; an empty or malformed one is HubSpot's 400. */
export function parseJsonBody(raw: string): unknown {
  if (raw.trim() === '') {
    throw validationError('Invalid JSON input: a request body was expected, but none found');
  }
  try {
    return JSON.parse(raw);
  } catch {
    // No parser detail: it could quote the body back.
    throw validationError('Invalid input JSON: the request body is not valid JSON.');
  }
}
