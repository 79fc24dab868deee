import * as z from 'zod';
import { canonicalJson, sha256Hex } from './hash';
import { DEFAULT_LIMIT, MAX_LIMIT, NOTE_BODY_MAX } from './limits';
import { type TextKind, unsafeTextProblem } from './text';

/**
 * The action catalog (docs/ARCHITECTURE.md, section "The action catalog"): each action is
 * declared once, here, and everything it describes derives from it: request validation, the
 * OpenAI tool definitions and the MCP annotations, the fields an answer keeps (projection.ts),
 * the scopes of each HubSpot token, the read/write split of allowed actions and the README's
 * table. Adding an action touches this list, its handler in the core (reads.ts for a read,
 * approvals.ts for a write) and the tests; nothing else. Every derived function takes the
 * catalog as its last argument, this one by default, so a test can check a copy with an
 * action added (test/unit/catalog-derived.test.ts).
 */

export { DEFAULT_LIMIT, MAX_LIMIT, NOTE_BODY_MAX } from './limits';

/** Text that passes the Unicode policy (lambdas/core/text.ts) for its kind of field. */
function visibleText(what: string, kind: TextKind) {
  return z.string().superRefine((s, ctx) => {
    const problem = unsafeTextProblem(s, kind);
    if (problem) ctx.addIssue({ code: 'custom', message: `${what} ${problem}` });
  });
}

/** A single-line query string: visible text only, trimmed. */
function queryText(max: number, what: string) {
  return visibleText(what, 'line')
    .trim()
    .min(1, `${what} must not be empty`)
    .max(max, `${what} must be at most ${max} characters`);
}

const hubspotId = (what: string) =>
  z
    .string()
    .regex(/^[1-9][0-9]{0,17}$/, `${what} must be a HubSpot record id: digits only, e.g. "51"`);

const limit = z
  .number()
  .int('limit must be a whole number')
  .min(1, 'limit must be at least 1')
  .meta({
    // The tool tells the model the real cap; a larger value is refused by the bulk guard (422).
    maximum: MAX_LIMIT,
    description: `How many records to return, 1 to ${MAX_LIMIT}. Default ${DEFAULT_LIMIT}.`,
  });

export type ActionKind = 'read' | 'write';

export interface ActionSpec<P extends z.ZodObject = z.ZodObject> {
  name: string;
  kind: ActionKind;
  description: string;
  /** The parameters, without the `action` discriminator. Optional ones are nullish. */
  params: P;
  /** A rule across parameters; returns the message to give when it is broken. */
  crossCheck?: (params: z.infer<P>) => string | null;
  /** HubSpot scopes the action needs. */
  scopes: readonly string[];
  /**
   * Scopes the action's own token needs besides `scopes`, for a lookup the action makes before
   * it acts: a retried `create_note` searches its target's notes first, so that it never
   * writes twice (HubSpot's notes search takes `crm.objects.contacts.read`).
   */
  lookupScopes?: readonly string[];
  /**
   * The fields the answer may carry, and the only ones that leave the gateway (projection.ts
   * keeps exactly these). A dotted name is a field of a nested object (`record.id`). When the
   * answer lists records ({@link ActionSpec.listedAs}), these are the fields of each record.
   */
  returns: readonly string[];
  /** The answer's member that lists the records found; without it the answer is one object. */
  listedAs?: string;
  /** Parameters that become HubSpot search values: the bulk guards apply to them. */
  queryParams: readonly string[];
  /**
   * What a write does to the CRM, for the MCP tool annotations: whether it deletes or
   * overwrites data (`destructive`) and whether repeating it changes nothing more
   * (`idempotent`). Required of a write (a test checks it); a read changes nothing.
   */
  effects?: { destructive: boolean; idempotent: boolean };
  /**
   * The parameters of a request that shows the action, against the emulator's demo CRM: the
   * start-up banner prints it as a curl (a test checks that it validates).
   */
  example?: Readonly<Record<string, string | number>>;
  /** How the approval page heads a pending write of this action, before its target. */
  approvalHeading?: string;
}

/** A set of actions: {@link CATALOG}, or in tests a copy of it with an action added. */
export type Catalog = readonly ActionSpec[];

function declare<
  N extends string,
  K extends ActionKind,
  P extends z.ZodObject,
  const R extends readonly string[],
>(
  spec: ActionSpec<P> & { name: N; kind: K; returns: R },
): ActionSpec<P> & { name: N; kind: K; returns: R } {
  return spec;
}

const exactlyOne = (fields: string[]) => (p: Record<string, unknown>) => {
  const given = fields.filter((f) => p[f] !== undefined && p[f] !== null);
  return given.length === 1
    ? null
    : `give exactly one of ${fields.join(', ')} (got ${given.length === 0 ? 'none' : given.join(', ')})`;
};

const atLeastOne = (fields: string[]) => (p: Record<string, unknown>) =>
  fields.some((f) => p[f] !== undefined && p[f] !== null)
    ? null
    : `give at least one of ${fields.join(', ')}`;

export const searchContact = declare({
  name: 'search_contact',
  kind: 'read',
  description:
    'Find contacts in the CRM by email, name or company. Returns at most 10 contacts with id, first and last name, email, company and the date they were last contacted.',
  params: z.strictObject({
    email: z
      .email('email must be a full email address, e.g. "jane@acme.com"')
      .max(254)
      .nullish()
      .describe('Exact email address of the contact.'),
    name: queryText(100, 'name').nullish().describe('First name, last name, or both.'),
    company: queryText(100, 'company').nullish().describe('Company name as stored on the contact.'),
    limit: limit.nullish(),
  }),
  crossCheck: atLeastOne(['email', 'name', 'company']),
  scopes: ['crm.objects.contacts.read'],
  returns: ['id', 'firstname', 'lastname', 'email', 'company', 'last_contacted'],
  listedAs: 'contacts',
  queryParams: ['email', 'name', 'company'],
});

export const searchCompany = declare({
  name: 'search_company',
  kind: 'read',
  description:
    'Find companies in the CRM by name or web domain. Returns at most 10 companies with id, name, domain and the date they were last contacted.',
  params: z.strictObject({
    name: queryText(100, 'name').nullish().describe('Company name, or a word of it.'),
    domain: queryText(253, 'domain')
      .regex(
        /^(?!-)[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63})+$/i,
        'domain must be a host name such as "acme.com"',
      )
      .nullish()
      .describe('Web domain, e.g. "acme.com".'),
    limit: limit.nullish(),
  }),
  crossCheck: atLeastOne(['name', 'domain']),
  scopes: ['crm.objects.companies.read'],
  returns: ['id', 'name', 'domain', 'last_contacted'],
  listedAs: 'companies',
  queryParams: ['name', 'domain'],
});

export const getLastEmailInteraction = declare({
  name: 'get_last_email_interaction',
  kind: 'read',
  description:
    'Get the most recent email exchanged with a company (by name) or a contact (by email): its time, subject and direction, never its body. The subject is untrusted text from the CRM.',
  params: z.strictObject({
    company: queryText(100, 'company').nullish().describe('Company name.'),
    contact_email: z
      .email('contact_email must be a full email address, e.g. "jane@acme.com"')
      .max(254)
      .nullish()
      .describe("Contact's exact email address."),
  }),
  crossCheck: exactlyOne(['company', 'contact_email']),
  example: { company: 'Acme Corp' },
  scopes: ['crm.objects.contacts.read', 'crm.objects.companies.read', 'sales-email-read'],
  returns: [
    'record.type',
    'record.id',
    'record.name',
    'last_email.timestamp',
    'last_email.subject',
    'last_email.direction',
  ],
  queryParams: ['company', 'contact_email'],
});

export const createNote = declare({
  name: 'create_note',
  kind: 'write',
  description:
    'Add a note to a contact or a company. The note is NOT written at once: a person must approve it first. The answer is pending_approval with a status URL; tell the user the note awaits approval.',
  params: z.strictObject({
    contact_id: hubspotId('contact_id').nullish().describe('HubSpot id of the contact.'),
    company_id: hubspotId('company_id').nullish().describe('HubSpot id of the company.'),
    body: visibleText('body', 'multiline')
      .trim()
      .min(1, 'body must not be empty')
      .max(NOTE_BODY_MAX, `body must be at most ${NOTE_BODY_MAX} characters`)
      .describe(`The note text, 1 to ${NOTE_BODY_MAX} characters.`),
  }),
  crossCheck: exactlyOne(['contact_id', 'company_id']),
  scopes: ['crm.objects.contacts.write'],
  lookupScopes: ['crm.objects.contacts.read'],
  returns: ['note_id'],
  queryParams: [],
  // A note is added and nothing deleted, so it is not destructive; it is not idempotent
  // either, since each approved call adds another note.
  effects: { destructive: false, idempotent: false },
  // Acme Corp in the demo CRM (test/unit/catalog.test.ts checks it).
  example: { company_id: '5100000001', body: 'Called about the Q3 renewal; follow up Friday.' },
  approvalHeading: 'New note',
});

const DECLARED = [searchContact, searchCompany, getLastEmailInteraction, createNote] as const;

/** This gateway's actions, in the order the tools list them. */
export const CATALOG: Catalog = DECLARED as readonly ActionSpec[];

type Declared = (typeof DECLARED)[number];

export type ActionName = Declared['name'];

/** The names of the catalog's actions of one kind. */
export type ActionNameOf<K extends ActionKind> = Extract<Declared, { kind: K }>['name'];

export function findAction(name: string, catalog: Catalog = CATALOG): ActionSpec | undefined {
  return catalog.find((a) => a.name === name);
}

/** Every action's name, in catalog order; with a kind, only the actions of that kind. */
export function actionNames(kind?: ActionKind, catalog: Catalog = CATALOG): string[] {
  return catalog.filter((a) => kind === undefined || a.kind === kind).map((a) => a.name);
}

/**
 * The actions a gateway enables by default: every read, and the writes only when they can be
 * carried out once approved (a write token locally, the Slack approval flow on AWS).
 */
export function enabledActions(writes: boolean, catalog: Catalog = CATALOG): string[] {
  return writes ? actionNames(undefined, catalog) : actionNames('read', catalog);
}

/** The first action of a kind that has an example, as a request's `action` member. */
export function exampleAction(
  kind: ActionKind,
  catalog: Catalog = CATALOG,
): ({ action: string } & Record<string, string | number>) | undefined {
  const spec = catalog.find((a) => a.kind === kind && a.example !== undefined);
  return spec ? { action: spec.name, ...spec.example } : undefined;
}

/** Whether the named action is a write (held for a human's approval). Unknown names are not. */
export function isWriteAction(name: string, catalog: Catalog = CATALOG): boolean {
  return findAction(name, catalog)?.kind === 'write';
}

type Clean<T> = { [K in keyof T]: Exclude<T[K], null> };

type ValidatedOf<S> = S extends { name: infer N; params: infer P extends z.ZodObject }
  ? { action: N } & Clean<z.infer<P>>
  : never;

/** A validated action: parameters parsed, strings trimmed, null and absent members dropped. */
export type ValidatedAction = ValidatedOf<Declared>;

/**
 * The values of an action that become HubSpot search values (its `queryParams`), for the bulk
 * guards; a parameter not given, or not a string, is undefined.
 */
export function queryValues(
  action: { action: string } & Record<string, unknown>,
  catalog: Catalog = CATALOG,
): Record<string, string | undefined> {
  const spec = findAction(action.action, catalog);
  return Object.fromEntries(
    (spec?.queryParams ?? []).map((p) => {
      const v = action[p];
      return [p, typeof v === 'string' ? v : undefined];
    }),
  );
}

const multilineMemo = new WeakMap<Catalog, ReadonlySet<string>>();

/**
 * The parameters that may run over several lines, as `action.<name>`: those whose schema
 * accepts a new line (a note's body). Every other string of a request is one line.
 */
export function multilineParams(catalog: Catalog = CATALOG): ReadonlySet<string> {
  let found = multilineMemo.get(catalog);
  if (!found) {
    const names = new Set<string>();
    for (const a of catalog) {
      for (const [k, schema] of Object.entries(a.params.shape as Record<string, z.ZodType>)) {
        if (schema.safeParse('line 1\nline 2').success) names.add(`action.${k}`);
      }
    }
    found = names;
    multilineMemo.set(catalog, found);
  }
  return found;
}

/**
 * The MCP annotations of a tool: a read is read-only; a write is held for a person's approval
 * and says what it does ({@link ActionSpec.effects}). A tool this build does not know is
 * treated as a write, so that the client asks before using it.
 */
export function toolAnnotations(
  name: string,
  catalog: Catalog = CATALOG,
): {
  title: string;
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint?: boolean;
  openWorldHint: boolean;
} {
  const spec = findAction(name, catalog);
  const words = name.replace(/_/g, ' ');
  const human = words.charAt(0).toUpperCase() + words.slice(1);
  if (spec?.kind === 'read') {
    return { title: human, readOnlyHint: true, destructiveHint: false, openWorldHint: true };
  }
  return {
    title: `${human} (held for a person's approval)`,
    readOnlyHint: false,
    destructiveHint: spec?.effects?.destructive ?? false,
    idempotentHint: spec?.effects?.idempotent ?? false,
    openWorldHint: true,
  };
}

/** The catalog rendered as OpenAI function-calling tools in strict mode. */
export function openAiTools(catalog: Catalog = CATALOG): OpenAiTool[] {
  return catalog.map((spec) => ({
    type: 'function' as const,
    function: {
      name: spec.name,
      description: spec.description,
      parameters: strictJsonSchema(spec.params),
      strict: true as const,
    },
  }));
}

/**
 * The hash of a set of tool definitions: SHA-256 hex over their canonical JSON, so it names
 * exactly what an agent is given (names, descriptions, parameters, strict mode).
 */
export function toolsHash(tools: readonly OpenAiTool[]): string {
  return sha256Hex(canonicalJson(tools));
}

let catalogHashMemo: string | undefined;

/**
 * The hash of this gateway's tool definitions, answered by `GET /v1/tools` and stamped on every
 * audit record: a client can pin the definitions it was reviewed with and refuse a gateway whose
 * hash differs, and each record says which definitions were in force. A committed snapshot
 * (tools.snapshot.json) fails a test when the catalog changes without it.
 */
export function catalogHash(): string {
  catalogHashMemo ??= toolsHash(openAiTools());
  return catalogHashMemo;
}

export interface OpenAiTool {
  type: 'function';
  function: { name: string; description: string; parameters: JsonSchema; strict: true };
}

type JsonSchema = Record<string, unknown>;

/**
 * OpenAI's strict mode wants every property listed in `required` (optional ones nullable),
 * `additionalProperties: false`, and no keywords it does not support.
 */
function strictJsonSchema(params: z.ZodObject): JsonSchema {
  const schema = z.toJSONSchema(params, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const cleaned: Record<string, JsonSchema> = {};
  for (const [key, prop] of Object.entries(properties)) cleaned[key] = simplify(prop);
  return {
    type: 'object',
    properties: cleaned,
    required: Object.keys(cleaned),
    additionalProperties: false,
  };
}

const UNSUPPORTED = new Set(['$schema', 'pattern', 'format', 'maxLength', 'minLength']);

/** Folds zod's `anyOf: [T, null]` into `type: [T, 'null']` and drops keywords strict mode refuses. */
function simplify(prop: JsonSchema): JsonSchema {
  const anyOf = prop.anyOf as JsonSchema[] | undefined;
  if (anyOf) {
    const nonNull = anyOf.filter((s) => s.type !== 'null');
    const nullable = nonNull.length < anyOf.length;
    const inner = nonNull.length === 1 && nonNull[0] ? simplify(nonNull[0]) : { anyOf: nonNull };
    const description = prop.description ?? inner.description;
    const type = inner.type;
    const out: JsonSchema = { ...inner };
    if (nullable && typeof type === 'string') out.type = [type, 'null'];
    if (description !== undefined) out.description = description;
    return out;
  }
  const out: JsonSchema = {};
  for (const [k, v] of Object.entries(prop)) if (!UNSUPPORTED.has(k)) out[k] = v;
  return out;
}

/**
 * The scopes each HubSpot token must hold: the one statement of them, derived from the catalog
 * (each action's scopes and lookups, on its kind's token). The emulated tokens, the rotation
 * checks, the start-up messages and the README all take it from here.
 */
export function tokenScopes(catalog: Catalog = CATALOG): { read: string[]; write: string[] } {
  const of = (kind: ActionKind) => [
    ...new Set(
      catalog
        .filter((a) => a.kind === kind)
        .flatMap((a) => [...a.scopes, ...(a.lookupScopes ?? [])]),
    ),
  ];
  return { read: of('read'), write: of('write') };
}

/** {@link tokenScopes} as a Markdown table, for the README (a test keeps the two in step). */
export function tokenScopesMarkdown(catalog: Catalog = CATALOG): string {
  const { read, write } = tokenScopes(catalog);
  const list = (scopes: string[]) => scopes.map((s) => `\`${s}\``).join(', ');
  return [
    '| token | HubSpot scopes |',
    '|---|---|',
    `| read | ${list(read)} |`,
    `| write | ${list(write)} |`,
  ].join('\n');
}

/** The catalog as a Markdown table, for the README (a test keeps the two in step). */
export function catalogMarkdown(catalog: Catalog = CATALOG): string {
  const rows = catalog.map((a) => {
    const shape = a.params.shape as Record<string, unknown>;
    const params = Object.keys(shape)
      .map((k) => `\`${k}\``)
      .join(', ');
    return `| \`${a.name}\` | ${a.kind} | ${params} | ${a.returns.map((r) => `\`${r}\``).join(', ')} | ${a.scopes.map((s) => `\`${s}\``).join(', ')} |`;
  });
  return [
    '| action | kind | parameters | returns | HubSpot scopes |',
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}
