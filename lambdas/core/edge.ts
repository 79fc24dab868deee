import { AirlockError } from './errors';
import { REDACTED } from './redact';
import { AGENT_ROUTES, listRoutes } from './routes';

/**
 * Checks every edge (the local server, the Lambda handler) makes before a body reaches the
 * core, so that both deployments refuse the same bodies with the same errors.
 */

/** The largest request body accepted, in bytes (413 above it; docs/ARCHITECTURE.md, "The HTTP contract"). */
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
  return new AirlockError('not_found', `No such route. The API is ${listRoutes(AGENT_ROUTES)}.`);
}

/**
 * A header's value, whatever the case of its name. Returns undefined when the header is
 * absent, or when it appears under several spellings with different values (ambiguous:
 * the caller then refuses the request as having no such header).
 */
export function headerValue(
  headers: Record<string, string | undefined> | null | undefined,
  name: string,
): string | undefined {
  if (headers === null || headers === undefined || typeof headers !== 'object') return undefined;
  const wanted = name.toLowerCase();
  let found: string | undefined;
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() !== wanted) continue;
    const value = headers[key];
    if (typeof value !== 'string') continue;
    if (found !== undefined && found !== value) return undefined;
    found = value;
  }
  return found;
}

/**
 * Request targets (RFC 9112 §3.2). Only origin-form (`/path?query`) is routed, and on the path
 * exactly as sent: nothing is decoded, merged or resolved, so two different targets can never
 * reach the same route, and a proxy in front that filters by path prefix sees what the
 * gateway routes. Refused (400 `invalid_request_target`):
 * - anything that does not start with exactly one `/`: `//host/...` (which a URL parser reads
 *   as a host), absolute-form `http://host/...`, `*`, authority-form `host:443`;
 * - bytes outside printable ASCII (NUL, control bytes, spaces, raw non-ASCII), a backslash, a
 *   fragment `#`;
 * - in the path: an empty segment (`/v1//tools`), a dot segment (`/./`, `/../`, a trailing
 *   `/.` or `/..`, also percent-encoded: `%2e`, `.%2E`...), an encoded `/` or `\` (`%2f`,
 *   `%5c`) and encoded control bytes (`%00`-`%1f`, `%7f`).
 */
export function checkRequestTarget(target: string): AirlockError | null {
  return isOriginForm(target) ? null : invalidRequestTarget();
}

function isOriginForm(target: string): boolean {
  if (!target.startsWith('/') || target.startsWith('//')) return false;
  if (/[^\x21-\x7e]|[\\#]/.test(target)) return false;
  const query = target.indexOf('?');
  const path = query === -1 ? target : target.slice(0, query);
  if (/%(?:2f|5c|[01][0-9a-f]|7f)/i.test(path)) return false;
  const segments = path.slice(1).split('/');
  return segments.every((segment, i) => {
    if (segment === '') return i === segments.length - 1;
    const dots = segment.replace(/%2e/gi, '.');
    return dots !== '.' && dots !== '..';
  });
}

export function invalidRequestTarget(): AirlockError {
  return new AirlockError(
    'invalid_request_target',
    'The request target must be an origin-form path: one leading "/", no "//", no "." or ".." ' +
      'segments (encoded or not), no encoded "/", no backslash, no control bytes, e.g. ' +
      '"GET /v1/tools".',
  );
}

/** Node's largest accepted request head (`--max-http-header-size`, 16 KB by default). */
const MAX_HEADER_KB = 16;

/**
 * The refusal of a request Node's HTTP parser rejected (`clientError`): 431 for headers over
 * the limit, 408 for a request not received in time, 400 `invalid_request_target` for a
 * target the parser refused, 400 `malformed_request` for everything else (bad bytes, a
 * smuggling shape such as Content-Length with Transfer-Encoding, an invalid chunk size...).
 */
export function parserRefusal(code: string): AirlockError {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return new AirlockError(
        'headers_too_large',
        `The request's headers are larger than ${MAX_HEADER_KB} KB; send smaller headers.`,
      );
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new AirlockError(
        'request_timeout',
        'The request was not received in time; send it again, whole, on a new connection.',
      );
    case 'HPE_INVALID_URL':
      return invalidRequestTarget();
    default:
      return new AirlockError(
        'malformed_request',
        'The request is not well-formed HTTP/1.1 (one Content-Length or Transfer-Encoding: ' +
          'chunked, header names and values without control bytes, CRLF line ends); send it again ' +
          'on a new connection.',
      );
  }
}

/** The most characters the audit record keeps of what a refused request sent. */
export const RECEIVED_MAX_CHARS = 4096;

/** Header lines whose value is a credential: never kept, even cut short by the bound. */
const CREDENTIAL_LINE = /^((?:proxy-)?authorization|cookie|x-api-key)[ \t]*:[^\r\n]*/gim;

/**
 * What the audit record keeps of a request Node's parser refused: the first bytes received
 * (`received`, at most {@link RECEIVED_MAX_CHARS} characters, every byte outside printable ASCII
 * escaped as `\r`, `\n`, `\t` or `\xNN`, a backslash as `\\`, credential header values replaced),
 * how many bytes the failing read held, and the parser's error code.
 */
export function renderReceived(
  raw: Buffer | undefined,
  parserError: string,
): { received: string; received_bytes: number; parser_error: string } {
  const bytes = raw ?? Buffer.alloc(0);
  const head = bytes
    .subarray(0, RECEIVED_MAX_CHARS)
    .toString('latin1')
    .replace(CREDENTIAL_LINE, `$1: ${REDACTED}`);
  return {
    received: escapeBounded(head, RECEIVED_MAX_CHARS),
    received_bytes: bytes.length,
    parser_error: parserError.slice(0, 64),
  };
}

/** A request target as the audit record keeps it: escaped like {@link renderReceived}, bounded. */
export function renderTarget(target: string): string {
  return escapeBounded(target, RECEIVED_MAX_CHARS);
}

/**
 * `text` with every character outside printable ASCII escaped, cut so that the result takes at
 * most `max` characters once written as JSON (where each backslash and quote doubles).
 */
function escapeBounded(text: string, max: number): string {
  let out = '';
  let cost = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    let piece: string;
    if (c === 0x5c) piece = '\\\\';
    else if (c >= 0x20 && c < 0x7f) piece = text.charAt(i);
    else if (c === 0x0d) piece = '\\r';
    else if (c === 0x0a) piece = '\\n';
    else if (c === 0x09) piece = '\\t';
    else if (c <= 0xff) piece = `\\x${c.toString(16).padStart(2, '0')}`;
    else piece = `\\u${c.toString(16).padStart(4, '0')}`;
    // In JSON each backslash and quote is written twice.
    let pieceCost = piece.length;
    for (const ch of piece) if (ch === '\\' || ch === '"') pieceCost += 1;
    if (cost + pieceCost > max) break;
    cost += pieceCost;
    out += piece;
  }
  return out;
}
