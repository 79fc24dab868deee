import fc from 'fast-check';
import type { AuditRecord } from '../../lambdas/core/audit';
import { buildAuditRecord, type RecordFields } from '../../lambdas/core/audit-record';
import { INPUT_BOUNDS } from '../../lambdas/core/bounded';
import { CREDENTIAL_RULE, REDACTED } from '../../lambdas/core/redact';
import { FAKE_AWS_KEY_ID, FAKE_HUBSPOT_TOKEN, FAKE_SLACK_TOKEN } from '../helpers/fake-credentials';

const ORIGIN = { requestId: 'req_1', route: 'POST /v1/actions', startedAt: 1_000 };
const NOW = Date.parse('2026-12-04T10:00:00.000Z');

/** The deployment's own secret, as the gateway's `secrets()` gives it. */
const OWN_SECRET = ['airlock', 'approver', 'key', '7f3a9c2e5b1d8046'].join('-');
const SECRETS = [OWN_SECRET, FAKE_HUBSPOT_TOKEN, FAKE_SLACK_TOKEN, FAKE_AWS_KEY_ID];

/** A string with one of the secrets put somewhere inside ordinary text. */
const withSecret = fc
  .tuple(fc.string({ maxLength: 40 }), fc.constantFrom(...SECRETS), fc.string({ maxLength: 40 }))
  .map(([a, s, b]) => `${a} ${s} ${b}`);

/** Where a path may put what a caller sent: every free-text member of the record. */
const fieldsWithSecret = fc
  .record({
    user_id: fc.oneof(withSecret, fc.string({ maxLength: 20 })),
    agent_prompt: fc.oneof(withSecret, fc.string({ maxLength: 80 })),
    caller: fc.oneof(withSecret, fc.constant('agent-key')),
    reason: fc.oneof(withSecret, fc.constant('validation_failed')),
    structured_action: fc.oneof(
      fc.record({ action: fc.constant('create_note'), body: withSecret }),
      fc.dictionary(withSecret, fc.string({ maxLength: 10 }), { maxKeys: 3 }),
      fc.array(withSecret, { maxLength: 3 }),
    ),
  })
  .map(
    (f): RecordFields => ({
      ...f,
      outcome: 'rejected',
      response_status: 422,
      event: 'request',
    }),
  );

describe('the one audit-record builder', () => {
  it('fills in what a path leaves out: every record has the same members', () => {
    const record = buildAuditRecord(ORIGIN, { outcome: 'completed', response_status: 200 }, NOW);
    expect(record).toMatchObject({
      timestamp: new Date(NOW).toISOString(),
      request_id: 'req_1',
      route: 'POST /v1/actions',
      event: 'request',
      user_id: null,
      agent_prompt: null,
      structured_action: null,
      hubspot_calls: [],
      hubspot_endpoint: null,
      hubspot_status: null,
      duration_ms: NOW - ORIGIN.startedAt,
    });
    expect(record.catalog_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('never lets a secret through, wherever generated input puts it', () => {
    fc.assert(
      fc.property(fieldsWithSecret, (fields) => {
        const text = JSON.stringify(buildAuditRecord(ORIGIN, fields, NOW, [OWN_SECRET]));
        for (const s of SECRETS) expect(text).not.toContain(s);
      }),
      { numRuns: 300, seed: 12 },
    );
  });

  it('a credential split across fields of a refused request leaves none of them in the record', () => {
    // Neither half is a credential on its own; together they are HubSpot's token shape.
    const half = FAKE_HUBSPOT_TOKEN.length / 2;
    const record = buildAuditRecord(
      ORIGIN,
      {
        outcome: 'rejected',
        response_status: 422,
        reason: 'prompt_rejected',
        rule: CREDENTIAL_RULE,
        agent_prompt: `note: ${FAKE_HUBSPOT_TOKEN.slice(0, half)}`,
        structured_action: { action: 'create_note', body: FAKE_HUBSPOT_TOKEN.slice(half) },
        user_id: 'u-1',
      },
      NOW,
      [OWN_SECRET],
    );
    expect([record.user_id, record.agent_prompt, record.structured_action]).toEqual([
      REDACTED,
      REDACTED,
      REDACTED,
    ]);
  });

  it('clamps what a caller sent to the input bounds before it is written', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < INPUT_BOUNDS.maxDepth + 20; i += 1) deep = { d: deep };
    const record: AuditRecord = buildAuditRecord(
      ORIGIN,
      { outcome: 'rejected', response_status: 400, structured_action: deep },
      NOW,
    );
    let depth = 0;
    let node: unknown = record.structured_action;
    while (node !== null && typeof node === 'object') {
      node = Object.values(node as Record<string, unknown>)[0];
      depth += 1;
    }
    expect(depth).toBeLessThanOrEqual(INPUT_BOUNDS.maxDepth);
  });
});
