/**
 * Adding an action touches the catalog, its handler in the core and the tests; nothing else
 * (docs/ARCHITECTURE.md, section "The action catalog"). These tests add a throw-away read and a
 * throw-away write to a copy of the catalog and check that every surface derived from it takes
 * them in, each the way its kind asks; then that no other source file names an action.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import * as z from 'zod';
import { HubSpotAdapter } from '../../lambdas/adapters/hubspot/hubspot-adapter';
import {
  type ActionSpec,
  actionNames,
  CATALOG,
  type Catalog,
  catalogHash,
  catalogMarkdown,
  enabledActions,
  findAction,
  isWriteAction,
  multilineParams,
  openAiTools,
  tokenScopes,
  tokenScopesMarkdown,
  toolAnnotations,
  toolsHash,
} from '../../lambdas/core/catalog';
import type { CallContext, HubSpotPort } from '../../lambdas/core/ports';
import { keepReturns } from '../../lambdas/core/projection';
import {
  type AnyReadHandler,
  isRead,
  READ_HANDLERS,
  type ReadRegistry,
  runRead,
  searchesOf,
} from '../../lambdas/core/reads';
import { screenStrings, validateAction } from '../../lambdas/core/validate';
import { type Emulator, startEmulator } from '../../lambdas/emulator/server';
import { mcpTools } from '../../lambdas/mcp/server';
import { codeOf } from '../helpers/error-code';
import { block, cells } from '../helpers/readme';

/** A read no gateway has: companies by exact web domain, with a scope no real action needs. */
const lookupDomain: ActionSpec = {
  name: 'lookup_domain',
  kind: 'read',
  description: 'Find the companies that use a web domain. Returns their id and name.',
  params: z.strictObject({
    domain: z
      .string()
      .regex(/^[a-z0-9.-]{1,253}$/)
      .describe('Web domain, e.g. "acme.com".'),
    note: z.string().max(10).nullish().describe('Ignored; a parameter that is not a query.'),
  }),
  scopes: ['crm.objects.companies.read', 'crm.lists.read'],
  returns: ['id', 'name'],
  listedAs: 'matches',
  queryParams: ['domain'],
};

/** A write no gateway has: it deletes, and repeating it changes nothing more. */
const archiveCompany: ActionSpec = {
  name: 'archive_company',
  kind: 'write',
  description: 'Archive a company. Held for a person to approve first.',
  params: z.strictObject({
    company_id: z.string().regex(/^[1-9][0-9]*$/),
    reason: z.string().min(1).max(500).describe('Why, over as many lines as needed.'),
  }),
  scopes: ['crm.objects.companies.write'],
  lookupScopes: ['crm.objects.companies.read'],
  returns: ['archived_id'],
  queryParams: [],
  effects: { destructive: true, idempotent: true },
};

const COPY: Catalog = [...CATALOG, lookupDomain, archiveCompany];
const NEW = [lookupDomain.name, archiveCompany.name];

/** A naive handler: it hands back every property HubSpot sent, and more. */
const lookupHandler: AnyReadHandler = {
  searches: 1,
  async run(a, hubspot, ctx) {
    const found = await hubspot.search(
      'companies',
      {
        filterGroups: [
          { filters: [{ propertyName: 'domain', operator: 'EQ', value: String(a.domain) }] },
        ],
        properties: ['name', 'domain', 'notes_last_contacted'],
        limit: 10,
      },
      ctx,
    );
    return {
      data: {
        matches: found.map((r) => ({ ...r.properties, id: r.id, internal: 'leak' })),
        debug: { query: a },
      },
      recordCount: found.length,
      recordIds: found.map((r) => `company:${r.id}`),
    };
  },
};

const REGISTRY: ReadRegistry = {
  catalog: COPY,
  handlers: {
    ...(READ_HANDLERS as unknown as ReadRegistry['handlers']),
    lookup_domain: lookupHandler,
    // A handler under a write's name is never run as a read: the catalog says write.
    archive_company: lookupHandler,
  },
};

describe('a copy of the catalog with a read and a write added', () => {
  it('validates their parameters: accepts, refuses, and applies the guards of their kind', () => {
    expect(
      validateAction({ action: 'lookup_domain', domain: 'acme.com', note: null }, COPY),
    ).toEqual({ action: 'lookup_domain', domain: 'acme.com' });
    expect(codeOf(() => validateAction({ action: 'lookup_domain', domain: 'acme.com' }))).toBe(
      'unknown_action',
    );
    expect(codeOf(() => validateAction({ action: 'lookup_domain' }, COPY))).toBe(
      'validation_failed',
    );
    expect(
      codeOf(() => validateAction({ action: 'lookup_domain', domain: 'a.com', x: 1 }, COPY)),
    ).toBe('validation_failed');
    // A read's query parameter gets the bulk guards; its other parameters do not.
    expect(codeOf(() => validateAction({ action: 'lookup_domain', domain: 'a' }, COPY))).toBe(
      'bulk_request_rejected',
    );
    expect(
      codeOf(() =>
        validateAction({ action: 'lookup_domain', domain: 'acme.com', note: '*' }, COPY),
      ),
    ).toBe('no error');
    // A read is refused a paging cursor; a write is not a search and has no such guard.
    expect(
      codeOf(() =>
        validateAction({ action: 'lookup_domain', domain: 'acme.com', after: '9' }, COPY),
      ),
    ).toBe('bulk_request_rejected');
    expect(
      validateAction({ action: 'archive_company', company_id: '51', reason: 'dup' }, COPY),
    ).toEqual({ action: 'archive_company', company_id: '51', reason: 'dup' });
    expect(
      codeOf(() =>
        validateAction({ action: 'archive_company', company_id: 'x', reason: 'd' }, COPY),
      ),
    ).toBe('validation_failed');
  });

  it('lets a new line through exactly where the schema takes one', () => {
    const body = (reason: string) => ({
      user_id: 'u-1',
      agent_prompt: 'p',
      action: { action: 'archive_company', company_id: '51', reason },
    });
    expect(multilineParams(COPY)).toEqual(new Set(['action.body', 'action.reason']));
    expect(multilineParams()).toEqual(new Set(['action.body']));
    expect(screenStrings(body('one\ntwo'), COPY)).toEqual(body('one\ntwo'));
    expect(codeOf(() => screenStrings(body('one\ntwo')))).toBe('validation_failed');
    expect(
      codeOf(() =>
        screenStrings(
          { ...body('x'), action: { action: 'lookup_domain', domain: 'a\nb.com' } },
          COPY,
        ),
      ),
    ).toBe('validation_failed');
  });

  it('renders them as OpenAI strict tools, and the hash names the change', () => {
    const tools = openAiTools(COPY);
    expect(tools.map((t) => t.function.name)).toEqual([...actionNames(), ...NEW]);
    expect(tools.slice(0, CATALOG.length)).toEqual(openAiTools());
    const lookup = tools.find((t) => t.function.name === 'lookup_domain')?.function;
    expect(lookup).toMatchObject({
      description: lookupDomain.description,
      strict: true,
      parameters: {
        type: 'object',
        required: ['domain', 'note'],
        additionalProperties: false,
        properties: {
          domain: { type: 'string', description: 'Web domain, e.g. "acme.com".' },
          note: { type: ['string', 'null'] },
        },
      },
    });
    expect(toolsHash(tools)).not.toBe(catalogHash());
  });

  it('lists them as MCP tools with the annotations of their kind', () => {
    const list = {
      request_id: 'req_1',
      catalog_hash: toolsHash(openAiTools(COPY)),
      tools: openAiTools(COPY),
    };
    const byName = new Map(mcpTools(list, COPY).map((t) => [t.name, t]));
    expect(byName.get('lookup_domain')).toMatchObject({
      title: 'Lookup domain',
      annotations: { readOnlyHint: true, destructiveHint: false, openWorldHint: true },
    });
    expect(byName.get('archive_company')).toMatchObject({
      title: "Archive company (held for a person's approval)",
      annotations: {
        readOnlyHint: false,
        destructiveHint: true,
        idempotentHint: true,
        openWorldHint: true,
      },
    });
    // A build that does not know a tool treats it as a write, so the client asks first.
    const unknown = new Map(mcpTools(list).map((t) => [t.name, t]));
    expect(unknown.get('lookup_domain')?.annotations?.readOnlyHint).toBe(false);
    expect(toolAnnotations('create_note', COPY)).toEqual(toolAnnotations('create_note'));
  });

  it('classifies them as a read and a write for the allowed actions and the write filters', () => {
    expect(actionNames('read', COPY)).toEqual([...actionNames('read'), 'lookup_domain']);
    expect(actionNames('write', COPY)).toEqual([...actionNames('write'), 'archive_company']);
    expect(enabledActions(false, COPY)).toEqual(actionNames('read', COPY));
    expect(enabledActions(true, COPY)).toEqual(actionNames(undefined, COPY));
    expect(isWriteAction('archive_company', COPY)).toBe(true);
    expect(isWriteAction('lookup_domain', COPY)).toBe(false);
    expect(isWriteAction('archive_company')).toBe(false);
    expect(isRead({ action: 'lookup_domain' } as never, COPY)).toBe(true);
    expect(isRead({ action: 'archive_company' } as never, COPY)).toBe(false);
    expect(findAction('lookup_domain')).toBeUndefined();
  });

  it("gives each token its kind's scopes: the read's to the read token, the write's to the write token", () => {
    const scopes = tokenScopes(COPY);
    expect(scopes.read).toEqual([...tokenScopes().read, 'crm.lists.read']);
    expect(scopes.write).toEqual([
      ...tokenScopes().write,
      'crm.objects.companies.write',
      'crm.objects.companies.read',
    ]);
    expect(scopes.read).not.toContain('crm.objects.companies.write');
    expect(tokenScopesMarkdown(COPY)).toContain('`crm.lists.read`');
  });

  it('would fail the README check until the README documents them', () => {
    const table = cells(catalogMarkdown(COPY));
    expect(table.slice(0, table.length - 2)).toEqual(cells(catalogMarkdown()));
    expect(table.slice(-2)).toEqual([
      [
        '`lookup_domain`',
        'read',
        '`domain`, `note`',
        '`id`, `name`',
        '`crm.objects.companies.read`, `crm.lists.read`',
      ],
      [
        '`archive_company`',
        'write',
        '`company_id`, `reason`',
        '`archived_id`',
        '`crm.objects.companies.write`',
      ],
    ]);
    // The check test/unit/readme.test.ts makes, run against the copy: it fails.
    expect(cells(block('catalog'))).toEqual(cells(catalogMarkdown()));
    expect(cells(block('catalog'))).not.toEqual(table);
    expect(cells(block('token-scopes'))).not.toEqual(cells(tokenScopesMarkdown(COPY)));
  });

  it('keeps exactly the fields of `returns` of an answer, for a list and for a nested answer', () => {
    expect(
      keepReturns(lookupDomain, {
        matches: [{ id: '1', name: 'Acme', domain: 'acme.com' }, { id: '2' }],
        extra: true,
      }),
    ).toEqual({
      matches: [
        { id: '1', name: 'Acme' },
        { id: '2', name: null },
      ],
    });
    expect(keepReturns(lookupDomain, { nothing: [] })).toEqual({ matches: [] });
    const email = findAction('get_last_email_interaction');
    if (!email) throw new Error('the catalog has no get_last_email_interaction');
    expect(
      keepReturns(email, {
        record: { type: 'company', id: '5', name: 'Acme', owner: 'x' },
        last_email: null,
        body: 'never',
      }),
    ).toEqual({
      record: { type: 'company', id: '5', name: 'Acme' },
      last_email: null,
    });
  });
});

describe('the throw-away read run through the core against the emulator', () => {
  const READ_TOKEN = 'pat-na1-derived-read-0000';
  let emulator: Emulator;
  let hubspot: HubSpotPort;
  const ctx = (): CallContext => ({ deadline: Date.now() + 5000, calls: [] });

  beforeAll(async () => {
    // The read token holds exactly what the copy derives for it.
    emulator = await startEmulator({ tokens: { [READ_TOKEN]: tokenScopes(COPY).read } });
    hubspot = new HubSpotAdapter({
      tokens: {
        get: async (kind) => {
          if (kind !== 'read') throw new Error('a read asked for the write token');
          return READ_TOKEN;
        },
      },
      basePath: emulator.url,
      maxRetries: 0,
    });
  });
  afterAll(() => emulator.close());

  it('dispatches to its handler by name and answers only its `returns`', async () => {
    const action = validateAction({ action: 'lookup_domain', domain: 'acme.com' }, COPY);
    const answer = await runRead(action, hubspot, ctx(), REGISTRY);
    expect(answer.data).toEqual({ matches: [{ id: expect.any(String), name: 'Acme Corp' }] });
    expect(answer.recordCount).toBe(1);
    expect(searchesOf(action, REGISTRY)).toBe(1);
    expect(emulator.requests.at(-1)?.path).toBe('/crm/v3/objects/companies/search');
  });

  it('runs the guards of a read again at dispatch', async () => {
    await expect(
      runRead({ action: 'lookup_domain', domain: '%' }, hubspot, ctx(), REGISTRY),
    ).rejects.toMatchObject({ code: 'bulk_request_rejected' });
  });

  it('is not run without the catalog that declares it, nor a write as a read', async () => {
    const seen = emulator.requests.length;
    await expect(
      runRead({ action: 'lookup_domain', domain: 'acme.com' } as never, hubspot, ctx()),
    ).rejects.toThrow(/not a read of the catalog/);
    await expect(
      runRead(
        { action: 'archive_company', company_id: '1', reason: 'x' },
        hubspot,
        ctx(),
        REGISTRY,
      ),
    ).rejects.toThrow(/not a read of the catalog/);
    expect(emulator.requests.length).toBe(seen);
  });

  it('leaves the real reads answering as before through the same dispatch', async () => {
    const action = validateAction({ action: 'search_company', domain: 'acme.com' });
    const viaCopy = await runRead(action, hubspot, ctx(), REGISTRY);
    const viaDefault = await runRead(action as never, hubspot, ctx());
    expect(viaCopy.data).toEqual(viaDefault.data);
    expect(viaDefault.data).toEqual({
      companies: [
        {
          id: expect.any(String),
          name: 'Acme Corp',
          domain: 'acme.com',
          last_contacted: expect.anything(),
        },
      ],
    });
  });
});

describe('the catalog is the only source that names an action', () => {
  const ROOT = path.join(__dirname, '../..');
  /** The catalog, and the handlers of the core: reads.ts for reads, approvals.ts for the write. */
  const ALLOWED = new Set([
    'lambdas/core/catalog.ts',
    'lambdas/core/reads.ts',
    'lambdas/core/approvals.ts',
  ]);

  function* sources(dir: string): Generator<string> {
    for (const entry of readdirSync(dir)) {
      const full = path.join(dir, entry);
      if (entry === 'node_modules') continue;
      if (statSync(full).isDirectory()) yield* sources(full);
      else if (/\.(ts|js|mjs|cjs)$/.test(entry) && !entry.endsWith('.d.ts')) yield full;
    }
  }

  /** Every string and template literal of a file that names one of `names` as a word. */
  function namingLiterals(file: string, names: string[]): string[] {
    const pattern = new RegExp(`(?<![\\w-])(${names.join('|')})(?![\\w-])`);
    const text = readFileSync(file, 'utf8');
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const found: string[] = [];
    const visit = (node: ts.Node) => {
      if (
        (ts.isStringLiteralLike(node) || ts.isTemplateLiteralToken(node)) &&
        pattern.test(node.text)
      ) {
        const line = source.getLineAndCharacterOfPosition(node.getStart()).line + 1;
        found.push(
          `${path.relative(ROOT, file)}:${line} ${JSON.stringify(node.text.slice(0, 60))}`,
        );
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
    return found;
  }

  it('finds a name in a literal, and not in a comment or a longer word (the scan can fail)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'scan-'));
    try {
      const file = path.join(dir, 'sample.ts');
      writeFileSync(
        file,
        [
          '// lookup_domain, in a comment',
          "const a = 'lookup_domains';",
          // biome-ignore lint/suspicious/noTemplateCurlyInString: source text of a template literal
          'const b = `x ${a} lookup_domain y`;',
          "const c = { lookup_domain: 'x-lookup_domain' };",
          "export const d = [b, c, 'lookup_domain'];",
        ].join('\n'),
      );
      expect(namingLiterals(file, ['lookup_domain']).map((f) => f.split(' ')[0])).toEqual([
        expect.stringMatching(/sample\.ts:3$/),
        expect.stringMatching(/sample\.ts:5$/),
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('has no action name in any literal of lambdas/, lib/ or bin/ outside the catalog and the handlers', () => {
    const offenders = ['lambdas', 'lib', 'bin']
      .flatMap((dir) => [...sources(path.join(ROOT, dir))])
      .filter((file) => !ALLOWED.has(path.relative(ROOT, file).split(path.sep).join('/')))
      .flatMap((file) => namingLiterals(file, actionNames()));
    expect(offenders).toEqual([]);
  });
});
