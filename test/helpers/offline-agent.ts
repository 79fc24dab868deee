import OpenAI from 'openai';
import { AirlockClient } from '../../lambdas/client';
import { type FakeOpenAi, startFakeOpenAi, watchFetch } from './fake-openai';
import { startTestApp, type TestApp } from './local-app';

/**
 * What the agent examples run against in tests: the real local gateway and emulator, a local
 * fake of OpenAI's API, and a watch on every fetch, so a test can prove nothing left the machine.
 */
export interface OfflineAgent {
  t: TestApp;
  fake: FakeOpenAi;
  gateway: AirlockClient;
  openai: OpenAI;
  /** Every URL fetched since the last reset. */
  fetched(): string[];
  /** Forgets the requests seen so far (call before each test). */
  reset(): void;
  /** Asserts every call stayed on 127.0.0.1 and every OpenAI call was an authorized chat one. */
  expectStayedLocal(): void;
  close(): Promise<void>;
}

export async function startOfflineAgent(): Promise<OfflineAgent> {
  const fetches = watchFetch();
  const t = await startTestApp();
  const fake = await startFakeOpenAi();
  return {
    t,
    fake,
    gateway: AirlockClient.local({ apiKey: t.app.keys.apiKey, url: t.app.url }),
    openai: new OpenAI({ apiKey: fake.apiKey, baseURL: fake.baseURL, maxRetries: 0 }),
    fetched: () => [...fetches.urls],
    reset() {
      fake.requests.length = 0;
      fetches.urls.length = 0;
    },
    expectStayedLocal() {
      expect(fetches.urls.length).toBeGreaterThan(0);
      for (const url of fetches.urls) expect(new URL(url).hostname).toBe('127.0.0.1');
      expect(fake.requests.every((r) => r.authorized && r.path === '/v1/chat/completions')).toBe(
        true,
      );
    },
    async close() {
      fetches.restore();
      await fake.close();
      await t.close();
    },
  };
}
