/**
 * The HubSpot CRM v3 paths the emulator serves, the scope each needs, and their handlers:
 * `POST /crm/v3/objects/{type}/search`, `GET /crm/v3/objects/{type}/{id}` and
 * `POST /crm/v3/objects/notes`. (Token introspection, which needs no scope, is `auth.ts`.)
 */

import { READ_SCOPES, SCOPES } from './auth';
import { parseSearchRequest, runSearch, SearchValidationError } from './search';
import type { AssociationTarget, CrmObjectType } from './seed';
import {
  type CrmStore,
  NOTE_ASSOCIATION_TYPES,
  type NoteAssociation,
  OBJECT_TYPES,
  PLURAL,
  publicObject,
  SCHEMAS,
} from './store';
import { errorBody, HttpError, isRecord, parseJsonBody, validationError } from './wire';

export type Route =
  | { kind: 'search'; type: CrmObjectType }
  | { kind: 'get'; type: CrmObjectType; id: string }
  | { kind: 'createNote' };

/** What a handler answers (errors are thrown as `HttpError`). */
export interface RouteResult {
  status: number;
  body: unknown;
}

/** The route of a request, or null when the emulator serves no such path and method. */
export function resolveRoute(method: string, path: string): Route | null {
  const match = /^\/crm\/v3\/objects\/([^/]+)(?:\/([^/]+))?\/?$/.exec(path);
  if (!match) return null;
  const type = OBJECT_TYPES.find((t) => t === match[1]);
  const rest = match[2];
  if (type === undefined) return null;
  if (rest === undefined) {
    return method === 'POST' && type === 'notes' ? { kind: 'createNote' } : null;
  }
  if (rest === 'search') return method === 'POST' ? { kind: 'search', type } : null;
  if (method === 'GET') return { kind: 'get', type, id: decodeURIComponent(rest) };
  return null;
}

/** The scope a route needs (HubSpot has no notes-only scope: notes go with contacts). */
export function requiredScope(route: Route): string {
  switch (route.kind) {
    case 'search':
    case 'get':
      return READ_SCOPES[route.type];
    case 'createNote':
      return SCOPES.contactsWrite;
  }
}

/** The 404 for a path or method the emulator does not serve. */
export function unknownRoute(): HttpError {
  return new HttpError(
    404,
    errorBody(
      'Resource not found. This emulator serves POST /crm/v3/objects/{contacts|companies|emails|notes}/search, GET /crm/v3/objects/{type}/{id}, POST /crm/v3/objects/notes and POST /oauth/v2/private-apps/get/access-token-info.',
      'OBJECT_NOT_FOUND',
    ),
  );
}

/** Answers `route` over `store`; `raw` is the request body, `url` the request URL. */
export function handleRoute(store: CrmStore, route: Route, raw: string, url: URL): RouteResult {
  switch (route.kind) {
    case 'search':
      return handleSearch(store, route.type, parseJsonBody(raw));
    case 'get':
      return handleGet(store, route.type, route.id, url);
    case 'createNote':
      return handleCreateNote(store, parseJsonBody(raw));
  }
}

function parseListParam(url: URL, name: string): string[] | null {
  const values = url.searchParams
    .getAll(name)
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  return values.length > 0 ? values : null;
}

function handleSearch(store: CrmStore, type: CrmObjectType, body: unknown): RouteResult {
  const s = SCHEMAS[type];
  try {
    const request = parseSearchRequest(body);
    const result = runSearch(store.docs(type), request, {
      isKnownProperty: (name) => s.properties.has(name),
      queryProperties: s.queryProperties,
    });
    return {
      status: 200,
      body: {
        total: result.total,
        results: result.results.map((doc) => publicObject(type, doc, request.properties)),
        ...(result.nextAfter === null ? {} : { paging: { next: { after: result.nextAfter } } }),
      },
    };
  } catch (error) {
    if (error instanceof SearchValidationError) {
      throw validationError(error.message, { errors: [{ message: error.message }] });
    }
    throw error;
  }
}

function handleGet(store: CrmStore, type: CrmObjectType, id: string, url: URL): RouteResult {
  const doc = store.find(type, id);
  if (!doc) {
    throw new HttpError(
      404,
      errorBody('Object not found.  objectId are usually numeric.', 'OBJECT_NOT_FOUND', {
        context: { id: [id] },
      }),
    );
  }
  const out: Record<string, unknown> = publicObject(type, doc, parseListParam(url, 'properties'));
  const wanted = parseListParam(url, 'associations');
  if (wanted) {
    const associations: Record<string, unknown> = {};
    for (const name of wanted) {
      const target = (Object.keys(PLURAL) as AssociationTarget[]).find(
        (t) => t === name || PLURAL[t] === name,
      );
      if (!target) continue;
      const ids = doc.associations?.[target] ?? [];
      if (ids.length > 0) {
        associations[PLURAL[target]] = {
          results: ids.map((toId) => ({
            id: toId,
            type: `${SCHEMAS[type].singular}_to_${target}`,
          })),
        };
      }
    }
    if (Object.keys(associations).length > 0) out.associations = associations;
  }
  return { status: 200, body: out };
}

const ISO_DATETIME_RE =
  /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** An ISO 8601 string for an epoch-ms or ISO 8601 value (what HubSpot accepts), else null. */
function normaliseTimestamp(value: string): string | null {
  const trimmed = value.trim();
  let ms: number;
  if (/^\d{1,15}$/.test(trimmed)) ms = Number(trimmed);
  else if (ISO_DATETIME_RE.test(trimmed)) ms = Date.parse(trimmed);
  else return null;
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}

/** The note's properties as strings and its normalised `hs_timestamp`, or HubSpot's 400. */
function noteProperties(raw: Record<string, unknown>): {
  properties: Record<string, string>;
  timestamp: string;
} {
  const properties: Record<string, string> = {};
  const invalid: Record<string, unknown>[] = [];
  for (const [name, value] of Object.entries(raw)) {
    if (!SCHEMAS.notes.properties.has(name)) {
      invalid.push({
        isValid: false,
        message: `Property "${name}" does not exist`,
        error: 'PROPERTY_DOESNT_EXIST',
        name,
      });
      continue;
    }
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      properties[name] = String(value);
    } else if (value !== null) {
      invalid.push({
        isValid: false,
        message: `${name} must be a string`,
        error: 'INVALID_VALUE',
        name,
      });
    }
  }
  const rawTimestamp = properties.hs_timestamp;
  let timestamp: string | null = null;
  if (rawTimestamp === undefined || rawTimestamp.trim() === '') {
    invalid.push({
      isValid: false,
      message: 'hs_timestamp is required',
      error: 'REQUIRED_FIELD',
      name: 'hs_timestamp',
    });
  } else {
    timestamp = normaliseTimestamp(rawTimestamp);
    if (timestamp === null) {
      invalid.push({
        isValid: false,
        message: `${JSON.stringify(rawTimestamp.slice(0, 40))} is not a valid datetime (ISO 8601 or epoch milliseconds)`,
        error: 'INVALID_DATE',
        name: 'hs_timestamp',
      });
    }
  }
  if (invalid.length > 0 || timestamp === null) {
    throw validationError(`Property values were not valid: ${JSON.stringify(invalid)}`, {
      errors: invalid.map((i) => ({
        message: String(i.message),
        context: { propertyName: [String(i.name)] },
      })),
    });
  }
  return { properties, timestamp };
}

/** The note's associations, each to a contact or company that exists, or HubSpot's 400. */
function noteAssociations(store: CrmStore, rawAssociations: unknown): NoteAssociation[] {
  if (!Array.isArray(rawAssociations)) {
    throw validationError('Invalid input JSON: "associations" must be an array.');
  }
  const associations: NoteAssociation[] = [];
  for (const [i, raw] of rawAssociations.entries()) {
    if (
      !isRecord(raw) ||
      !isRecord(raw.to) ||
      !Array.isArray(raw.types) ||
      raw.types.length === 0
    ) {
      throw validationError(
        `Invalid input JSON: associations[${i}] must be {to: {id}, types: [{associationCategory, associationTypeId}]}.`,
      );
    }
    const toId = typeof raw.to.id === 'number' ? String(raw.to.id) : raw.to.id;
    if (typeof toId !== 'string' || toId === '') {
      throw validationError(`Invalid input JSON: associations[${i}].to.id is required.`);
    }
    for (const spec of raw.types) {
      const category = isRecord(spec) ? spec.associationCategory : undefined;
      const typeId = isRecord(spec) ? spec.associationTypeId : undefined;
      const target: NoteAssociation['toObjectType'] | null =
        category === 'HUBSPOT_DEFINED' && typeId === NOTE_ASSOCIATION_TYPES.noteToContact
          ? 'contacts'
          : category === 'HUBSPOT_DEFINED' && typeId === NOTE_ASSOCIATION_TYPES.noteToCompany
            ? 'companies'
            : null;
      if (target === null) {
        throw validationError('One or more associations are invalid', {
          context: {
            INVALID_ASSOCIATION_TYPE: [
              `${String(category)} ${String(typeId)} is not a valid association type from NOTE`,
            ],
          },
        });
      }
      if (!store.has(target, toId)) {
        const label = SCHEMAS[target].label;
        throw validationError('One or more associations are invalid', {
          context: {
            INVALID_OBJECT_IDS: [`${label}=${toId} is not valid`],
            objectId: [toId],
            objectType: [label],
          },
        });
      }
      associations.push({ toObjectType: target, toId, associationTypeId: typeId as number });
    }
  }
  return associations;
}

function handleCreateNote(store: CrmStore, body: unknown): RouteResult {
  if (!isRecord(body) || !isRecord(body.properties)) {
    throw validationError('Invalid input JSON: "properties" must be an object.');
  }
  const { properties, timestamp } = noteProperties(body.properties);
  const associations = noteAssociations(store, body.associations ?? []);
  const doc = store.addNote(properties, timestamp, associations);
  return { status: 201, body: publicObject('notes', doc, Object.keys(doc.record.properties)) };
}
