/**
 * The pure filter/sort engine of the HubSpot emulator: it parses a CRM v3 search body
 * (`POST /crm/v3/objects/{type}/search`), validates it against HubSpot's documented limits and
 * evaluates it over in-memory documents. No I/O, no clock: the server feeds it documents.
 */

import { isRecord } from './wire';

export const FILTER_OPERATORS = [
  'EQ',
  'NEQ',
  'LT',
  'LTE',
  'GT',
  'GTE',
  'BETWEEN',
  'IN',
  'NOT_IN',
  'HAS_PROPERTY',
  'NOT_HAS_PROPERTY',
  'CONTAINS_TOKEN',
  'NOT_CONTAINS_TOKEN',
] as const;
export type FilterOperator = (typeof FILTER_OPERATORS)[number];

/** HubSpot's documented search limits. */
export const SEARCH_LIMITS = {
  maxFilterGroups: 5,
  maxFiltersPerGroup: 6,
  maxFilters: 18,
  maxLimit: 200,
  defaultLimit: 10,
  /** A query can never page past this many results (400 beyond). */
  maxResults: 10_000,
} as const;

export interface SearchFilter {
  propertyName: string;
  operator: FilterOperator;
  value?: string;
  values?: string[];
  highValue?: string;
}

export interface SearchSort {
  propertyName: string;
  direction: 'ASCENDING' | 'DESCENDING';
}

/** A validated search request: every default filled in. */
export interface SearchRequest {
  /** ORed groups of ANDed filters; empty means "match everything". */
  filterGroups: SearchFilter[][];
  sorts: SearchSort[];
  /** Requested properties, or null when the caller asked for none (the defaults apply). */
  properties: string[] | null;
  limit: number;
  /** Offset into the sorted result set (HubSpot's `after` cursor is an offset). */
  after: number;
  query: string | null;
}

/** One searchable record. `associations` maps a singular object name (`contact`) to ids. */
export interface SearchDoc {
  id: string;
  properties: Readonly<Record<string, string | null | undefined>>;
  associations?: Readonly<Partial<Record<string, readonly string[]>>>;
}

export interface SearchOptions {
  /** Whether a property may be filtered or sorted on; unknown names are a 400. @default all known */
  isKnownProperty?: (propertyName: string) => boolean;
  /** Properties the free-text `query` looks into. @default [] (query matches nothing) */
  queryProperties?: readonly string[];
}

export interface SearchResult<T extends SearchDoc> {
  total: number;
  results: T[];
  /** The `paging.next.after` cursor, or null on the last page. */
  nextAfter: string | null;
}

/** A request HubSpot would answer with 400 VALIDATION_ERROR. */
export class SearchValidationError extends Error {
  override readonly name = 'SearchValidationError';
}

const ASSOCIATION_PREFIX = 'associations.';

function scalarToString(value: unknown, what: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'boolean') return String(value);
  throw new SearchValidationError(`${what} must be a string, number or boolean.`);
}

function parseFilter(raw: unknown, where: string): SearchFilter {
  if (!isRecord(raw)) throw new SearchValidationError(`${where} must be an object.`);
  const { propertyName, operator } = raw;
  if (typeof propertyName !== 'string' || propertyName === '') {
    throw new SearchValidationError(
      `${where}: some of required attributes are not set [propertyName].`,
    );
  }
  if (typeof operator !== 'string' || !(FILTER_OPERATORS as readonly string[]).includes(operator)) {
    throw new SearchValidationError(
      `${where}: operator must be one of ${FILTER_OPERATORS.join(', ')}.`,
    );
  }
  const op = operator as FilterOperator;
  const filter: SearchFilter = { propertyName, operator: op };
  const hasValue = raw.value !== undefined && raw.value !== null;
  switch (op) {
    case 'HAS_PROPERTY':
    case 'NOT_HAS_PROPERTY':
      if (hasValue) {
        throw new SearchValidationError(`${where}: operator ${op} does not take a value.`);
      }
      return filter;
    case 'IN':
    case 'NOT_IN': {
      const values = raw.values;
      if (!Array.isArray(values) || values.length === 0) {
        throw new SearchValidationError(
          `${where}: operator ${op} requires a non-empty "values" array.`,
        );
      }
      filter.values = values.map((v, i) => scalarToString(v, `${where}.values[${i}]`));
      return filter;
    }
    case 'BETWEEN':
      if (!hasValue || raw.highValue === undefined || raw.highValue === null) {
        throw new SearchValidationError(
          `${where}: operator BETWEEN requires "value" and "highValue".`,
        );
      }
      filter.value = scalarToString(raw.value, `${where}.value`);
      filter.highValue = scalarToString(raw.highValue, `${where}.highValue`);
      return filter;
    default:
      if (!hasValue) {
        throw new SearchValidationError(`${where}: operator ${op} requires a "value".`);
      }
      filter.value = scalarToString(raw.value, `${where}.value`);
      return filter;
  }
}

function parseSort(raw: unknown, where: string): SearchSort {
  // HubSpot accepts the object form; the codegen types say string[], so accept "prop" / "-prop" too.
  if (typeof raw === 'string' && raw !== '') {
    return raw.startsWith('-')
      ? { propertyName: raw.slice(1), direction: 'DESCENDING' }
      : { propertyName: raw, direction: 'ASCENDING' };
  }
  if (!isRecord(raw) || typeof raw.propertyName !== 'string' || raw.propertyName === '') {
    throw new SearchValidationError(`${where} must be {propertyName, direction}.`);
  }
  const direction = raw.direction ?? 'ASCENDING';
  if (direction !== 'ASCENDING' && direction !== 'DESCENDING') {
    throw new SearchValidationError(`${where}.direction must be ASCENDING or DESCENDING.`);
  }
  return { propertyName: raw.propertyName, direction };
}

function parseNonNegativeInteger(raw: unknown, what: string): number {
  const n = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new SearchValidationError(`${what} must be a non-negative integer.`);
  }
  return n;
}

/** Validates a raw search body (already JSON-parsed) the way HubSpot does; throws SearchValidationError. */
export function parseSearchRequest(body: unknown): SearchRequest {
  if (!isRecord(body)) throw new SearchValidationError('The request body must be a JSON object.');

  const rawGroups = body.filterGroups ?? [];
  if (!Array.isArray(rawGroups)) throw new SearchValidationError('filterGroups must be an array.');
  if (rawGroups.length > SEARCH_LIMITS.maxFilterGroups) {
    throw new SearchValidationError(
      `Too many filter groups: ${rawGroups.length} (maximum ${SEARCH_LIMITS.maxFilterGroups}).`,
    );
  }
  let filterCount = 0;
  const filterGroups = rawGroups.map((group, g) => {
    if (!isRecord(group) || !Array.isArray(group.filters)) {
      throw new SearchValidationError(`filterGroups[${g}].filters must be an array.`);
    }
    if (group.filters.length > SEARCH_LIMITS.maxFiltersPerGroup) {
      throw new SearchValidationError(
        `Too many filters in filterGroups[${g}]: ${group.filters.length} (maximum ${SEARCH_LIMITS.maxFiltersPerGroup}).`,
      );
    }
    filterCount += group.filters.length;
    return group.filters.map((f, i) => parseFilter(f, `filterGroups[${g}].filters[${i}]`));
  });
  if (filterCount > SEARCH_LIMITS.maxFilters) {
    throw new SearchValidationError(
      `Too many filters: ${filterCount} (maximum ${SEARCH_LIMITS.maxFilters} across all groups).`,
    );
  }

  const rawSorts = body.sorts ?? [];
  if (!Array.isArray(rawSorts)) throw new SearchValidationError('sorts must be an array.');
  const sorts = rawSorts.map((s, i) => parseSort(s, `sorts[${i}]`));

  let properties: string[] | null = null;
  if (body.properties !== undefined && body.properties !== null) {
    if (!Array.isArray(body.properties) || body.properties.some((p) => typeof p !== 'string')) {
      throw new SearchValidationError('properties must be an array of strings.');
    }
    const names = (body.properties as string[]).filter((p) => p !== '');
    properties = names.length > 0 ? names : null;
  }

  const limit =
    body.limit === undefined || body.limit === null
      ? SEARCH_LIMITS.defaultLimit
      : parseNonNegativeInteger(body.limit, 'limit');
  if (limit > SEARCH_LIMITS.maxLimit) {
    throw new SearchValidationError(
      `limit must be less than or equal to ${SEARCH_LIMITS.maxLimit}; got ${limit}.`,
    );
  }

  const after =
    body.after === undefined || body.after === null || body.after === ''
      ? 0
      : parseNonNegativeInteger(body.after, 'after');
  if (after >= SEARCH_LIMITS.maxResults) {
    throw new SearchValidationError(
      `Search results are capped at ${SEARCH_LIMITS.maxResults}; "after" must be lower.`,
    );
  }

  let query: string | null = null;
  if (body.query !== undefined && body.query !== null) {
    if (typeof body.query !== 'string') throw new SearchValidationError('query must be a string.');
    query = body.query.trim() === '' ? null : body.query;
  }

  return { filterGroups, sorts, properties, limit, after, query };
}

/** The values a document holds for a property: 0 or 1 for plain properties, n for associations. */
export function valuesOf(doc: SearchDoc, propertyName: string): readonly string[] {
  if (propertyName === 'hs_object_id') return [doc.id];
  if (propertyName.startsWith(ASSOCIATION_PREFIX)) {
    return doc.associations?.[propertyName.slice(ASSOCIATION_PREFIX.length)] ?? [];
  }
  const value = doc.properties[propertyName];
  return value === null || value === undefined || value === '' ? [] : [value];
}

const NUMBER_RE = /^[-+]?\d+(\.\d+)?$/;
const ISO_DATE_RE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** A number for numeric strings and ISO dates (epoch ms), else null. */
export function toComparableNumber(value: string): number | null {
  const trimmed = value.trim();
  if (NUMBER_RE.test(trimmed)) return Number(trimmed);
  if (ISO_DATE_RE.test(trimmed)) {
    const ms = Date.parse(trimmed);
    return Number.isNaN(ms) ? null : ms;
  }
  return null;
}

/** Numbers and dates compare numerically (epoch ms and ISO mix freely); strings case-insensitively. */
export function compareValues(a: string, b: string): number {
  const na = toComparableNumber(a);
  const nb = toComparableNumber(b);
  if (na !== null && nb !== null) return na === nb ? 0 : na < nb ? -1 : 1;
  const la = a.toLowerCase();
  const lb = b.toLowerCase();
  return la === lb ? 0 : la < lb ? -1 : 1;
}

/**
 * The tokens CONTAINS_TOKEN looks at: the whole value, each whitespace-separated word and each
 * alphanumeric run, all lower-cased. So `jane.cooper@acme.com` yields itself, `jane`, `cooper`,
 * `acme` and `com`.
 */
export function tokensOf(value: string): Set<string> {
  const lower = value.toLowerCase();
  const tokens = new Set<string>([lower.trim()]);
  for (const word of lower.split(/\s+/)) {
    if (word === '') continue;
    tokens.add(word);
    for (const part of word.split(/[^\p{L}\p{N}]+/u)) if (part !== '') tokens.add(part);
  }
  return tokens;
}

function wildcardRegExp(term: string): RegExp {
  const escaped = term
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${escaped}$`, 'u');
}

/** Every whitespace-separated term of the filter value must match one token (`*` is a wildcard). */
export function containsToken(recordValue: string, filterValue: string): boolean {
  const terms = filterValue.toLowerCase().trim().split(/\s+/).filter(Boolean);
  if (terms.length === 0) return false;
  const tokens = [...tokensOf(recordValue)];
  return terms.every((term) => {
    const re = wildcardRegExp(term);
    return tokens.some((token) => re.test(token));
  });
}

function eq(a: string, b: string): boolean {
  return compareValues(a, b) === 0;
}

/**
 * IN / NOT_IN: HubSpot documents that string values must be sent lower-case; the record side is
 * matched case-insensitively, the filter side as sent, so `Jane@Acme.com` in `values` never matches.
 */
function inValues(recordValue: string, values: readonly string[]): boolean {
  const n = toComparableNumber(recordValue);
  return values.some((v) => {
    if (n !== null) {
      const m = toComparableNumber(v);
      if (m !== null) return m === n;
    }
    return recordValue.toLowerCase() === v;
  });
}

export function matchesFilter(doc: SearchDoc, filter: SearchFilter): boolean {
  const values = valuesOf(doc, filter.propertyName);
  const value = filter.value ?? '';
  switch (filter.operator) {
    case 'EQ':
      return values.some((v) => eq(v, value));
    case 'NEQ':
      return !values.some((v) => eq(v, value));
    case 'LT':
      return values.some((v) => compareValues(v, value) < 0);
    case 'LTE':
      return values.some((v) => compareValues(v, value) <= 0);
    case 'GT':
      return values.some((v) => compareValues(v, value) > 0);
    case 'GTE':
      return values.some((v) => compareValues(v, value) >= 0);
    case 'BETWEEN': {
      const high = filter.highValue ?? '';
      return values.some((v) => compareValues(v, value) >= 0 && compareValues(v, high) <= 0);
    }
    case 'IN':
      return values.some((v) => inValues(v, filter.values ?? []));
    case 'NOT_IN':
      return !values.some((v) => inValues(v, filter.values ?? []));
    case 'HAS_PROPERTY':
      return values.length > 0;
    case 'NOT_HAS_PROPERTY':
      return values.length === 0;
    case 'CONTAINS_TOKEN':
      return values.some((v) => containsToken(v, value));
    case 'NOT_CONTAINS_TOKEN':
      return !values.some((v) => containsToken(v, value));
  }
}

/** Free-text `query`: every term must prefix-match a token of one of the query properties. */
function matchesQuery(doc: SearchDoc, query: string, queryProperties: readonly string[]): boolean {
  const terms = query.toLowerCase().trim().split(/\s+/).filter(Boolean);
  const tokens: string[] = [];
  for (const p of queryProperties) for (const v of valuesOf(doc, p)) tokens.push(...tokensOf(v));
  return terms.every((term) => tokens.some((token) => token.startsWith(term)));
}

function compareIds(a: string, b: string): number {
  return compareValues(a, b);
}

/** Orders by each sort in turn, unset values last in either direction, then by id ascending. */
function compareDocs(a: SearchDoc, b: SearchDoc, sorts: readonly SearchSort[]): number {
  for (const sort of sorts) {
    const va = valuesOf(a, sort.propertyName)[0];
    const vb = valuesOf(b, sort.propertyName)[0];
    if (va === undefined && vb === undefined) continue;
    if (va === undefined) return 1;
    if (vb === undefined) return -1;
    const c = compareValues(va, vb);
    if (c !== 0) return sort.direction === 'DESCENDING' ? -c : c;
  }
  return compareIds(a.id, b.id);
}

function isKnownName(name: string, isKnownProperty: (propertyName: string) => boolean): boolean {
  return name === 'hs_object_id' || name.startsWith(ASSOCIATION_PREFIX) || isKnownProperty(name);
}

/** Runs a validated search over documents; throws SearchValidationError for unknown properties. */
export function runSearch<T extends SearchDoc>(
  docs: readonly T[],
  request: SearchRequest,
  options: SearchOptions = {},
): SearchResult<T> {
  const isKnown = options.isKnownProperty ?? (() => true);
  for (const group of request.filterGroups) {
    for (const filter of group) {
      if (!isKnownName(filter.propertyName, isKnown)) {
        throw new SearchValidationError(`Property "${filter.propertyName}" does not exist.`);
      }
    }
  }
  for (const sort of request.sorts) {
    if (!isKnownName(sort.propertyName, isKnown)) {
      throw new SearchValidationError(`Cannot sort on unknown property "${sort.propertyName}".`);
    }
  }

  const query = request.query;
  const matched = docs.filter((doc) => {
    const byFilters =
      request.filterGroups.length === 0 ||
      request.filterGroups.some((group) => group.every((filter) => matchesFilter(doc, filter)));
    return byFilters && (query === null || matchesQuery(doc, query, options.queryProperties ?? []));
  });
  matched.sort((a, b) => compareDocs(a, b, request.sorts));

  const total = matched.length;
  const results = matched.slice(request.after, request.after + request.limit);
  const end = request.after + results.length;
  const nextAfter =
    results.length > 0 && end < total && end < SEARCH_LIMITS.maxResults ? String(end) : null;
  return { total, results, nextAfter };
}
