/**
 * The local approval page in real headless Chromium against the real local app (gateway,
 * file stores, HubSpot emulator). Chromium comes from the system (/usr/bin/chromium).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { noteBodyHtml } from '../../lambdas/adapters/hubspot/hubspot-adapter';
import type { Logger } from '../../lambdas/core/ports';
import { type LocalApp, startLocalApp } from '../../lambdas/local/app';
import { loadConfig } from '../../lambdas/local/config';
import {
  closedAfterEach,
  cspViolations,
  launchChromium,
  type Opened,
  openRecordedPage,
  signIn,
} from '../helpers/browser';

const BODY = 'Called <b>Acme</b> about renewal';
const SCREENSHOT = path.join(__dirname, '..', '..', 'test-results', 'approval-page.png');

let app: LocalApp;
let browser: Browser;
let dataDir: string;
/** The app's log, kept quiet here; errors in it fail the run (see afterAll). */
const logged: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
const log: Logger = {
  info: (message, fields) => logged.push({ level: 'info', message, fields }),
  warn: (message, fields) => logged.push({ level: 'warn', message, fields }),
  error: (message, fields) => logged.push({ level: 'error', message, fields }),
};

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'airlock-page-'));
  app = await startLocalApp(loadConfig({ PORT: '0', AIRLOCK_DATA_DIR: dataDir }), { log });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const opened = closedAfterEach();

async function openPage(): Promise<Opened> {
  const o = await openRecordedPage(browser, `${app.url}/approvals`, { width: 1000, height: 900 });
  opened.push(o);
  expect(o.status).toBe(200);
  expect(o.csp).toContain("script-src 'self'");
  return o;
}

async function requestWrite(body = BODY, userId = 'u-7', prompt = 'Log the call') {
  const res = await fetch(`${app.url}/v1/actions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${app.keys.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      user_id: userId,
      agent_prompt: prompt,
      action: { action: 'create_note', company_id: '5100000001', body },
    }),
  });
  expect(res.status).toBe(202);
  return (await res.json()) as { request_id: string; approval: { id: string } };
}

async function statusOf(requestId: string) {
  const res = await fetch(`${app.url}/v1/actions/${requestId}`, {
    headers: { authorization: `Bearer ${app.keys.apiKey}` },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { status: string; data?: { note_id?: string } };
}

async function pendingApprovals() {
  const res = await fetch(`${app.url}/approvals/pending`, {
    headers: { authorization: `Bearer ${app.keys.approverKey}` },
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { approvals: { approval_id: string; action_hash: string }[] };
  return body.approvals;
}

async function pendingIds(): Promise<string[]> {
  return (await pendingApprovals()).map((a) => a.approval_id);
}

/** The card for one write, found by its (unique) note body. */
function cardWith(page: Page, body: string) {
  return page.locator('li.card').filter({ has: page.locator('.body', { hasText: body }) });
}

test('an approver sees exactly what will be written, approves it, and the note exists', async () => {
  const notesBefore = app.emulator?.notes().length ?? 0;
  const pending = await requestWrite();
  const other = await requestWrite(
    'Renewal is due in March.\nSend the revised quote by Friday.',
    'u-12',
    'Remind me about the renewal',
  );
  const { page, consoleErrors, pageErrors } = await openPage();
  await signIn(page, app.keys.approverKey);

  const card = cardWith(page, BODY);
  await card.waitFor();
  expect(await card.count()).toBe(1);
  // The body is shown literally: the markup is text, not a bold element.
  expect(await card.locator('.body').textContent()).toBe(BODY);
  expect(await card.locator('b').count()).toBe(0);
  const text = (await card.textContent()) ?? '';
  expect(text).toContain('create_note');
  expect(text).toContain('company 5100000001');
  expect(text).toContain('u-7');
  expect(text).toContain('local-agent-key');
  expect(text).toContain('Log the call');
  const approval = (await pendingApprovals()).find((a) => a.approval_id === pending.approval.id);
  expect(approval?.action_hash).toMatch(/\S{16,}/);
  expect(await card.locator('.hash').textContent()).toBe(approval?.action_hash);

  await mkdir(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  await card.getByRole('button', { name: 'Approve' }).click();
  const status = page.getByRole('status');
  await status.filter({ hasText: /^Approved: note \S+ was written/ }).waitFor();

  const notes = app.emulator?.notes() ?? [];
  expect(notes).toHaveLength(notesBefore + 1);
  const note = notes[notes.length - 1];
  // HubSpot renders note bodies as HTML: the gateway sends the approved text escaped.
  expect(note?.body).toBe(noteBodyHtml(BODY));
  expect(note?.body).toContain('&lt;b&gt;');
  expect(await status.textContent()).toContain(`note ${note?.id} `);

  const after = await statusOf(pending.request_id);
  expect(after.status).toBe('completed');
  expect(after.data?.note_id).toBe(note?.id);

  // The decided card is gone; the other write still waits.
  await cardWith(page, BODY).waitFor({ state: 'detached' });
  expect(await cardWith(page, 'Renewal is due in March.').count()).toBe(1);
  expect(await pendingIds()).toEqual([other.approval.id]);
  await page.screenshot({
    path: SCREENSHOT.replace(/\.png$/, '-after-approve.png'),
    fullPage: true,
  });

  expect(consoleErrors).toEqual([]);
  expect(pageErrors).toEqual([]);
  expect(await cspViolations(page)).toEqual([]);
});

test('denying writes nothing and the request ends denied', async () => {
  const notesBefore = app.emulator?.notes().length ?? 0;
  const body = 'Deny me: promise a 90% discount';
  const pending = await requestWrite(body);
  const { page, consoleErrors, pageErrors } = await openPage();
  await signIn(page, app.keys.approverKey);

  const card = cardWith(page, body);
  await card.waitFor();
  await card.getByRole('button', { name: 'Deny' }).click();
  await page
    .getByRole('status')
    .filter({ hasText: 'Denied: nothing was written to company 5100000001.' })
    .waitFor();
  await card.waitFor({ state: 'detached' });

  expect(app.emulator?.notes()).toHaveLength(notesBefore);
  expect((await statusOf(pending.request_id)).status).toBe('denied');
  expect(await pendingIds()).not.toContain(pending.approval.id);
  expect(await page.locator('#history li').first().textContent()).toContain('Denied');

  expect(consoleErrors).toEqual([]);
  expect(pageErrors).toEqual([]);
  expect(await cspViolations(page)).toEqual([]);
});

test("the agent's key is refused clearly and approves nothing", async () => {
  const notesBefore = app.emulator?.notes().length ?? 0;
  const pending = await requestWrite('Agent tries to approve its own note');
  const { page, consoleErrors, pageErrors } = await openPage();
  await signIn(page, app.keys.apiKey);

  await page.getByRole('status').filter({ hasText: 'That is not the approver key' }).waitFor();
  // Back at the key prompt, with nothing listed and the key not kept.
  expect(await page.getByLabel('Approver key').isVisible()).toBe(true);
  expect(await page.locator('li.card').count()).toBe(0);
  expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0);
  expect(await page.evaluate(() => sessionStorage.length)).toBe(0);

  // A wrong key is refused too (401).
  await signIn(page, 'not-a-real-key-0123456789abcdef');
  await page.getByRole('status').filter({ hasText: 'That key was not accepted' }).waitFor();
  await page.screenshot({ path: SCREENSHOT.replace(/\.png$/, '-refused.png') });

  expect(app.emulator?.notes()).toHaveLength(notesBefore);
  expect((await statusOf(pending.request_id)).status).toBe('pending_approval');
  // Chromium logs refused fetches (403, 401) as console errors; nothing else may appear.
  expect(
    consoleErrors.filter((m) => !/Failed to load resource: .*status of 40[13]/.test(m)),
  ).toEqual([]);
  expect(pageErrors).toEqual([]);
  expect(await cspViolations(page)).toEqual([]);
});

test('a HubSpot failure after approval is shown, and nothing is written', async () => {
  const notesBefore = app.emulator?.notes().length ?? 0;
  const body = 'HubSpot will fail on this one';
  const pending = await requestWrite(body);
  const { page, consoleErrors, pageErrors } = await openPage();
  await signIn(page, app.keys.approverKey);
  const card = cardWith(page, body);
  await card.waitFor();

  app.emulator?.faults.failNext(1, 500, '/crm/v3/objects/notes');
  try {
    await card.getByRole('button', { name: 'Approve' }).click();
    const status = page.getByRole('status');
    await status.filter({ hasText: /^Approval failed \(5\d\d hubspot_error\)/ }).waitFor();
    expect(await status.textContent()).toContain('HubSpot failed');
  } finally {
    app.emulator?.faults.clear();
  }
  await card.waitFor({ state: 'detached' });
  expect(app.emulator?.notes()).toHaveLength(notesBefore);
  expect((await statusOf(pending.request_id)).status).toBe('failed');

  expect(consoleErrors.filter((m) => !/Failed to load resource: .*status of 50\d/.test(m))).toEqual(
    [],
  );
  expect(pageErrors).toEqual([]);
  expect(await cspViolations(page)).toEqual([]);
});

test('the server logged no errors while the page was used', () => {
  expect(logged.filter((l) => l.level !== 'info')).toEqual([]);
  expect(logged.filter((l) => l.message === 'request').length).toBeGreaterThan(10);
});

test('the page refreshes by itself, keeps the key for the tab, forgets it on request, and stays within its CSP', async () => {
  const { page, consoleErrors, pageErrors } = await openPage();
  await signIn(page, app.keys.approverKey);
  await page.locator('#updated').filter({ hasText: 'Updated' }).waitFor();

  // A write requested after the page loaded shows up without clicking Refresh.
  const body = 'Arrived while the page was open';
  await requestWrite(body);
  await cardWith(page, body).waitFor({ timeout: 8000 });

  // A reload in the same tab keeps the key.
  await page.reload();
  await cardWith(page, body).waitFor();
  expect(await page.getByLabel('Approver key').isVisible()).toBe(false);

  await page.getByRole('button', { name: 'Forget key' }).click();
  expect(await page.getByLabel('Approver key').isVisible()).toBe(true);
  expect(await page.locator('li.card').count()).toBe(0);
  expect(await page.evaluate(() => sessionStorage.length)).toBe(0);

  expect(consoleErrors).toEqual([]);
  expect(pageErrors).toEqual([]);
  expect(await cspViolations(page)).toEqual([]);
});
