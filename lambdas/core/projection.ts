import { type ActionSpec, getLastEmailInteraction, searchCompany, searchContact } from './catalog';
import type { CrmRecord } from './ports';
import { cleanText } from './text';

/**
 * Field projection (docs/ARCHITECTURE.md, section "The action catalog"): only the fields of
 * the action's `returns` leave the gateway, every string is cleaned of control and invisible
 * characters and capped, and free text written by people outside the business (email
 * subjects, note bodies) is wrapped as untrusted data.
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

/** How a returned field is read from a CRM record: the property, and whether it is free text. */
export interface FieldSource {
  property: string;
  /** Free text written by people outside the business: wrapped as {@link UntrustedText}. */
  untrusted?: true;
}

/**
 * A view of one kind of CRM record: the fields an answer gives of it (from the catalog's
 * `returns`) and, for each field not read from the property of its own name, where it comes
 * from. `id` is always the record's id.
 */
export interface RecordView<F extends string = string> {
  fields: readonly F[];
  sources: Partial<Record<F, FieldSource>>;
}

/** The fields of `returns` under `group` (`last_email.subject` gives `subject`). */
export function fieldsUnder<R extends string, G extends string>(
  returns: readonly R[],
  group: G,
): FieldsUnder<R, G>[] {
  const prefix = `${group}.`;
  return returns
    .filter((r) => r.startsWith(prefix))
    .map((r) => r.slice(prefix.length) as FieldsUnder<R, G>);
}

type FieldsUnder<R extends string, G extends string> = R extends `${G}.${infer F}` ? F : never;

/** The CRM properties a view reads: what a search for its records asks HubSpot for. */
export function propertiesOf(view: RecordView): string[] {
  return view.fields.filter((f) => f !== 'id').map((f) => sourceOf(view, f).property);
}

function sourceOf(view: RecordView, name: string): FieldSource {
  return (view.sources as Record<string, FieldSource | undefined>)[name] ?? { property: name };
}

type Projected<F extends string> = { [K in F]: K extends 'id' ? string : string | null };

/**
 * A CRM record as an answer gives it: exactly the view's fields, each cleaned and capped
 * ({@link FIELD_MAX}, or {@link FREE_TEXT_MAX} and wrapped when untrusted), empty ones null.
 */
export function projectRecord<F extends string>(
  r: CrmRecord,
  view: RecordView<F>,
): Record<string, string | UntrustedText | null> & Projected<F> {
  const out: Record<string, string | UntrustedText | null> = {};
  for (const name of view.fields) {
    const source = sourceOf(view, name);
    out[name] =
      name === 'id'
        ? r.id
        : source.untrusted
          ? untrusted(r.properties[source.property])
          : field(r, source.property);
  }
  return out as Record<string, string | UntrustedText | null> & Projected<F>;
}

/** A contact as `search_contact` returns it. */
export const CONTACT_VIEW: RecordView<(typeof searchContact.returns)[number]> = {
  fields: searchContact.returns,
  sources: { last_contacted: { property: 'notes_last_contacted' } },
};

/** A company as `search_company` returns it. */
export const COMPANY_VIEW: RecordView<(typeof searchCompany.returns)[number]> = {
  fields: searchCompany.returns,
  sources: { last_contacted: { property: 'notes_last_contacted' } },
};

const EMAIL_FIELDS = fieldsUnder(getLastEmailInteraction.returns, 'last_email');

/** An email as `get_last_email_interaction` returns it (under `last_email`). */
export const EMAIL_VIEW: RecordView<(typeof EMAIL_FIELDS)[number]> = {
  fields: EMAIL_FIELDS,
  sources: {
    timestamp: { property: 'hs_timestamp' },
    subject: { property: 'hs_email_subject', untrusted: true },
    direction: { property: 'hs_email_direction' },
  },
};

export type ContactOut = Projected<(typeof searchContact.returns)[number]>;
export type CompanyOut = Projected<(typeof searchCompany.returns)[number]>;
export type EmailOut = Omit<Projected<(typeof EMAIL_FIELDS)[number]>, 'subject'> & {
  subject: UntrustedText | null;
};

export interface LastEmailOut {
  record: { type: 'company' | 'contact'; id: string; name: string | null } | null;
  last_email: EmailOut | null;
}

export function projectContact(r: CrmRecord): ContactOut {
  return projectRecord(r, CONTACT_VIEW);
}

export function projectCompany(r: CrmRecord): CompanyOut {
  return projectRecord(r, COMPANY_VIEW);
}

export function projectEmail(r: CrmRecord): EmailOut {
  return projectRecord(r, EMAIL_VIEW) as unknown as EmailOut;
}

/**
 * The allowlist applied to every answer: exactly the fields of the action's `returns` (of each
 * listed record, when the action lists records), in that order; a field the answer lacks is
 * null, and a group (`record` of `record.id`) that is null or absent stays null. Whatever else
 * a handler put in its answer does not leave the gateway.
 */
export function keepReturns(spec: ActionSpec, data: unknown): Record<string, unknown> {
  if (spec.listedAs !== undefined) {
    const list = isObject(data) ? data[spec.listedAs] : undefined;
    return {
      [spec.listedAs]: Array.isArray(list) ? list.map((item) => pick(spec.returns, item)) : [],
    };
  }
  return pick(spec.returns, data);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function pick(paths: readonly string[], value: unknown): Record<string, unknown> {
  const groups = new Map<string, string[] | null>();
  for (const path of paths) {
    const dot = path.indexOf('.');
    if (dot < 0) {
      groups.set(path, null);
      continue;
    }
    const head = path.slice(0, dot);
    const rest = groups.get(head) ?? [];
    rest.push(path.slice(dot + 1));
    groups.set(head, rest);
  }
  const source = isObject(value) ? value : {};
  const out: Record<string, unknown> = {};
  for (const [head, rest] of groups) {
    const v = Object.hasOwn(source, head) ? source[head] : undefined;
    if (rest === null) out[head] = v ?? null;
    else out[head] = isObject(v) ? pick(rest, v) : null;
  }
  return out;
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
