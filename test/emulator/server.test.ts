import { createHash } from 'node:crypto';
import { FilterOperatorEnum } from '@hubspot/api-client/lib/codegen/crm/contacts';
import {
  AssociationSpecAssociationCategoryEnum,
  createConfiguration,
  SearchApi as EmailSearchApi,
  ServerConfiguration,
} from '@hubspot/api-client/lib/codegen/crm/objects/emails';
import {
  createConfiguration as createNotesConfiguration,
  BasicApi as NoteBasicApi,
  ServerConfiguration as NotesServerConfiguration,
} from '@hubspot/api-client/lib/codegen/crm/objects/notes';
import { DEMO, demoSeed } from '../../lambdas/emulator/seed';
import { type Emulator, READ_TOKEN_SCOPES, startEmulator } from '../../lambdas/emulator/server';
import {
  apiError,
  client,
  NO_SCOPE_TOKEN,
  READ_TOKEN,
  rawRequest,
  TOKENS,
  UUID_RE,
  WRITE_TOKEN,
} from './helpers';

const Op = FilterOperatorEnum;
/** The codegen types declare `sorts` as string[]; HubSpot takes sort objects. */
const sortBy = (propertyName: string, direction: 'ASCENDING' | 'DESCENDING') =>
  [{ propertyName, direction }] as unknown as string[];

let emulator: Emulator;

beforeAll(async () => {
  emulator = await startEmulator({ tokens: TOKENS });
});

afterAll(async () => {
  await emulator.close();
});

beforeEach(() => {
  emulator.reset();
});

describe('search with the real @hubspot/api-client', () => {
  it('finds a contact by email EQ, returning requested properties plus the system ones', async () => {
    const hubspot = client(emulator.url, READ_TOKEN);
    const page = await hubspot.crm.contacts.searchApi.doSearch({
      filterGroups: [
        { filters: [{ propertyName: 'email', operator: Op.Eq, value: DEMO.acmeContactEmail }] },
      ],
      properties: [
        'firstname',
        'lastname',
        'email',
        'company',
        'notes_last_contacted',
        'not_a_property',
      ],
      limit: 5,
    });
    expect(page.total).toBe(1);
    const [contact] = page.results;
    expect(contact?.id).toBe(DEMO.acmeContactId);
    expect(contact?.createdAt).toBeInstanceOf(Date);
    expect(contact?.archived).toBe(false);
    expect(contact?.properties).toEqual({
      company: 'Acme Corp',
      createdate: '2025-11-03T09:05:00.000Z',
      email: DEMO.acmeContactEmail,
      firstname: DEMO.acmeContactFirstname,
      hs_object_id: DEMO.acmeContactId,
      lastmodifieddate: '2026-06-02T10:30:00.000Z',
      lastname: DEMO.acmeContactLastname,
      notes_last_contacted: '2026-06-02T10:30:00.000Z',
    });
    expect(page.paging).toBeUndefined();
  });

  it('returns requested but unset properties as null, and only the defaults when none are asked', async () => {
    const hubspot = client(emulator.url, READ_TOKEN);
    const page = await hubspot.crm.contacts.searchApi.doSearch({
      filterGroups: [
        { filters: [{ propertyName: 'email', operator: Op.Eq, value: DEMO.noEmailContactEmail }] },
      ],
      properties: ['notes_last_contacted'],
    });
    expect(page.results[0]?.properties.notes_last_contacted).toBeNull();

    const defaults = await hubspot.crm.contacts.searchApi.doSearch({
      filterGroups: [
        { filters: [{ propertyName: 'hs_object_id', operator: Op.Eq, value: DEMO.acmeContactId }] },
      ],
    });
    expect(Object.keys(defaults.results[0]?.properties ?? {})).toEqual([
      'createdate',
      'email',
      'firstname',
      'hs_object_id',
      'lastmodifieddate',
      'lastname',
    ]);
  });

  it('finds contacts by name with CONTAINS_TOKEN, case-insensitively', async () => {
    const hubspot = client(emulator.url, READ_TOKEN);
    const page = await hubspot.crm.contacts.searchApi.doSearch({
      filterGroups: [
        { filters: [{ propertyName: 'firstname', operator: Op.ContainsToken, value: 'JANE' }] },
      ],
      properties: ['firstname', 'lastname', 'company'],
    });
    expect(page.total).toBe(2);
    expect(page.results.map((c) => c.id)).toEqual([...DEMO.janeContactIds]);

    const full = await hubspot.crm.contacts.searchApi.doSearch({
      filterGroups: [
        {
          filters: [
            { propertyName: 'firstname', operator: Op.ContainsToken, value: 'jane' },
            { propertyName: 'lastname', operator: Op.ContainsToken, value: 'coop*' },
          ],
        },
      ],
    });
    expect(full.results.map((c) => c.id)).toEqual([DEMO.acmeContactId]);
  });

  it('finds a company by domain', async () => {
    const hubspot = client(emulator.url, READ_TOKEN);
    const page = await hubspot.crm.companies.searchApi.doSearch({
      filterGroups: [{ filters: [{ propertyName: 'domain', operator: Op.Eq, value: 'acme.com' }] }],
      properties: ['name', 'domain', 'notes_last_contacted'],
    });
    expect(page.results).toHaveLength(1);
    expect(page.results[0]?.id).toBe(DEMO.acmeCompanyId);
    expect(page.results[0]?.properties).toMatchObject({
      name: 'Acme Corp',
      domain: 'acme.com',
      notes_last_contacted: DEMO.acmeLatestEmail.timestamp,
    });
  });

  it("finds Acme's latest email: associations.company EQ, hs_timestamp DESC, limit 1", async () => {
    const hubspot = client(emulator.url, READ_TOKEN);
    const page = await hubspot.crm.objects.emails.searchApi.doSearch({
      filterGroups: [
        {
          filters: [
            { propertyName: 'associations.company', operator: Op.Eq, value: DEMO.acmeCompanyId },
          ],
        },
      ],
      sorts: sortBy('hs_timestamp', 'DESCENDING'),
      properties: ['hs_timestamp', 'hs_email_subject', 'hs_email_direction'],
      limit: 1,
    });
    expect(page.total).toBe(4);
    expect(page.paging?.next?.after).toBe('1');
    const [email] = page.results;
    expect(email?.id).toBe(DEMO.acmeLatestEmail.id);
    expect(email?.properties).toMatchObject({
      hs_timestamp: DEMO.acmeLatestEmail.timestamp,
      hs_email_subject: DEMO.acmeLatestEmail.subject,
      hs_email_direction: DEMO.acmeLatestEmail.direction,
    });
    expect(email?.properties).not.toHaveProperty('hs_email_text');
  });

  it("finds a contact's latest email through the codegen SearchApi, with no rate-limit headers", async () => {
    const api = new EmailSearchApi(
      createConfiguration({
        baseServer: new ServerConfiguration(emulator.url, {}),
        authMethods: { oauth2: { accessToken: READ_TOKEN } },
      }),
    );
    const info = await api.doSearchWithHttpInfo({
      filterGroups: [
        {
          filters: [
            { propertyName: 'associations.contact', operator: Op.Eq, value: DEMO.acmeContactId },
          ],
        },
      ],
      sorts: sortBy('hs_timestamp', 'DESCENDING'),
      properties: ['hs_timestamp', 'hs_email_subject', 'hs_email_direction'],
      limit: 1,
    });
    expect(info.httpStatusCode).toBe(200);
    expect(info.data.results[0]?.properties.hs_email_subject).toBe(
      DEMO.acmeContactLatestEmail.subject,
    );
    expect(Object.keys(info.headers).filter((h) => h.startsWith('x-hubspot-ratelimit'))).toEqual(
      [],
    );
  });

  it('returns no email for a company without engagements, and the hostile subject verbatim', async () => {
    const hubspot = client(emulator.url, READ_TOKEN);
    const none = await hubspot.crm.objects.emails.searchApi.doSearch({
      filterGroups: [
        {
          filters: [
            {
              propertyName: 'associations.company',
              operator: Op.Eq,
              value: DEMO.northwindCompanyId,
            },
          ],
        },
      ],
    });
    expect(none.total).toBe(0);
    expect(none.results).toEqual([]);

    const hostile = await hubspot.crm.objects.emails.searchApi.doSearch({
      filterGroups: [
        {
          filters: [
            { propertyName: 'associations.company', operator: Op.Eq, value: DEMO.initechCompanyId },
          ],
        },
      ],
      sorts: sortBy('hs_timestamp', 'DESCENDING'),
      properties: ['hs_email_subject'],
      limit: 1,
    });
    expect(hostile.results[0]?.properties.hs_email_subject).toBe(DEMO.hostileEmail.subject);
  });

  it('pages through all contacts with the after cursor', async () => {
    const hubspot = client(emulator.url, READ_TOKEN);
    const seen: string[] = [];
    let after: string | undefined;
    for (let page = 0; page < 10; page += 1) {
      const res = await hubspot.crm.contacts.searchApi.doSearch({
        limit: 4,
        ...(after ? { after } : {}),
      });
      expect(res.total).toBe(10);
      seen.push(...res.results.map((c) => c.id));
      after = res.paging?.next?.after;
      if (!after) break;
    }
    expect(seen).toEqual(demoSeed().contacts.map((c) => c.id));
  });

  it('answers 400 VALIDATION_ERROR for limit above 200 and for too many filter groups', async () => {
    const hubspot = client(emulator.url, READ_TOKEN);
    const tooMany = await apiError(hubspot.crm.contacts.searchApi.doSearch({ limit: 201 }));
    expect(tooMany.code).toBe(400);
    expect(tooMany.body).toMatchObject({ status: 'error', category: 'VALIDATION_ERROR' });
    expect(tooMany.body.correlationId).toMatch(UUID_RE);

    const filter = { propertyName: 'email', operator: Op.HasProperty };
    const groups = await apiError(
      hubspot.crm.contacts.searchApi.doSearch({
        filterGroups: Array.from({ length: 6 }, () => ({ filters: [filter] })),
      }),
    );
    expect(groups.code).toBe(400);
    expect(groups.body.category).toBe('VALIDATION_ERROR');
  });

  it('answers 400 for a filter on a property the object does not have', async () => {
    const hubspot = client(emulator.url, READ_TOKEN);
    const error = await apiError(
      hubspot.crm.contacts.searchApi.doSearch({
        filterGroups: [{ filters: [{ propertyName: 'emial', operator: Op.Eq, value: 'x' }] }],
      }),
    );
    expect(error.code).toBe(400);
    expect(String(error.body.message)).toContain('emial');
  });
});

describe('get by id', () => {
  it('returns the object with requested properties', async () => {
    const hubspot = client(emulator.url, READ_TOKEN);
    const company = await hubspot.crm.companies.basicApi.getById(DEMO.acmeCompanyId, [
      'name',
      'domain',
    ]);
    expect(company.id).toBe(DEMO.acmeCompanyId);
    expect(company.properties.name).toBe('Acme Corp');
    expect(company.properties.domain).toBe('acme.com');
  });

  it('answers 404 OBJECT_NOT_FOUND for an unknown id', async () => {
    const hubspot = client(emulator.url, READ_TOKEN);
    const error = await apiError(hubspot.crm.contacts.basicApi.getById('999'));
    expect(error.code).toBe(404);
    expect(error.body).toMatchObject({ status: 'error', category: 'OBJECT_NOT_FOUND' });
    expect(String(error.body.message)).toMatch(/^Object not found/);
    expect(error.body.correlationId).toMatch(UUID_RE);
  });

  it('does not find a company under a contact id (separate id ranges)', async () => {
    const hubspot = client(emulator.url, READ_TOKEN);
    const error = await apiError(hubspot.crm.companies.basicApi.getById(DEMO.acmeContactId));
    expect(error.code).toBe(404);
  });
});

describe('note creation', () => {
  it('creates a note associated with a contact: 201, parsed by the client, recorded', async () => {
    const emu = await startEmulator({
      tokens: TOKENS,
      now: () => Date.parse('2026-07-01T12:00:00Z'),
    });
    try {
      const api = client(emu.url, WRITE_TOKEN);
      const note = await api.crm.objects.notes.basicApi.create({
        properties: {
          hs_note_body: 'Followed up on SSO timeline.',
          hs_timestamp: '2026-07-01T11:59:00Z',
        },
        associations: [
          {
            to: { id: DEMO.acmeContactId },
            types: [
              {
                associationCategory: AssociationSpecAssociationCategoryEnum.HubspotDefined,
                associationTypeId: 202,
              },
            ],
          },
        ],
      });
      expect(note.id).toBe(DEMO.firstCreatedNoteId);
      expect(note.createdAt).toEqual(new Date('2026-07-01T12:00:00.000Z'));
      expect(note.properties).toMatchObject({
        hs_note_body: 'Followed up on SSO timeline.',
        hs_timestamp: '2026-07-01T11:59:00.000Z',
        hs_object_id: DEMO.firstCreatedNoteId,
      });
      expect(emu.notes()).toEqual([
        {
          id: DEMO.firstCreatedNoteId,
          body: 'Followed up on SSO timeline.',
          timestamp: '2026-07-01T11:59:00.000Z',
          associations: [
            { toObjectType: 'contacts', toId: DEMO.acmeContactId, associationTypeId: 202 },
          ],
          createdAt: '2026-07-01T12:00:00.000Z',
        },
      ]);
      expect(emu.requests.at(-1)).toMatchObject({
        method: 'POST',
        path: '/crm/v3/objects/notes',
        status: 201,
      });

      // The new note is searchable through its association, with the read token.
      const reader = client(emu.url, READ_TOKEN);
      const found = await reader.crm.objects.notes.searchApi.doSearch({
        filterGroups: [
          {
            filters: [
              { propertyName: 'associations.contact', operator: Op.Eq, value: DEMO.acmeContactId },
            ],
          },
        ],
        sorts: sortBy('hs_timestamp', 'DESCENDING'),
        properties: ['hs_note_body'],
      });
      expect(found.results.map((n) => n.id)).toEqual([
        DEMO.firstCreatedNoteId,
        DEMO.existingNoteIds[0],
      ]);

      // A second note, on a company via the codegen BasicApi, gets the next id and epoch-ms timestamps work.
      const notes = new NoteBasicApi(
        createNotesConfiguration({
          baseServer: new NotesServerConfiguration(emu.url, {}),
          authMethods: { oauth2: { accessToken: WRITE_TOKEN } },
        }),
      );
      const second = await notes.create({
        properties: {
          hs_note_body: 'Company note',
          hs_timestamp: String(Date.parse('2026-07-02T00:00:00Z')),
        },
        associations: [
          {
            to: { id: DEMO.globexCompanyId },
            types: [
              {
                associationCategory: AssociationSpecAssociationCategoryEnum.HubspotDefined,
                associationTypeId: 190,
              },
            ],
          },
        ],
      });
      expect(BigInt(second.id)).toBe(BigInt(note.id) + 1n);
      expect(second.properties.hs_timestamp).toBe('2026-07-02T00:00:00.000Z');
      expect(emu.notes().map((n) => n.associations[0]?.toObjectType)).toEqual([
        'contacts',
        'companies',
      ]);
    } finally {
      await emu.close();
    }
  });

  it('answers 400 VALIDATION_ERROR when hs_timestamp is missing', async () => {
    const api = client(emulator.url, WRITE_TOKEN);
    const error = await apiError(
      api.crm.objects.notes.basicApi.create({ properties: { hs_note_body: 'x' } }),
    );
    expect(error.code).toBe(400);
    expect(error.body.category).toBe('VALIDATION_ERROR');
    expect(String(error.body.message)).toContain('hs_timestamp');
    expect(emulator.notes().some((n) => n.body === 'x')).toBe(false);
  });

  it('answers 400 for an association to a record that does not exist, or with a wrong type id', async () => {
    const api = client(emulator.url, WRITE_TOKEN);
    const to = (id: string, associationTypeId: number) => ({
      properties: { hs_note_body: 'x', hs_timestamp: '2026-07-01T00:00:00Z' },
      associations: [
        {
          to: { id },
          types: [
            {
              associationCategory: AssociationSpecAssociationCategoryEnum.HubspotDefined,
              associationTypeId,
            },
          ],
        },
      ],
    });
    const missing = await apiError(api.crm.objects.notes.basicApi.create(to('999', 202)));
    expect(missing.code).toBe(400);
    expect(missing.body).toMatchObject({
      message: 'One or more associations are invalid',
      category: 'VALIDATION_ERROR',
      context: { INVALID_OBJECT_IDS: ['CONTACT=999 is not valid'] },
    });

    // 190 is note→company: a contact id is not a company.
    const crossed = await apiError(
      api.crm.objects.notes.basicApi.create(to(DEMO.acmeContactId, 190)),
    );
    expect(crossed.code).toBe(400);

    const wrongType = await apiError(
      api.crm.objects.notes.basicApi.create(to(DEMO.acmeContactId, 1)),
    );
    expect(wrongType.code).toBe(400);
    expect(wrongType.body.category).toBe('VALIDATION_ERROR');
    expect(emulator.notes()).toEqual([]);
  });
});

describe('authentication and scopes', () => {
  it('answers 401 INVALID_AUTHENTICATION for an unknown token', async () => {
    const error = await apiError(
      client(emulator.url, 'not-a-real-token').crm.contacts.searchApi.doSearch({}),
    );
    expect(error.code).toBe(401);
    expect(error.body).toMatchObject({ status: 'error', category: 'INVALID_AUTHENTICATION' });
    expect(String(error.body.message)).toMatch(/^Authentication credentials not found/);
    expect(error.body.correlationId).toMatch(UUID_RE);
    expect(error.message).not.toContain('not-a-real-token');
  });

  it('answers 401 without an Authorization header', async () => {
    const res = await rawRequest(emulator.url, {
      path: `/crm/v3/objects/contacts/${DEMO.acmeContactId}`,
    });
    expect(res.status).toBe(401);
    expect(emulator.requests.at(-1)?.tokenFingerprint).toBeNull();
  });

  it.each([
    ['contacts search', 'crm.objects.contacts.read'],
    ['companies search', 'crm.objects.companies.read'],
    ['emails search', 'sales-email-read'],
    ['notes create', 'crm.objects.contacts.write'],
  ])('answers 403 MISSING_SCOPES for %s, naming %s', async (call, scope) => {
    const hubspot = client(emulator.url, NO_SCOPE_TOKEN);
    const calls: Record<string, () => Promise<unknown>> = {
      'contacts search': () => hubspot.crm.contacts.searchApi.doSearch({}),
      'companies search': () => hubspot.crm.companies.searchApi.doSearch({}),
      'emails search': () => hubspot.crm.objects.emails.searchApi.doSearch({}),
      'notes create': () =>
        hubspot.crm.objects.notes.basicApi.create({
          properties: { hs_timestamp: '2026-07-01T00:00:00Z' },
        }),
    };
    const run = calls[call];
    if (!run) throw new Error(call);
    const error = await apiError(run());
    expect(error.code).toBe(403);
    expect(error.body).toMatchObject({
      status: 'error',
      category: 'MISSING_SCOPES',
      errors: [
        {
          message: 'One or more of the following scopes are required.',
          context: { requiredGranularScopes: [scope] },
        },
      ],
    });
    expect(String(error.body.message)).toMatch(/^This app hasn't been granted all required scopes/);
  });

  it('keeps the read token away from writes and the write token away from reads', async () => {
    const readOnly = await apiError(
      client(emulator.url, READ_TOKEN).crm.objects.notes.basicApi.create({
        properties: { hs_timestamp: '2026-07-01T00:00:00Z' },
      }),
    );
    expect(readOnly.code).toBe(403);
    // The write token reads contacts only (the notes search of a retried write needs it).
    for (const search of [
      client(emulator.url, WRITE_TOKEN).crm.companies.searchApi.doSearch({}),
      client(emulator.url, WRITE_TOKEN).crm.objects.emails.searchApi.doSearch({}),
    ]) {
      expect((await apiError(search)).code).toBe(403);
    }
  });

  it('honours revocation and rotation through setTokens', async () => {
    const emu = await startEmulator({ tokens: TOKENS });
    try {
      emu.setTokens({ 'rotated-token': ['crm.objects.companies.read'] });
      const revoked = await apiError(
        client(emu.url, READ_TOKEN).crm.companies.searchApi.doSearch({}),
      );
      expect(revoked.code).toBe(401);
      const page = await client(emu.url, 'rotated-token').crm.companies.searchApi.doSearch({});
      expect(page.total).toBe(5);
    } finally {
      await emu.close();
    }
  });

  it('records a fingerprint, never the token, and echoes no token', async () => {
    const hubspot = client(emulator.url, READ_TOKEN);
    await hubspot.crm.contacts.basicApi.getById(DEMO.acmeContactId);
    const missing = await apiError(
      client(emulator.url, NO_SCOPE_TOKEN).crm.contacts.basicApi.getById('1'),
    );
    const fingerprint = (t: string) => createHash('sha256').update(t).digest('hex').slice(0, 6);
    expect(emulator.requests.map((r) => r.tokenFingerprint)).toEqual([
      fingerprint(READ_TOKEN),
      fingerprint(NO_SCOPE_TOKEN),
    ]);
    const everything = JSON.stringify([emulator.requests, missing.body, missing.headers]);
    for (const token of Object.keys(TOKENS)) expect(everything).not.toContain(token);
  });
});

describe('wire-level errors', () => {
  it('answers 400 VALIDATION_ERROR for malformed JSON', async () => {
    const res = await rawRequest(emulator.url, {
      method: 'POST',
      path: '/crm/v3/objects/contacts/search',
      token: READ_TOKEN,
      body: '{"filterGroups": [',
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ status: 'error', category: 'VALIDATION_ERROR' });
    expect(res.body.correlationId).toMatch(UUID_RE);
  });

  it('answers 404 with a HubSpot-style body for any other path', async () => {
    for (const [method, path] of [
      ['GET', '/crm/v3/objects/deals/1'],
      ['DELETE', `/crm/v3/objects/contacts/${DEMO.acmeContactId}`],
      ['GET', '/nope'],
    ] as const) {
      const res = await rawRequest(emulator.url, { method, path, token: READ_TOKEN });
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ status: 'error', category: 'OBJECT_NOT_FOUND' });
    }
  });

  it('gives every error a fresh correlationId', async () => {
    const a = await rawRequest(emulator.url, { path: '/nope' });
    const b = await rawRequest(emulator.url, { path: '/nope' });
    expect(a.body.correlationId).toMatch(UUID_RE);
    expect(a.body.correlationId).not.toBe(b.body.correlationId);
  });
});

describe('token introspection and rotation', () => {
  const tokenInfo = (url: string, body: string, token?: string) =>
    rawRequest(url, {
      method: 'POST',
      path: '/oauth/v2/private-apps/get/access-token-info',
      body,
      ...(token === undefined ? {} : { token }),
    });

  it("answers a known token's account, app and scopes from the tokenKey alone", async () => {
    const res = await tokenInfo(emulator.url, JSON.stringify({ tokenKey: READ_TOKEN }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      userId: expect.any(Number),
      hubId: expect.any(Number),
      appId: expect.any(Number),
      scopes: [...READ_TOKEN_SCOPES],
    });
    expect(emulator.requests.at(-1)).toMatchObject({ status: 200, tokenFingerprint: null });
  });

  it('answers 401 INVALID_AUTHENTICATION for an unknown tokenKey, echoing no token', async () => {
    const res = await tokenInfo(
      emulator.url,
      JSON.stringify({ tokenKey: 'not-a-real-token-0000' }),
      READ_TOKEN,
    );
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ status: 'error', category: 'INVALID_AUTHENTICATION' });
    expect(JSON.stringify(res.body)).not.toContain('not-a-real-token');
  });

  it.each([
    ['no tokenKey', '{}'],
    ['an empty tokenKey', '{"tokenKey": ""}'],
    ['a tokenKey that is not a string', '{"tokenKey": 42}'],
    ['malformed JSON', '{"tokenKey": '],
  ])('answers 400 VALIDATION_ERROR for %s', async (_what, body) => {
    const res = await tokenInfo(emulator.url, body);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ status: 'error', category: 'VALIDATION_ERROR' });
  });

  it('mints a token with the scopes and app of another; revoking the old one refuses it everywhere', async () => {
    const emu = await startEmulator({ tokens: TOKENS });
    try {
      const before = await tokenInfo(emu.url, JSON.stringify({ tokenKey: READ_TOKEN }));
      const minted = emu.mintToken(READ_TOKEN);
      expect(minted).not.toBe(READ_TOKEN);
      const info = await tokenInfo(emu.url, JSON.stringify({ tokenKey: minted }));
      expect(info.body).toEqual(before.body);
      expect((await client(emu.url, minted).crm.contacts.searchApi.doSearch({})).total).toBe(10);

      emu.revokeToken(READ_TOKEN);
      const refused = await apiError(
        client(emu.url, READ_TOKEN).crm.contacts.searchApi.doSearch({}),
      );
      expect(refused.code).toBe(401);
      const gone = await tokenInfo(emu.url, JSON.stringify({ tokenKey: READ_TOKEN }));
      expect(gone.status).toBe(401);
      expect((await client(emu.url, minted).crm.contacts.searchApi.doSearch({})).total).toBe(10);
    } finally {
      await emu.close();
    }
  });

  it('refuses to mint from a token it does not know', () => {
    expect(() => emulator.mintToken('not-a-real-token-0000')).toThrow(/does not know/);
  });
});
