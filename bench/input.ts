/**
 * `npm run bench:input`: what the input pipeline costs per request, in process: bounded JSON
 * parsing, the Unicode policy over every string, credential detection on every decoded string,
 * the envelope and the action's validation. It prints figures; it is not a test.
 *
 * Settings (environment): BENCH_INPUT_RUNS (2000 per body).
 */
import { performance } from 'node:perf_hooks';
import { BoundsError } from '../lambdas/core/bounded';
import { valueHoldsSecret } from '../lambdas/core/redact';
import { parseEnvelope, parseJson, screenStrings, validateAction } from '../lambdas/core/validate';
import { percentile } from './stats';

const runs = Number(process.env.BENCH_INPUT_RUNS ?? 2000);
const SECRETS = ['ak_bench-agent-key-0123456789abcdef', 'apk_bench-approver-key-0123456789'];

const envelope = (prompt: string, action: Record<string, unknown>) =>
  JSON.stringify({ user_id: 'u-42', agent_prompt: prompt, action });

const BODIES: [string, string][] = [
  [
    'a read (the gateway bench)',
    envelope('Find Acme contacts', { action: 'search_contact', company: 'Acme Corp', limit: 5 }),
  ],
  [
    'a 2,000-character note with emoji',
    envelope('Log the call.', {
      action: 'create_note',
      company_id: '5100000001',
      body: 'Called Jane ❤️ 🇫🇷 about the Q3 renewal; café, naïve, Grüße. '.repeat(32).slice(0, 2000),
    }),
  ],
  [
    'an 8,000-character prompt, mixed scripts',
    envelope('Résumé für 東京 и Москва, 👨‍👩‍👧 ok. '.repeat(300).slice(0, 8000), {
      action: 'search_company',
      name: 'Acme',
    }),
  ],
  [
    '20,000 levels of arrays (refused)',
    `{"user_id":"u","agent_prompt":"p","action":{"action":"search_company","x":${'['.repeat(20_000)}${']'.repeat(20_000)}}}`,
  ],
];

function pipeline(raw: string): void {
  try {
    const body = parseJson(raw);
    valueHoldsSecret(body, SECRETS);
    const envelope = parseEnvelope(screenStrings(body));
    validateAction(envelope.action);
  } catch (err) {
    if (!(err instanceof BoundsError) && !(err instanceof Error)) throw err;
  }
}

console.log(`input pipeline, ${runs} runs per body, in process (µs per request)`);
console.log(
  `${'body'.padEnd(44)} ${'bytes'.padStart(7)} ${'p50'.padStart(8)} ${'p99'.padStart(8)}`,
);
for (const [name, raw] of BODIES) {
  for (let i = 0; i < Math.min(200, runs); i += 1) pipeline(raw);
  const times = new Float64Array(runs);
  for (let i = 0; i < runs; i += 1) {
    const t0 = performance.now();
    pipeline(raw);
    times[i] = (performance.now() - t0) * 1000;
  }
  times.sort();
  console.log(
    `${name.padEnd(44)} ${String(Buffer.byteLength(raw)).padStart(7)} ${percentile(times, 50).toFixed(1).padStart(8)} ${percentile(times, 99).toFixed(1).padStart(8)}`,
  );
}
