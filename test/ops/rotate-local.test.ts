import { HubSpotAdapter } from '../../lambdas/adapters/hubspot/hubspot-adapter';
import {
  type Emulator,
  READ_TOKEN_SCOPES,
  startEmulator,
  WRITE_TOKEN_SCOPES,
} from '../../lambdas/emulator/server';
import {
  checkHubSpotToken,
  type RotateLocalDeps,
  type RotationResult,
  rotateLocal,
  rotationText,
} from '../../lambdas/ops/rotate';

const READ = 'test-local-read-token-000001';
const WRITE = 'test-local-write-token-000002';
const READ_AND_WRITE = 'test-local-readwrite-token-000003';
const UNKNOWN = 'test-local-unknown-token-000004';

/** A contacts search straight to the emulator over HTTP: its status says whether `token` works. */
async function searchStatus(url: string, token: string): Promise<number> {
  const res = await fetch(`${url}/crm/v3/objects/contacts/search`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ filterGroups: [], limit: 1 }),
  });
  await res.arrayBuffer();
  return res.status;
}

function expectNoSecret(result: RotationResult, secrets: string[]) {
  const printed = `${JSON.stringify(result)}\n${rotationText(result)}`;
  for (const s of secrets) expect(printed).not.toContain(s);
}

describe('rotating a local HubSpot token', () => {
  let emulator: Emulator;
  /** The running gateway's tokens, as local mode holds them. */
  let held: { read: string; write: string };
  let swaps: number;

  /** Swap and confirm as the local server wires them: the gateway's own adapter, its tokens. */
  const deps = (
    which: 'read' | 'write',
    token: string,
    extra: Partial<RotateLocalDeps> = {},
  ): RotateLocalDeps => {
    const adapter = new HubSpotAdapter({
      tokens: { get: async (kind) => held[kind] },
      basePath: emulator.url,
    });
    return {
      which,
      token,
      baseUrl: emulator.url,
      current: (w) => held[w],
      swap: (w, next) => {
        swaps += 1;
        held = { ...held, [w]: next };
      },
      confirm: async () => {
        await adapter.search(
          'contacts',
          { filterGroups: [], properties: ['email'], limit: 1 },
          { deadline: Date.now() + 3000, calls: [] },
        );
        return { ok: true, detail: 'A contacts search through the gateway succeeded.' };
      },
      revokeOld: (old) => emulator.revokeToken(old),
      ...extra,
    };
  };

  beforeEach(async () => {
    emulator = await startEmulator({
      tokens: {
        [READ]: [...READ_TOKEN_SCOPES],
        [WRITE]: [...WRITE_TOKEN_SCOPES],
        [READ_AND_WRITE]: [...READ_TOKEN_SCOPES, ...WRITE_TOKEN_SCOPES],
      },
    });
    held = { read: READ, write: WRITE };
    swaps = 0;
  });
  afterEach(() => emulator.close());

  it('checks, swaps, confirms and revokes: the emulator then accepts the new token and refuses the old', async () => {
    const fresh = emulator.mintToken(READ);

    const result = await rotateLocal(deps('read', fresh));

    expect(result.ok).toBe(true);
    expect(result.steps.map((s) => [s.step, s.ok])).toEqual([
      ['check', true],
      ['store', true],
      ['pickup', true],
      ['confirm', true],
      ['revoke_old', true],
    ]);
    expect(result.steps[0]?.detail).toMatch(/A contacts search with it succeeded \(HTTP 200\)/);
    expect(held.read).toBe(fresh);
    expect(await searchStatus(emulator.url, fresh)).toBe(200);
    expect(await searchStatus(emulator.url, READ)).toBe(401);
    expectNoSecret(result, [READ, fresh, WRITE]);
  });

  it('rotates the write token the same way', async () => {
    const fresh = emulator.mintToken(WRITE);
    const result = await rotateLocal(
      deps('write', fresh, {
        confirm: async () => ({ ok: true, detail: 'The write token is in place.' }),
      }),
    );
    expect(result.ok).toBe(true);
    expect(held.write).toBe(fresh);
    expect(result.steps[0]?.detail).toContain('crm.objects.contacts.write');
    expectNoSecret(result, [WRITE, fresh]);
  });

  it('refuses a token HubSpot does not know at the check, and changes nothing', async () => {
    const result = await rotateLocal(deps('read', UNKNOWN));

    expect(result.ok).toBe(false);
    expect(result.steps).toEqual([
      { step: 'check', ok: false, detail: expect.stringMatching(/does not accept.*HTTP 401/) },
    ]);
    expect(swaps).toBe(0);
    expect(held.read).toBe(READ);
    expect(await searchStatus(emulator.url, READ)).toBe(200);
    expectNoSecret(result, [UNKNOWN, READ]);
  });

  it('refuses a read token that can also write (least privilege), and changes nothing', async () => {
    const result = await rotateLocal(deps('read', READ_AND_WRITE));

    expect(result.ok).toBe(false);
    expect(result.steps).toHaveLength(1);
    expect(result.message).toMatch(/can also write \(crm\.objects\.contacts\.write\)/);
    expect(swaps).toBe(0);
    expectNoSecret(result, [READ_AND_WRITE, READ]);
  });

  it('refuses a read token that lacks a scope the catalog needs, naming the scopes', async () => {
    // The write token holds contacts.read (its retried write's lookup), not the other two.
    const result = await rotateLocal(deps('read', emulator.mintToken(WRITE)));
    expect(result.ok).toBe(false);
    expect(result.message).toMatch(
      /lacks the scopes crm\.objects\.companies\.read, sales-email-read: /,
    );
    expect(swaps).toBe(0);
  });

  it('refuses the token already in use, so it never revokes the token it keeps', async () => {
    const result = await rotateLocal(deps('read', READ));
    expect(result.ok).toBe(false);
    expect(result.message).toMatch(/is the one in use/);
    expect(await searchStatus(emulator.url, READ)).toBe(200);
    expectNoSecret(result, [READ]);
  });

  it('keeps the old token valid when the live call through the gateway fails', async () => {
    const fresh = emulator.mintToken(READ);
    const result = await rotateLocal(
      deps('read', fresh, { confirm: async () => ({ ok: false, detail: 'The search failed.' }) }),
    );
    expect(result.ok).toBe(false);
    expect(result.steps.map((s) => s.step)).toEqual(['check', 'store', 'pickup', 'confirm']);
    expect(result.message).toMatch(/old token was not revoked/);
    expect(await searchStatus(emulator.url, READ)).toBe(200);
  });

  it('tells the operator to expire the old token in HubSpot when it cannot revoke it itself', async () => {
    const fresh = emulator.mintToken(READ);
    const result = await rotateLocal(deps('read', fresh, { revokeOld: undefined }));
    expect(result.ok).toBe(true);
    expect(result.steps.map((s) => s.step)).not.toContain('revoke_old');
    expect(result.message).toMatch(/expire the previous token in HubSpot/);
    expect(await searchStatus(emulator.url, READ)).toBe(200);
  });

  it('says HubSpot could not be reached, without the token, when nothing answers', async () => {
    const url = emulator.url;
    await emulator.close();
    const check = await checkHubSpotToken({ token: READ, which: 'read', baseUrl: url });
    expect(check).toEqual({ ok: false, reason: expect.stringMatching(/could not be reached/) });
    expect(JSON.stringify(check)).not.toContain(READ);
  });
});
