import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { DEMO } from '../../lambdas/emulator/seed';
import { startTestApp, type TestApp } from '../helpers/local-app';

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full) : [full];
  });
}

describe('tokens never leave the gateway', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ AIRLOCK_REQUEST_DEADLINE_MS: '1000' });
  });
  afterAll(() => t.close());

  it('appear in no response, log line, audit record or approval file, whatever happens', async () => {
    const [apiKey, approverKey, readToken, writeToken] = t.app.secrets();
    const emulator = t.app.emulator;
    if (!emulator || !readToken || !writeToken || !apiKey || !approverKey) throw new Error('setup');
    // Successes, refusals and HubSpot failures of every kind.
    await t.act({ action: 'search_contact', email: DEMO.acmeContactEmail });
    await t.act(
      { action: 'search_company', name: 'Acme' },
      { agent_prompt: `my key is ${apiKey}` },
    );
    await t.act({ action: 'search_company', name: readToken });
    await t.call('POST', '/v1/actions', { key: `${approverKey}x`, body: {} });
    const write = await t.act({
      action: 'create_note',
      company_id: DEMO.acmeCompanyId,
      body: 'token test',
    });
    await t.call('POST', `/approvals/${(write.body.approval as { id: string }).id}/approve`, {
      key: approverKey,
    });
    emulator.faults.failNext(5, 500);
    await t.act({ action: 'search_company', domain: 'acme.com' });
    emulator.faults.hangNext(1);
    await t.act({ action: 'search_company', domain: 'acme.com' });
    emulator.setTokens({ [writeToken]: ['crm.objects.contacts.write'] });
    await t.act({ action: 'search_company', domain: 'acme.com' });
    emulator.setTokens({
      [readToken]: ['crm.objects.contacts.read'],
      [writeToken]: ['crm.objects.contacts.write'],
    });
    await t.act({ action: 'search_company', domain: 'acme.com' });

    const places: [string, string][] = [
      ...t.responses.map((r, i): [string, string] => [`response ${i}`, r]),
      ...t.logs.map((l, i): [string, string] => [`log line ${i}`, l]),
      ...filesUnder(t.app.dataDir)
        .filter((f) => !f.endsWith('keys.json'))
        .map((f): [string, string] => [f, readFileSync(f, 'utf8')]),
      ['emulator request log', JSON.stringify(emulator.requests)],
    ];
    expect(places.length).toBeGreaterThan(20);
    // Not even where the agent itself pasted a secret into its prompt or its action.
    const secrets = [apiKey, approverKey, readToken, writeToken];
    for (const [where, text] of places) {
      expect({ where, leaks: secrets.some((s) => text.includes(s)) }).toEqual({
        where,
        leaks: false,
      });
    }
    const audit = await t.audit();
    expect(audit.some((r) => r.agent_prompt === 'my key is [REDACTED]')).toBe(true);
  });
});
