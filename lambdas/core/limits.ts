/**
 * The catalog's numeric limits, in a module of their own: the HubSpot-call function's protocol
 * check (`adapters/aws/hubspot-call-protocol.ts`) reads them without the catalog.
 */

/** The most records one read may return; a larger `limit` is a bulk request (422). */
export const MAX_LIMIT = 10;
/** Records a read returns when it names no `limit`. */
export const DEFAULT_LIMIT = 5;
/** The longest note body, in characters. */
export const NOTE_BODY_MAX = 2000;
