import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { HubSpotAdapter } from '../../lambdas/adapters/hubspot/hubspot-adapter';
import { CATALOG, tokenScopes } from '../../lambdas/core/catalog';
import type { NoteInput } from '../../lambdas/core/ports';
import { DEMO } from '../../lambdas/emulator/seed';
import {
  type Emulator,
  READ_TOKEN_SCOPES,
  startEmulator,
  WRITE_TOKEN_SCOPES,
} from '../../lambdas/emulator/server';
import { READ_SCOPES, WRITE_SCOPES } from '../../lambdas/local/app';
import {
  checkHubSpotToken,
  isWriteScope,
  READ_TOKEN_NEEDS,
  WRITE_TOKEN_NEEDS,
} from '../../lambdas/ops/rotate';
import { waitForOutput } from '../helpers/process';

const ROOT = join(__dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

/**
 * The scopes of each HubSpot token are one fact, derived from the catalog (`tokenScopes()`),
 * and used by the emulated tokens, the rotation checks and the README (test/unit/readme.test.ts).
 * A retried write looks up its own note (a notes search) with the write token before it writes:
 * the write token needs the scope of that search too.
 */
describe("the HubSpot tokens' scopes", () => {
  it('are derived from the catalog: the reads, and the write with the lookup of a retried write', () => {
    const { read, write } = tokenScopes();
    expect(read).toEqual([
      'crm.objects.contacts.read',
      'crm.objects.companies.read',
      'sales-email-read',
    ]);
    expect(write).toEqual(['crm.objects.contacts.write', 'crm.objects.contacts.read']);
    // Every action's scopes are held by its kind's token.
    for (const a of CATALOG) {
      for (const s of a.scopes) expect(tokenScopes()[a.kind]).toContain(s);
    }
  });

  it('are what the local emulator, `npm run emulator` and the rotation checks use', () => {
    const { read, write } = tokenScopes();
    expect([READ_SCOPES, WRITE_SCOPES]).toEqual([read, write]);
    expect([[...READ_TOKEN_SCOPES], [...WRITE_TOKEN_SCOPES]]).toEqual([read, write]);
    expect([READ_TOKEN_NEEDS, WRITE_TOKEN_NEEDS]).toEqual([read, write]);
    // Least privilege holds: the read token holds no write scope (the write token holds one read
    // scope, for its lookup, which is legitimate).
    expect(read.filter(isWriteScope)).toEqual([]);
  });

  describe('against the emulator', () => {
    const EXACT = 'scopes-write-token-exactly-derived';
    const WRITE_ONLY = 'scopes-write-token-contacts-write-only';
    let emulator: Emulator;
    beforeAll(async () => {
      emulator = await startEmulator({
        tokens: { [EXACT]: [...tokenScopes().write], [WRITE_ONLY]: ['crm.objects.contacts.write'] },
      });
    });
    afterAll(() => emulator.close());

    const note = (body: string): NoteInput => ({
      body,
      timestamp: '2030-01-01T10:00:00.000Z',
      target: { type: 'contact', id: DEMO.acmeContactId },
    });
    const adapter = (token: string) =>
      new HubSpotAdapter({ tokens: { get: async () => token }, basePath: emulator.url });
    const ctx = () => ({ deadline: Date.now() + 3000, calls: [] });

    it('the idempotent retry (findNote, then createNote) succeeds with exactly the derived write scopes', async () => {
      const hubspot = adapter(EXACT);
      const input = note('Retried with the derived scopes.');
      expect(await hubspot.findNote(input, ctx())).toBeNull();
      const id = await hubspot.createNote(input, ctx());
      // The next retry finds it instead of writing a second note.
      expect(await hubspot.findNote(input, ctx())).toBe(id);
    });

    it('the lookup fails with MISSING_SCOPES with only crm.objects.contacts.write', async () => {
      await expect(
        adapter(WRITE_ONLY).findNote(note('Retried with too few scopes.'), ctx()),
      ).rejects.toMatchObject({
        code: 'hubspot_missing_scopes',
        hubspotStatus: 403,
        details: { missing_scopes: ['crm.objects.contacts.read'] },
      });
    });

    it('the rotation check accepts the derived write scopes and refuses contacts.write alone', async () => {
      const ok = await checkHubSpotToken({ token: EXACT, which: 'write', baseUrl: emulator.url });
      expect(ok.ok).toBe(true);
      const short = await checkHubSpotToken({
        token: WRITE_ONLY,
        which: 'write',
        baseUrl: emulator.url,
      });
      expect(short).toMatchObject({
        ok: false,
        reason: expect.stringContaining('lacks the scope crm.objects.contacts.read'),
      });
    });
  });

  it('`npm run emulator` gives its write token what a retried write needs', async () => {
    const writeToken = 'pat-na1-scopes-main-write-token';
    const child = spawn(TSX, ['lambdas/emulator/main.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: '0',
        HUBSPOT_EMULATOR_READ_TOKEN: 'pat-na1-scopes-main-read-token',
        HUBSPOT_EMULATOR_WRITE_TOKEN: writeToken,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const output = await waitForOutput(child, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1] ?? '';
      const hubspot = new HubSpotAdapter({
        tokens: { get: async () => writeToken },
        basePath: url,
      });
      const input: NoteInput = {
        body: 'Looked up through npm run emulator.',
        timestamp: '2030-01-02T10:00:00.000Z',
        target: { type: 'company', id: DEMO.acmeCompanyId },
      };
      const ctx = () => ({ deadline: Date.now() + 3000, calls: [] });
      expect(await hubspot.findNote(input, ctx())).toBeNull();
      const id = await hubspot.createNote(input, ctx());
      expect(await hubspot.findNote(input, ctx())).toBe(id);
    } finally {
      child.kill('SIGTERM');
    }
  });
});
