import type { CrmRecord } from './ports';
import { cleanText } from './text';

/**
 * Field projection (DESIGN §5.5): only allowlisted fields leave the gateway, every string is
 * cleaned of control and invisible characters and capped, and free text written by people
 * outside the business (email subjects, note bodies) is wrapped as untrusted data.
 */

/** Short CRM fields (names, emails, domains) are cleaned and capped at this many characters. */
export const FIELD_MAX = 256;
/** Free text (an email subject) is capped at this many characters. */
export const FREE_TEXT_MAX = 200;

/** Free text from the CRM, marked so that an agent treats it as data, never as instructions. */
export interface UntrustedText {
  untrusted_text: string;
  truncated: boolean;
}

function field(record: CrmRecord, name: string): string | null {
  const v = record.properties[name];
  const text = typeof v === 'string' ? cleanText(v, FIELD_MAX).text : '';
  return text.length > 0 ? text : null;
}

export function untrusted(value: string | null | undefined): UntrustedText | null {
  if (typeof value !== 'string') return null;
  const { text, truncated } = cleanText(value, FREE_TEXT_MAX);
  return { untrusted_text: text, truncated };
}

export interface ContactOut {
  id: string;
  firstname: string | null;
  lastname: string | null;
  email: string | null;
  company: string | null;
  last_contacted: string | null;
}

export function projectContact(r: CrmRecord): ContactOut {
  return {
    id: r.id,
    firstname: field(r, 'firstname'),
    lastname: field(r, 'lastname'),
    email: field(r, 'email'),
    company: field(r, 'company'),
    last_contacted: field(r, 'notes_last_contacted'),
  };
}

export interface CompanyOut {
  id: string;
  name: string | null;
  domain: string | null;
  last_contacted: string | null;
}

export function projectCompany(r: CrmRecord): CompanyOut {
  return {
    id: r.id,
    name: field(r, 'name'),
    domain: field(r, 'domain'),
    last_contacted: field(r, 'notes_last_contacted'),
  };
}

export interface LastEmailOut {
  record: { type: 'company' | 'contact'; id: string; name: string | null } | null;
  last_email: {
    timestamp: string | null;
    subject: UntrustedText | null;
    direction: string | null;
  } | null;
}

export function projectEmail(r: CrmRecord): NonNullable<LastEmailOut['last_email']> {
  return {
    timestamp: field(r, 'hs_timestamp'),
    subject: untrusted(r.properties.hs_email_subject),
    direction: field(r, 'hs_email_direction'),
  };
}

/** First and last name joined, then cleaned and capped as one string. */
export function contactName(r: CrmRecord): string | null {
  const parts = ['firstname', 'lastname']
    .map((p) => r.properties[p])
    .filter((v): v is string => typeof v === 'string');
  const name = cleanText(parts.join(' '), FIELD_MAX).text.trim();
  return name.length > 0 ? name : null;
}

export function companyName(r: CrmRecord): string | null {
  return field(r, 'name');
}
