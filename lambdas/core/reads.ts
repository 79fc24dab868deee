import {
  type ActionNameOf,
  type ActionSpec,
  CATALOG,
  type Catalog,
  findAction,
  queryValues,
  type ValidatedAction,
} from './catalog';
import { DEFAULT_LIMIT } from './limits';
import { bulkGuardQuery } from './policy';
import type { CallContext, HubSpotPort, SearchFilter, SearchRequest } from './ports';
import {
  COMPANY_VIEW,
  CONTACT_VIEW,
  type CompanyOut,
  type ContactOut,
  companyName,
  contactName,
  EMAIL_VIEW,
  keepReturns,
  type LastEmailOut,
  projectCompany,
  projectContact,
  projectEmail,
  propertiesOf,
} from './projection';

/**
 * The reads of the core (docs/ARCHITECTURE.md, section "The action catalog"): one handler per
 * read action of the catalog, keyed by its name. The catalog says which actions are reads; the
 * compiler refuses a read without its handler here.
 */

type ReadName = ActionNameOf<'read'>;

export type ReadAction = Extract<ValidatedAction, { action: ReadName }>;

export type ReadResult = { contacts: ContactOut[] } | { companies: CompanyOut[] } | LastEmailOut;

/** What a read answers: the data (projected to the action's `returns`) and what it touched. */
export interface ReadAnswer<D = ReadResult> {
  data: D;
  recordCount: number;
  recordIds: string[];
}

/** How the core runs one read action. */
export interface ReadHandler<A, D = ReadResult> {
  /** How many HubSpot searches it makes (for the gateway's budget under HubSpot's limits). */
  searches: number;
  run(a: A, hubspot: HubSpotPort, ctx: CallContext): Promise<ReadAnswer<D>>;
}

/** A handler as the dispatch sees it: for an action of any name (a catalog copy in tests). */
export type AnyReadHandler = ReadHandler<{ action: string } & Record<string, unknown>, unknown>;

/** The actions {@link runRead} may run and their handlers: this gateway's by default. */
export interface ReadRegistry {
  catalog: Catalog;
  handlers: Readonly<Record<string, AnyReadHandler>>;
}

const CONTACT_PROPS = propertiesOf(CONTACT_VIEW);
const COMPANY_PROPS = propertiesOf(COMPANY_VIEW);
const EMAIL_PROPS = propertiesOf(EMAIL_VIEW);

/**
 * Every search the core can build, per object: the properties it may read, filter on and sort
 * by. The HubSpot-call function checks each request against this, so even a compromised caller
 * can only make the searches the catalog makes.
 */
export const SEARCH_ALLOWLIST = {
  contacts: {
    properties: CONTACT_PROPS,
    // hs_object_id: the approval message shows the target record's current name.
    filters: ['email', 'firstname', 'lastname', 'company', 'hs_object_id'],
    sorts: [] as string[],
  },
  companies: {
    properties: COMPANY_PROPS,
    filters: ['name', 'domain', 'hs_object_id'],
    sorts: [] as string[],
  },
  emails: {
    properties: EMAIL_PROPS,
    filters: ['associations.company', 'associations.contact'],
    sorts: ['hs_timestamp'],
  },
} as const;

/**
 * A name matches as a whole word when it is one word (CONTAINS_TOKEN), and exactly (EQ,
 * case-insensitive on HubSpot) when it has several, since a token search takes one token.
 */
function textFilter(propertyName: string, value: string): SearchFilter {
  return /\s/.test(value)
    ? { propertyName, operator: 'EQ', value }
    : { propertyName, operator: 'CONTAINS_TOKEN', value };
}

/** Builds the HubSpot search for a contact search (pure; exported for tests). */
export function contactSearch(a: Extract<ReadAction, { action: 'search_contact' }>): SearchRequest {
  const common: SearchFilter[] = [];
  if (a.email) common.push({ propertyName: 'email', operator: 'EQ', value: a.email });
  if (a.company) common.push(textFilter('company', a.company));
  let groups: SearchFilter[][] = [common];
  if (a.name) {
    const words = a.name.split(/\s+/);
    const first = words[0] ?? a.name;
    const last = words[words.length - 1] ?? a.name;
    groups =
      words.length === 1
        ? [
            [...common, { propertyName: 'firstname', operator: 'CONTAINS_TOKEN', value: first }],
            [...common, { propertyName: 'lastname', operator: 'CONTAINS_TOKEN', value: first }],
          ]
        : [
            [
              ...common,
              { propertyName: 'firstname', operator: 'CONTAINS_TOKEN', value: first },
              { propertyName: 'lastname', operator: 'CONTAINS_TOKEN', value: last },
            ],
          ];
  }
  return {
    filterGroups: groups.map((filters) => ({ filters })),
    properties: CONTACT_PROPS,
    limit: a.limit ?? DEFAULT_LIMIT,
  };
}

export function companySearch(a: Extract<ReadAction, { action: 'search_company' }>): SearchRequest {
  const filters: SearchFilter[] = [];
  if (a.name) filters.push(textFilter('name', a.name));
  if (a.domain) filters.push({ propertyName: 'domain', operator: 'EQ', value: a.domain });
  return {
    filterGroups: [{ filters }],
    properties: COMPANY_PROPS,
    limit: a.limit ?? DEFAULT_LIMIT,
  };
}

export function lastEmailSearch(type: 'company' | 'contact', id: string): SearchRequest {
  return {
    filterGroups: [
      { filters: [{ propertyName: `associations.${type}`, operator: 'EQ', value: id }] },
    ],
    properties: EMAIL_PROPS,
    sorts: [{ propertyName: 'hs_timestamp', direction: 'DESCENDING' }],
    limit: 1,
  };
}

type HandlerOf<N extends ReadName> = ReadHandler<Extract<ReadAction, { action: N }>>;

/** One handler per read action of the catalog. */
export const READ_HANDLERS: { [N in ReadName]: HandlerOf<N> } = {
  search_contact: {
    searches: 1,
    async run(a, hubspot, ctx) {
      const found = await hubspot.search('contacts', contactSearch(a), ctx);
      return {
        data: { contacts: found.map(projectContact) },
        recordCount: found.length,
        recordIds: found.map((r) => `contact:${r.id}`),
      };
    },
  },
  search_company: {
    searches: 1,
    async run(a, hubspot, ctx) {
      const found = await hubspot.search('companies', companySearch(a), ctx);
      return {
        data: { companies: found.map(projectCompany) },
        recordCount: found.length,
        recordIds: found.map((r) => `company:${r.id}`),
      };
    },
  },
  get_last_email_interaction: {
    // The record first, then its latest email.
    searches: 2,
    async run(a, hubspot, ctx) {
      const type = a.company ? 'company' : 'contact';
      const lookup: SearchRequest = a.company
        ? {
            filterGroups: [
              { filters: [{ propertyName: 'name', operator: 'EQ', value: a.company }] },
            ],
            properties: ['name'],
            limit: 1,
          }
        : {
            filterGroups: [
              {
                filters: [{ propertyName: 'email', operator: 'EQ', value: a.contact_email ?? '' }],
              },
            ],
            properties: ['firstname', 'lastname'],
            limit: 1,
          };
      const [match] = await hubspot.search(
        type === 'company' ? 'companies' : 'contacts',
        lookup,
        ctx,
      );
      if (!match)
        return { data: { record: null, last_email: null }, recordCount: 0, recordIds: [] };
      const record = {
        type,
        id: match.id,
        name: type === 'company' ? companyName(match) : contactName(match),
      } as const;
      const [email] = await hubspot.search('emails', lastEmailSearch(type, match.id), ctx);
      return {
        data: { record, last_email: email ? projectEmail(email) : null },
        recordCount: email ? 2 : 1,
        recordIds: [`${type}:${match.id}`, ...(email ? [`email:${email.id}`] : [])],
      };
    },
  },
};

const DEFAULT_REGISTRY: ReadRegistry = {
  catalog: CATALOG,
  handlers: READ_HANDLERS as unknown as ReadRegistry['handlers'],
};

/** Whether an action is a read, as the catalog says (a write is held for approval). */
export function isRead(a: ValidatedAction, catalog: Catalog = CATALOG): a is ReadAction {
  return findAction(a.action, catalog)?.kind === 'read';
}

/** The handler of a read, refusing a name the catalog does not list as a read. */
function handlerOf(
  name: string,
  registry: ReadRegistry,
): { spec: ActionSpec; handler: AnyReadHandler } {
  const spec = findAction(name, registry.catalog);
  const handler = Object.hasOwn(registry.handlers, name) ? registry.handlers[name] : undefined;
  if (spec?.kind !== 'read' || !handler) throw new Error(`${name} is not a read of the catalog`);
  return { spec, handler };
}

/** How many HubSpot searches a read makes (for the gateway's budget under HubSpot's limits). */
export function searchesOf(
  a: { action: string },
  registry: ReadRegistry = DEFAULT_REGISTRY,
): number {
  return handlerOf(a.action, registry).handler.searches;
}

/**
 * Runs a validated, policy-checked read through its handler and returns only the fields of the
 * action's `returns` ({@link keepReturns}).
 */
export async function runRead(
  a: ReadAction,
  hubspot: HubSpotPort,
  ctx: CallContext,
): Promise<ReadAnswer>;
export async function runRead(
  a: { action: string } & Record<string, unknown>,
  hubspot: HubSpotPort,
  ctx: CallContext,
  registry: ReadRegistry,
): Promise<ReadAnswer<unknown>>;
export async function runRead(
  a: { action: string } & Record<string, unknown>,
  hubspot: HubSpotPort,
  ctx: CallContext,
  registry: ReadRegistry = DEFAULT_REGISTRY,
): Promise<ReadAnswer<unknown>> {
  const { spec, handler } = handlerOf(a.action, registry);
  bulkGuardQuery(queryValues(a, registry.catalog));
  const answer = await handler.run(a, hubspot, ctx);
  return { ...answer, data: keepReturns(spec, answer.data) };
}
