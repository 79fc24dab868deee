import type { ValidatedAction } from './catalog';
import { DEFAULT_LIMIT } from './limits';
import { bulkGuardQuery } from './policy';
import type { CallContext, HubSpotPort, SearchFilter, SearchRequest } from './ports';
import {
  type CompanyOut,
  type ContactOut,
  companyName,
  contactName,
  type LastEmailOut,
  projectCompany,
  projectContact,
  projectEmail,
} from './projection';

type ReadAction = Exclude<ValidatedAction, { action: 'create_note' }>;

export type ReadResult = { contacts: ContactOut[] } | { companies: CompanyOut[] } | LastEmailOut;

const CONTACT_PROPS = ['firstname', 'lastname', 'email', 'company', 'notes_last_contacted'];
const COMPANY_PROPS = ['name', 'domain', 'notes_last_contacted'];
const EMAIL_PROPS = ['hs_timestamp', 'hs_email_subject', 'hs_email_direction'];

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

/** The values of a read that become HubSpot search values: the bulk guards check them. */
export function queryValues(a: ReadAction): Record<string, string | undefined> {
  switch (a.action) {
    case 'search_contact':
      return { email: a.email, name: a.name, company: a.company };
    case 'search_company':
      return { name: a.name, domain: a.domain };
    case 'get_last_email_interaction':
      return { company: a.company, contact_email: a.contact_email };
  }
}

export function isRead(a: ValidatedAction): a is ReadAction {
  return a.action !== 'create_note';
}

/** How many HubSpot searches a read makes (for the gateway's budget under HubSpot's limits). */
export function searchesOf(a: ReadAction): number {
  return a.action === 'get_last_email_interaction' ? 2 : 1;
}

/** Runs a validated, policy-checked read and returns only the allowlisted fields. */
export async function runRead(
  a: ReadAction,
  hubspot: HubSpotPort,
  ctx: CallContext,
): Promise<{ data: ReadResult; recordCount: number; recordIds: string[] }> {
  bulkGuardQuery(queryValues(a));
  switch (a.action) {
    case 'search_contact': {
      const found = await hubspot.search('contacts', contactSearch(a), ctx);
      return {
        data: { contacts: found.map(projectContact) },
        recordCount: found.length,
        recordIds: found.map((r) => `contact:${r.id}`),
      };
    }
    case 'search_company': {
      const found = await hubspot.search('companies', companySearch(a), ctx);
      return {
        data: { companies: found.map(projectCompany) },
        recordCount: found.length,
        recordIds: found.map((r) => `company:${r.id}`),
      };
    }
    case 'get_last_email_interaction': {
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
    }
  }
}
