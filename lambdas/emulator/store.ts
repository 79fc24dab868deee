/**
 * The emulator's CRM: the records of each object type (a copy of the seed), their associations in
 * both directions, the notes created through the API, and each type's properties as HubSpot
 * defines them (which exist, which are answered by default, what the free-text query searches).
 * The filter and sort engine over these records is `search.ts`.
 */

import type { SearchDoc } from './search';
import type { AssociationTarget, CrmObjectType, CrmRecord, CrmSeed } from './seed';

export interface TypeSchema {
  singular: AssociationTarget;
  /** Upper-case name used in HubSpot error contexts. */
  label: 'CONTACT' | 'COMPANY' | 'EMAIL' | 'NOTE';
  createdProperty: string;
  modifiedProperty: string;
  /** Every property that exists on this type (requesting another one returns nothing for it). */
  properties: ReadonlySet<string>;
  /** Returned when the caller requests no property. */
  defaults: readonly string[];
  /** What the free-text `query` searches. */
  queryProperties: readonly string[];
}

function schema(
  singular: AssociationTarget,
  label: TypeSchema['label'],
  createdProperty: string,
  modifiedProperty: string,
  own: readonly string[],
  defaults: readonly string[],
  queryProperties: readonly string[],
): TypeSchema {
  return {
    singular,
    label,
    createdProperty,
    modifiedProperty,
    properties: new Set([...own, 'hs_object_id', createdProperty, modifiedProperty]),
    defaults,
    queryProperties,
  };
}

// Contacts name their modification date `lastmodifieddate`; the other objects `hs_lastmodifieddate`,
// and engagements their creation date `hs_createdate` (as HubSpot does).
export const SCHEMAS: Readonly<Record<CrmObjectType, TypeSchema>> = {
  contacts: schema(
    'contact',
    'CONTACT',
    'createdate',
    'lastmodifieddate',
    [
      'firstname',
      'lastname',
      'email',
      'company',
      'phone',
      'jobtitle',
      'lifecyclestage',
      'notes_last_contacted',
      'associatedcompanyid',
      'city',
      'hubspot_owner_id',
    ],
    ['createdate', 'email', 'firstname', 'hs_object_id', 'lastmodifieddate', 'lastname'],
    ['firstname', 'lastname', 'email', 'phone', 'company'],
  ),
  companies: schema(
    'company',
    'COMPANY',
    'createdate',
    'hs_lastmodifieddate',
    [
      'name',
      'domain',
      'industry',
      'city',
      'phone',
      'numberofemployees',
      'lifecyclestage',
      'notes_last_contacted',
      'description',
      'hubspot_owner_id',
    ],
    ['createdate', 'domain', 'hs_lastmodifieddate', 'hs_object_id', 'name'],
    ['name', 'domain', 'phone'],
  ),
  emails: schema(
    'email',
    'EMAIL',
    'hs_createdate',
    'hs_lastmodifieddate',
    [
      'hs_timestamp',
      'hs_email_subject',
      'hs_email_direction',
      'hs_email_text',
      'hs_email_status',
      'hs_email_from_email',
      'hs_email_to_email',
      'hubspot_owner_id',
    ],
    ['hs_createdate', 'hs_lastmodifieddate', 'hs_object_id'],
    ['hs_email_subject'],
  ),
  notes: schema(
    'note',
    'NOTE',
    'hs_createdate',
    'hs_lastmodifieddate',
    ['hs_note_body', 'hs_timestamp', 'hubspot_owner_id', 'hs_attachment_ids'],
    ['hs_createdate', 'hs_lastmodifieddate', 'hs_object_id'],
    ['hs_note_body'],
  ),
};

export const OBJECT_TYPES = Object.keys(SCHEMAS) as CrmObjectType[];
export const PLURAL: Readonly<Record<AssociationTarget, CrmObjectType>> = {
  contact: 'contacts',
  company: 'companies',
  email: 'emails',
  note: 'notes',
};

/** HubSpot-defined association type ids for notes. */
export const NOTE_ASSOCIATION_TYPES = { noteToContact: 202, noteToCompany: 190 } as const;

export interface NoteAssociation {
  toObjectType: 'contacts' | 'companies';
  toId: string;
  associationTypeId: number;
}

export interface NoteRecord {
  id: string;
  body: string | null;
  /** hs_timestamp, normalised to ISO 8601. */
  timestamp: string;
  associations: NoteAssociation[];
  createdAt: string;
}

type AssociationIndex = Map<string, Map<AssociationTarget, Set<string>>>;

/** Both directions of every association, keyed `${type}:${id}`. */
function buildAssociationIndex(data: CrmSeed): AssociationIndex {
  const index: AssociationIndex = new Map();
  const add = (type: CrmObjectType, id: string, target: AssociationTarget, targetId: string) => {
    const key = `${type}:${id}`;
    let byTarget = index.get(key);
    if (!byTarget) {
      byTarget = new Map();
      index.set(key, byTarget);
    }
    let ids = byTarget.get(target);
    if (!ids) {
      ids = new Set();
      byTarget.set(target, ids);
    }
    ids.add(targetId);
  };
  for (const type of OBJECT_TYPES) {
    for (const record of data[type]) {
      for (const [target, ids] of Object.entries(record.associations ?? {}) as [
        AssociationTarget,
        string[],
      ][]) {
        for (const targetId of ids) {
          add(type, record.id, target, targetId);
          add(PLURAL[target], targetId, SCHEMAS[type].singular, record.id);
        }
      }
    }
  }
  return index;
}

/** A record as search sees it: its properties with the id and dates HubSpot adds, associations. */
export interface Doc extends SearchDoc {
  record: CrmRecord;
}

function toDoc(type: CrmObjectType, record: CrmRecord, index: AssociationIndex): Doc {
  const s = SCHEMAS[type];
  const associations: Partial<Record<string, string[]>> = {};
  for (const [target, ids] of index.get(`${type}:${record.id}`) ?? []) {
    associations[target] = [...ids].sort();
  }
  return {
    id: record.id,
    record,
    properties: {
      ...record.properties,
      hs_object_id: record.id,
      [s.createdProperty]: record.createdAt,
      [s.modifiedProperty]: record.updatedAt,
    },
    associations,
  };
}

/** Requested properties (or the defaults) that exist on the type, unset ones as null, keys sorted. */
function projectProperties(
  type: CrmObjectType,
  doc: Doc,
  requested: readonly string[] | null,
): Record<string, string | null> {
  const s = SCHEMAS[type];
  const names = new Set([
    ...(requested ?? s.defaults),
    'hs_object_id',
    s.createdProperty,
    s.modifiedProperty,
  ]);
  const out: Record<string, string | null> = {};
  for (const name of [...names].sort()) {
    if (s.properties.has(name)) out[name] = doc.properties[name] ?? null;
  }
  return out;
}

/** The record as HubSpot answers it, with the `requested` properties (null: the defaults). */
export function publicObject(type: CrmObjectType, doc: Doc, requested: readonly string[] | null) {
  return {
    id: doc.id,
    properties: projectProperties(type, doc, requested),
    createdAt: doc.record.createdAt,
    updatedAt: doc.record.updatedAt,
    archived: false,
  };
}

/** The first id of a created note when the seed has none above it (HubSpot's ids are this large). */
const FIRST_NOTE_ID_FLOOR = 5_400_000_000n;

export class CrmStore {
  private readonly data: CrmSeed;
  private readonly created: NoteRecord[] = [];
  private nextNoteId: bigint;
  // Searchable documents per type, rebuilt only when the data changes (a note is created).
  private docCache: Partial<Record<CrmObjectType, Doc[]>> = {};

  /** A copy of `seed` (the caller's stays untouched); `now` dates the notes created. */
  constructor(
    seed: CrmSeed,
    private readonly now: () => number,
  ) {
    this.data = structuredClone(seed);
    this.nextNoteId =
      this.data.notes.reduce(
        (max, n) => (/^\d+$/.test(n.id) && BigInt(n.id) > max ? BigInt(n.id) : max),
        FIRST_NOTE_ID_FLOOR,
      ) + 1n;
  }

  /** Every record of the type, as search sees it. */
  docs(type: CrmObjectType): Doc[] {
    let docs = this.docCache[type];
    if (!docs) {
      const index = buildAssociationIndex(this.data);
      docs = this.data[type].map((record) => toDoc(type, record, index));
      this.docCache[type] = docs;
    }
    return docs;
  }

  find(type: CrmObjectType, id: string): Doc | undefined {
    return this.docs(type).find((d) => d.id === id);
  }

  has(type: CrmObjectType, id: string): boolean {
    return this.data[type].some((r) => r.id === id);
  }

  /** Stores a note (its properties already valid, `timestamp` normalised) and returns it. */
  addNote(
    properties: Readonly<Record<string, string>>,
    timestamp: string,
    associations: NoteAssociation[],
  ): Doc {
    const id = String(this.nextNoteId);
    this.nextNoteId += 1n;
    const createdAt = new Date(this.now()).toISOString();
    const record: CrmRecord = {
      id,
      properties: { ...properties, hs_timestamp: timestamp },
      createdAt,
      updatedAt: createdAt,
      associations: {
        contact: associations.filter((a) => a.toObjectType === 'contacts').map((a) => a.toId),
        company: associations.filter((a) => a.toObjectType === 'companies').map((a) => a.toId),
      },
    };
    this.data.notes.push(record);
    this.created.push({
      id,
      body: properties.hs_note_body ?? null,
      timestamp,
      associations,
      createdAt,
    });
    this.docCache = {};
    return toDoc('notes', record, buildAssociationIndex(this.data));
  }

  /** Notes created through the API so far (copies), in creation order. */
  createdNotes(): NoteRecord[] {
    return this.created.map((n) => ({
      ...n,
      associations: n.associations.map((a) => ({ ...a })),
    }));
  }
}
