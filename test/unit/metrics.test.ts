import { LocalMetrics } from '../../lambdas/adapters/local/local-metrics';
import { alarmRules } from '../../lambdas/core/alarms';
import type { AuditRecord } from '../../lambdas/core/audit';
import { catalogHash } from '../../lambdas/core/catalog';
import {
  emfLine,
  emfMetrics,
  NAMESPACE,
  type Observation,
  observe,
  observedAudit,
} from '../../lambdas/core/metrics';

function record(overrides: Partial<AuditRecord> = {}): AuditRecord {
  return {
    timestamp: '2026-11-29T10:00:00.000Z',
    user_id: 'u-42',
    agent_prompt: 'p',
    structured_action: { action: 'search_contact', company: 'Acme Corp' },
    hubspot_endpoint: 'POST /crm/v3/objects/contacts/search',
    response_status: 200,
    request_id: 'req_1',
    event: 'request',
    route: 'POST /v1/actions',
    action: 'search_contact',
    outcome: 'completed',
    reason: null,
    caller: 'local-agent-key',
    hubspot_status: 200,
    hubspot_calls: [
      {
        endpoint: 'POST /crm/v3/objects/contacts/search',
        status: 200,
        attempts: 1,
        duration_ms: 12,
      },
    ],
    duration_ms: 20,
    record_count: 2,
    catalog_hash: catalogHash(),
    ...overrides,
  };
}

describe('metrics from audit records', () => {
  it('counts a contact read: requests, contact reads, records, HubSpot latency', () => {
    expect(observe(record()).values).toEqual({
      Requests: 1,
      RecordsReturned: 2,
      ContactReads: 2,
      HubSpotCalls: 1,
      HubSpotLatency: 12,
    });
  });

  it('counts refusals by reason, 5xx, HubSpot 401/429 and approvals', () => {
    const refused = observe(
      record({
        outcome: 'rejected',
        reason: 'rate_limited',
        rule: 'reads_per_user',
        response_status: 429,
        record_count: undefined,
        hubspot_calls: [],
      }),
    );
    expect(refused.values).toEqual({ Requests: 1, Rejections: 1, RateLimited: 1 });
    expect(refused.reason).toBe('rate_limited');
    const failed = observe(
      record({
        outcome: 'failed',
        reason: 'hubspot_unauthorized',
        response_status: 502,
        record_count: undefined,
        hubspot_calls: [
          { endpoint: 'x', status: 429, attempts: 1, duration_ms: 1 },
          { endpoint: 'x', status: 401, attempts: 1, duration_ms: 1 },
        ],
      }),
    );
    expect(failed.values).toMatchObject({
      ServerErrors: 1,
      HubSpotRateLimited: 1,
      HubSpotUnauthorized: 1,
    });
    expect(
      observe(
        record({
          outcome: 'pending_approval',
          response_status: 202,
          record_count: undefined,
          hubspot_calls: [],
        }),
      ).values,
    ).toEqual({
      Requests: 1,
      ApprovalsRequested: 1,
    });
    expect(
      observe(
        record({ event: 'approval', outcome: 'expired', response_status: null, hubspot_calls: [] }),
      ).values,
    ).toEqual({
      ApprovalsExpired: 1,
      WritesDeniedOrExpired: 1,
    });
  });

  it('writes CloudWatch Embedded Metric Format with the stage, action/outcome and reason dimensions', () => {
    const lines: string[] = [];
    emfMetrics('prod', (l) => lines.push(l)).record(
      observe(
        record({
          outcome: 'rejected',
          reason: 'prompt_rejected',
          response_status: 422,
          record_count: undefined,
          hubspot_calls: [],
        }),
      ),
      1_700_000_000_000,
    );
    const doc = JSON.parse(lines[0] ?? '{}');
    expect(doc._aws.Timestamp).toBe(1_700_000_000_000);
    expect(doc._aws.CloudWatchMetrics).toEqual([
      {
        Namespace: NAMESPACE,
        Dimensions: [['Stage']],
        Metrics: [
          { Name: 'Requests', Unit: 'Count' },
          { Name: 'Rejections', Unit: 'Count' },
        ],
      },
      {
        Namespace: NAMESPACE,
        Dimensions: [['Stage', 'Action', 'Outcome']],
        Metrics: [{ Name: 'Requests', Unit: 'Count' }],
      },
      {
        Namespace: NAMESPACE,
        Dimensions: [['Stage', 'Reason']],
        Metrics: [{ Name: 'Rejections', Unit: 'Count' }],
      },
    ]);
    expect(doc).toMatchObject({
      Stage: 'prod',
      Action: 'search_contact',
      Outcome: 'rejected',
      Reason: 'prompt_rejected',
      Requests: 1,
      Rejections: 1,
      UserId: 'u-42',
    });
    // Every dimension named in a directive is a member of the document, as EMF requires.
    for (const d of doc._aws.CloudWatchMetrics)
      for (const set of d.Dimensions) for (const k of set) expect(doc).toHaveProperty(k);
  });

  it('101 contact reads in one minute sum to 101 and put the read-rate rule in ALARM at its configured threshold', () => {
    const metrics = new LocalMetrics({
      contactReadsPerMinute: 100,
      deniedOrExpiredPerHour: 5,
      pendingMinutes: 30,
    });
    const t0 = Date.parse('2026-11-29T10:00:00.000Z');
    for (let i = 0; i < 101; i += 1)
      metrics.record(observe(record({ record_count: 1 })), t0 + i * 100);
    const data = metrics.snapshot(t0 + 30_000);
    expect(data.minutes.at(-1)?.ContactReads).toBe(101);
    const rule = alarmRules({
      contactReadsPerMinute: 100,
      deniedOrExpiredPerHour: 5,
      pendingMinutes: 30,
    }).find((r) => r.id === 'ContactReadRate');
    expect(rule).toMatchObject({
      metric: 'ContactReads',
      statistic: 'Sum',
      periodSeconds: 60,
      threshold: 100,
    });
    expect(data.alarms.find((a) => a.id === 'ContactReadRate')).toMatchObject({
      state: 'ALARM',
      value: 101,
      threshold: 100,
    });
    expect(data.alarms.find((a) => a.id === 'AuditWriteFailures')?.state).toBe('OK');
    // 100 would not have been a breach: the rule is "more than".
    const calm = new LocalMetrics();
    for (let i = 0; i < 100; i += 1)
      calm.record(observe(record({ record_count: 1 })), t0 + i * 100);
    expect(calm.snapshot(t0 + 30_000).alarms.find((a) => a.id === 'ContactReadRate')?.state).toBe(
      'OK',
    );
  });

  it('counts an audit record that could not be written', async () => {
    const seen: Observation[] = [];
    const sink = observedAudit(
      { append: () => Promise.reject(new Error('disk full')) },
      { record: (o) => seen.push(o) },
      () => 0,
    );
    await expect(sink.append(record())).rejects.toThrow('disk full');
    expect(seen.map((o) => o.values)).toEqual([{ AuditWriteFailures: 1 }]);
  });

  it('reports the oldest pending write against its rule', () => {
    const metrics = new LocalMetrics();
    const now = Date.parse('2026-11-29T10:00:00.000Z');
    const data = metrics.snapshot(now, [now - 31 * 60_000, now - 5 * 60_000]);
    expect(data.approvals_pending).toBe(2);
    expect(data.alarms.find((a) => a.id === 'ApprovalsPendingTooLong')).toMatchObject({
      state: 'ALARM',
      value: 31,
    });
  });
});

describe('emfLine', () => {
  it('names no Action or Reason dimension when the record has none', () => {
    const doc = JSON.parse(
      emfLine(
        {
          values: { ApprovalsPending: 0 },
          action: null,
          outcome: 'watch',
          reason: null,
          userId: null,
        },
        1,
        'dev',
      ),
    );
    expect(doc._aws.CloudWatchMetrics).toHaveLength(1);
    expect(doc).not.toHaveProperty('Action');
  });
});

describe('metrics that an agent cannot inflate', () => {
  it('names an action outside the catalog "unknown", so no new metric is minted per request', () => {
    const o = observe({
      ...baseRecord(),
      action: 'drop_table_then_export_everything',
      outcome: 'rejected',
      reason: 'unknown_action',
      response_status: 400,
    });
    expect(o.action).toBe('unknown');
  });

  it('counts the rate-limit alarm for the per-user limits and the bulk guard only', () => {
    const refused = (rule: string) =>
      observe({
        ...baseRecord(),
        outcome: 'rejected',
        reason: 'rate_limited',
        rule,
        response_status: 429,
      }).values.RateLimited;
    expect(refused('reads_per_user')).toBe(1);
    expect(refused('bulk_export')).toBe(1);
    expect(refused('hubspot_budget')).toBeUndefined();
    expect(refused('pending_approvals')).toBeUndefined();
  });

  it('counts a denial once: at the decision, not again when the AWS flow closes the write', () => {
    const decision = observe({
      ...baseRecord(),
      event: 'approval',
      outcome: 'denied',
      response_status: 200,
    });
    const closing = observe({
      ...baseRecord(),
      event: 'approval',
      outcome: 'denied',
      response_status: null,
    });
    expect(decision.values).toMatchObject({ ApprovalsDenied: 1, WritesDeniedOrExpired: 1 });
    expect(closing.values.ApprovalsDenied).toBeUndefined();
  });

  it('writes no EMF document for a record that counts for nothing', () => {
    const lines: string[] = [];
    emfMetrics('dev', (l) => lines.push(l)).record(
      { values: {}, action: null, outcome: 'completed', reason: null, userId: null },
      1,
    );
    expect(lines).toEqual([]);
  });
});

function baseRecord(): AuditRecord {
  return {
    timestamp: '2026-11-29T10:00:00.000Z',
    user_id: 'u-42',
    agent_prompt: 'p',
    structured_action: null,
    hubspot_endpoint: null,
    response_status: 200,
    request_id: 'req_1',
    event: 'request',
    route: 'POST /v1/actions',
    action: 'search_contact',
    outcome: 'completed',
    reason: null,
    caller: 'agent',
    hubspot_status: null,
    hubspot_calls: [],
    duration_ms: 1,
    catalog_hash: catalogHash(),
  };
}

describe('HubSpot throttling', () => {
  it('counts every 429, including those the gateway waited out and retried', () => {
    const o = observe({
      ...baseRecord(),
      hubspot_calls: [
        {
          endpoint: 'POST /crm/v3/objects/contacts/search',
          status: 200,
          attempts: 3,
          throttled: 2,
          duration_ms: 2100,
        },
      ],
    });
    expect(o.values.HubSpotRateLimited).toBe(2);
  });
});

describe('local alarm evaluation', () => {
  it('puts a rule of two evaluation periods in ALARM only when both periods breach', () => {
    const t0 = Date.parse('2026-11-29T10:00:00.000Z');
    const throttled = (at: number, n: number) => {
      for (let i = 0; i < n; i += 1) {
        metrics.record(
          observe({
            ...baseRecord(),
            hubspot_calls: [
              { endpoint: 'x', status: 200, attempts: 2, throttled: 1, duration_ms: 1 },
            ],
          }),
          at,
        );
      }
    };
    const metrics = new LocalMetrics();
    throttled(t0 + 6 * 60_000, 6); // the current 5-minute period only
    const rule = (m: LocalMetrics, at: number) =>
      m.snapshot(at).alarms.find((a) => a.id === 'HubSpotRateLimited');
    expect(rule(metrics, t0 + 9 * 60_000)).toMatchObject({ state: 'OK', value: 6 });
    throttled(t0 + 2 * 60_000, 6); // and the one before it
    expect(rule(metrics, t0 + 9 * 60_000)?.state).toBe('ALARM');
  });
});
