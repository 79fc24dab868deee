import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

/** Debian's Chromium, headless, with the flags this machine needs (no network of its own). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
    ],
  });
}

/** A page opened by a test, with what went wrong in it. */
export interface Opened {
  context: BrowserContext;
  page: Page;
  consoleErrors: string[];
  pageErrors: string[];
}

/**
 * Opens `url` in a fresh context that records console errors, page errors and CSP violations
 * (the listener runs before the page's own script and is not subject to its CSP).
 */
export async function openRecordedPage(
  browser: Browser,
  url: string,
  viewport: { width: number; height: number },
): Promise<Opened & { status: number | undefined; csp: string }> {
  const context = await browser.newContext({ viewport });
  await context.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { __csp: string[] }).__csp = seen;
    document.addEventListener('securitypolicyviolation', (e) => {
      seen.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  const page = await context.newPage();
  const o: Opened = { context, page, consoleErrors: [], pageErrors: [] };
  page.on('console', (m) => {
    if (m.type() === 'error') o.consoleErrors.push(`${m.text()} @ ${m.location().url}`);
  });
  page.on('pageerror', (e) => o.pageErrors.push(e.message));
  const response = await page.goto(url);
  return {
    ...o,
    status: response?.status(),
    csp: response?.headers()['content-security-policy'] ?? '',
  };
}

export function cspViolations(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __csp: string[] }).__csp);
}

/** Enters the approver key on a page that asks for it (the approval page, the dashboard). */
export async function signIn(page: Page, key: string): Promise<void> {
  await page.getByLabel('Approver key').fill(key);
  await page.getByRole('button', { name: 'Use this key' }).click();
}

/** A list for the pages a test file opens; each test's pages are closed after it. */
export function closedAfterEach(): Opened[] {
  const opened: Opened[] = [];
  afterEach(async () => {
    for (const o of opened.splice(0)) await o.context.close();
  });
  return opened;
}
