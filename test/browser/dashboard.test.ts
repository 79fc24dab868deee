/**
 * The local dashboard in real headless Chromium against the real local app (gateway, file
 * stores, metrics, HubSpot emulator): a burst of contact reads shows on the charts and puts the
 * ContactReadRate rule into ALARM. Chromium comes from the system (/usr/bin/chromium).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
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
import { manualClock, TEST_EPOCH } from '../helpers/time';

const SCREENSHOT = path.join(__dirname, '..', '..', 'test-results', 'dashboard.png');
/** The alarm threshold, low so that a short burst crosses it. */
const READS_THRESHOLD = 20;
const BURST = 26;
/** A user id carrying markup: it must be shown as text, never parsed. */
const HOSTILE_USER = '<img src=x onerror="window.__pwned=1">';

let app: LocalApp;
let browser: Browser;
let dataDir: string;
const logged: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
const log: Logger = {
  info: (message, fields) => logged.push({ level: 'info', message, fields }),
  warn: (message, fields) => logged.push({ level: 'warn', message, fields }),
  error: (message, fields) => logged.push({ level: 'error', message, fields }),
};

/**
 * Time stands still, 2 s into a minute: ContactReadRate sums the current minute, so the burst
 * and the page load must fall in the same minute, however long the test takes.
 */
const clock = manualClock(TEST_EPOCH + 2_000);

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'airlock-dashboard-'));
  app = await startLocalApp(
    loadConfig({
      PORT: '0',
      AIRLOCK_DATA_DIR: dataDir,
      AIRLOCK_CONTACT_READS_PER_MINUTE: String(READS_THRESHOLD),
      // The enforced limits are not under test here: lifted so the burst is served.
      AIRLOCK_READS_PER_MINUTE: '100000',
      AIRLOCK_READS_PER_HOUR: '100000',
      AIRLOCK_DISTINCT_RECORDS_PER_HOUR: '100000',
      AIRLOCK_HUBSPOT_SEARCH_PER_SECOND: '100000',
      AIRLOCK_HUBSPOT_CALLS_PER_TEN_SECONDS: '100000',
    }),
    { log, clock, emulatorRateLimits: { perTenSeconds: 1e6, searchPerSecond: 1e6 } },
  );
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const opened = closedAfterEach();

async function openPage(): Promise<Opened> {
  const o = await openRecordedPage(browser, `${app.url}/dashboard`, { width: 1280, height: 900 });
  opened.push(o);
  expect(o.status).toBe(200);
  expect(o.csp).toContain("default-src 'none'");
  expect(o.csp).toContain("script-src 'self'");
  expect(o.csp).toContain("style-src 'self'");
  return o;
}

async function act(userId: string, action: Record<string, unknown>) {
  const res = await fetch(`${app.url}/v1/actions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${app.keys.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ user_id: userId, agent_prompt: 'Who works at Acme?', action }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** One search for Acme Corp's contacts; the number of contacts returned. */
async function searchAcme(userId: string): Promise<number> {
  const { status, body } = await act(userId, {
    action: 'search_contact',
    company: 'Acme Corp',
    limit: 5,
  });
  expect(status).toBe(200);
  return (body.data as { contacts: unknown[] }).contacts.length;
}

/** The alarm table's row for one rule. */
function alarmRow(page: Page, id: string) {
  return page.locator('#alarm-rows tr', { has: page.locator('th code', { hasText: id }) });
}

/** The number a chart's summary gives for the last hour ("26 requests in the last hour; …"). */
async function hourTotal(page: Page, chart: string): Promise<number> {
  const text = (await page.locator(`#${chart} figcaption`).textContent()) ?? '';
  const match = /^(\d+) /.exec(text);
  return match ? Number(match[1]) : 0;
}

test('a burst of contact reads shows on the charts and puts ContactReadRate into ALARM', async () => {
  // The burst: reads by one user; a user whose id is markup is refused (user ids hold only
  // letters, digits and ._@+-:), so markup never reaches the dashboard as a reader.
  const perUser = { burst: 0 };
  for (let i = 0; i < BURST; i += 1) perUser.burst += await searchAcme('u-burst');
  for (let i = 0; i < 3; i += 1) {
    const hostile = await act(HOSTILE_USER, { action: 'search_contact', company: 'Acme Corp' });
    expect(hostile.status).toBe(400);
  }
  const contacts = perUser.burst;
  expect(contacts).toBeGreaterThan(READS_THRESHOLD);
  // One refusal (an invalid email) and two writes: one approved, one left waiting.
  const refused = await act('u-burst', { action: 'search_contact', email: 'not-an-email' });
  expect(refused.status).toBe(400);
  const reason = String((refused.body.error as { code: string }).code);
  for (const body of ['Called Acme about the renewal', 'Send the revised quote']) {
    const w = await act('u-7', { action: 'create_note', company_id: '5100000001', body });
    expect(w.status).toBe(202);
  }
  const pending = await fetch(`${app.url}/approvals/pending`, {
    headers: { authorization: `Bearer ${app.keys.approverKey}` },
  });
  const first = (
    (await pending.json()) as { approvals: { approval_id: string; action_hash: string }[] }
  ).approvals[0];
  const decided = await fetch(`${app.url}/approvals/${first?.approval_id}/approve`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${app.keys.approverKey}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ action_hash: first?.action_hash }),
  });
  expect(decided.status).toBe(200);
  // The agent's requests (the /v1 API); the operator's own pages are not counted as traffic.
  const requests = BURST + 3 + 1 + 2; // the burst, the refused hostile reads, the refusal, the writes

  const { page, consoleErrors, pageErrors } = await openPage();
  await signIn(page, app.keys.approverKey);

  // The alarm table: the burst's rule is in ALARM, in words; the others are OK.
  const reads = alarmRow(page, 'ContactReadRate');
  await reads.locator('.state').filter({ hasText: 'ALARM' }).waitFor();
  expect(await reads.locator('td.value').textContent()).toBe(String(contacts));
  expect(await reads.locator('td.threshold').textContent()).toBe(String(READS_THRESHOLD));
  expect(await alarmRow(page, 'AuditWriteFailures').locator('.state').textContent()).toBe('OK');
  expect(await alarmRow(page, 'Gateway5xx').locator('.state').textContent()).toBe('OK');
  expect(await page.locator('#alarm-summary').textContent()).toBe(
    '1 of 8 rules in ALARM: ContactReadRate.',
  );
  expect(await page.title()).toMatch(/^\(1 ALARM\) /);
  // The live region says what is in alarm.
  expect(await page.getByRole('status').textContent()).toContain(
    `ContactReadRate is in ALARM (${contacts}, threshold ${READS_THRESHOLD})`,
  );

  // The requests chart shows the burst, and its summary names the number.
  const total = await hourTotal(page, 'chart-requests');
  // Exactly the agent's requests: the page's own data fetches are not agent traffic.
  expect(total).toBe(requests);
  const requestsText = await page.locator('#chart-requests figcaption').textContent();
  expect(requestsText).toMatch(
    new RegExp(`^${total} requests in the last hour; busiest minute \\d\\d:\\d\\d with ${total};`),
  );
  const svg = page.locator('#chart-requests svg');
  expect(await svg.getAttribute('role')).toBe('img');
  expect(await svg.locator('title').first().textContent()).toBe(
    'Requests per minute, last 60 minutes',
  );
  expect(await svg.locator('desc').textContent()).toBe(requestsText);
  expect(await svg.locator('rect.bar').count()).toBe(1); // one busy minute

  // The contact reads chart: the threshold line, and the minute above it.
  expect(await page.locator('#chart-reads svg line.threshold').count()).toBe(1);
  expect(await page.locator('#chart-reads svg rect.bar.over').count()).toBe(1);
  expect(await page.locator('#chart-reads figcaption').textContent()).toBe(
    `${contacts} contact reads in the last hour; busiest minute ${
      /busiest minute (\d\d:\d\d)/.exec(requestsText ?? '')?.[1]
    } with ${contacts}; ${contacts} in the current minute. Above the alarm threshold of ${READS_THRESHOLD} per minute in 1 minute.`,
  );
  expect(await page.locator('#chart-approvals figcaption').textContent()).toBe(
    'Last hour: 2 requested, 1 approved, 0 denied, 0 expired. 1 write waiting now, the oldest for less than a minute.',
  );
  expect(await page.locator('#chart-rejections figcaption').textContent()).toMatch(
    /^4 rejections in the last hour;/,
  );

  // Rejections by reason and top readers, untrusted strings as text.
  expect(await page.locator('#reason-rows tr').first().textContent()).toBe(`${reason}4`);
  const readers = page.locator('#reader-rows tr');
  expect(await readers.count()).toBe(1);
  expect(await readers.nth(0).locator('th').textContent()).toBe('u-burst');
  expect(await readers.nth(0).locator('td').textContent()).toBe(String(perUser.burst));
  expect(await page.locator('#readers img').count()).toBe(0);
  expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBe(
    undefined,
  );

  await mkdir(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: SCREENSHOT.replace(/\.png$/, '-dark.png'), fullPage: true });
  await page.setViewportSize({ width: 420, height: 900 });
  await page.screenshot({ path: SCREENSHOT.replace(/\.png$/, '-narrow.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.emulateMedia({ colorScheme: 'light' });

  // The page refreshes by itself: three more reads show up within a refresh.
  const before = await hourTotal(page, 'chart-requests');
  for (let i = 0; i < 3; i += 1) await searchAcme('u-burst');
  await page.waitForFunction(
    (n) => {
      const text = document.querySelector('#chart-requests figcaption')?.textContent ?? '';
      return Number(/^(\d+) /.exec(text)?.[1] ?? 0) >= n;
    },
    before + 3,
    { timeout: 8000 },
  );

  expect(consoleErrors).toEqual([]);
  expect(pageErrors).toEqual([]);
  expect(await cspViolations(page)).toEqual([]);
});

test("the agent's key and a wrong key are refused clearly, and nothing is shown", async () => {
  const { page, consoleErrors, pageErrors } = await openPage();
  await signIn(page, app.keys.apiKey);
  await page.getByRole('status').filter({ hasText: 'That is not the approver key' }).waitFor();
  expect(await page.getByLabel('Approver key').isVisible()).toBe(true);
  expect(await page.locator('#board').isVisible()).toBe(false);
  expect(await page.evaluate(() => sessionStorage.length)).toBe(0);

  await signIn(page, 'not-a-real-key-0123456789abcdef');
  await page.getByRole('status').filter({ hasText: 'That key was not accepted' }).waitFor();
  expect(await page.locator('#board').isVisible()).toBe(false);

  // The right key, then a reload in the same tab keeps it; Forget key drops it.
  await signIn(page, app.keys.approverKey);
  await alarmRow(page, 'ContactReadRate').waitFor();
  await page.reload();
  await page.locator('#updated').filter({ hasText: 'Updated' }).waitFor();
  expect(await page.getByLabel('Approver key').isVisible()).toBe(false);
  await page.getByRole('button', { name: 'Forget key' }).click();
  expect(await page.getByLabel('Approver key').isVisible()).toBe(true);
  expect(await page.evaluate(() => sessionStorage.length)).toBe(0);

  // Chromium logs refused fetches (403, 401) as console errors; nothing else may appear.
  expect(
    consoleErrors.filter((m) => !/Failed to load resource: .*status of 40[13]/.test(m)),
  ).toEqual([]);
  expect(pageErrors).toEqual([]);
  expect(await cspViolations(page)).toEqual([]);
});

test('the server logged no errors while the dashboard was used', () => {
  expect(logged.filter((l) => l.level !== 'info')).toEqual([]);
});
