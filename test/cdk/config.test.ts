import { CONTEXT_KEYS, ConfigError, parseConfig } from '../../lib/config';
import { cdkJsonContext } from './helpers';

describe('deployment configuration (CDK context)', () => {
  it('defaults to a dev stage with a 30-day GOVERNANCE lock', () => {
    expect(parseConfig({})).toEqual({
      stage: 'dev',
      auditRetentionDays: 30,
      auditLockMode: 'GOVERNANCE',
      alarmThresholds: {
        contactReadsPerMinute: 100,
        deniedOrExpiredPerHour: 5,
        pendingMinutes: 30,
      },
      limits: {
        readsPerMinute: 30,
        readsPerHour: 300,
        distinctRecordsPerHour: 200,
        hubspotSearchPerSecond: 4,
        hubspotCallsPerTenSeconds: 90,
      },
      apiRateLimit: 20,
      apiBurstLimit: 40,
      logRetentionDays: 30,
      approval: {
        approvalTtlSeconds: 3600,
        slackChannelId: '',
        slackTeamId: '',
        approverSlackIds: [],
        requiredApprovals: { create_note: 1 },
        userApprovers: {},
      },
      contained: false,
      readOnly: false,
    });
  });

  it('defaults prod to a 365-day COMPLIANCE lock', () => {
    expect(parseConfig({ stage: 'prod' })).toMatchObject({
      stage: 'prod',
      auditRetentionDays: 365,
      auditLockMode: 'COMPLIANCE',
    });
  });

  it('lets an explicit value win over the stage default', () => {
    expect(parseConfig({ stage: 'prod', auditRetentionDays: 2555 })).toMatchObject({
      auditRetentionDays: 2555,
      auditLockMode: 'COMPLIANCE',
    });
    expect(parseConfig({ auditLockMode: 'COMPLIANCE' }).auditLockMode).toBe('COMPLIANCE');
  });

  it('reads -c values, which arrive as strings, and treats null as unset', () => {
    expect(
      parseConfig({
        auditRetentionDays: '90',
        apiRateLimit: '5',
        apiBurstLimit: '10',
        logRetentionDays: '90',
        alarmEmail: 'ops@example.com',
        approval: '{"approvalTtlSeconds": "600"}',
        auditLockMode: null,
        contained: 'true',
        readOnly: 'false',
      }),
    ).toEqual({
      stage: 'dev',
      auditRetentionDays: 90,
      auditLockMode: 'GOVERNANCE',
      alarmEmail: 'ops@example.com',
      alarmThresholds: {
        contactReadsPerMinute: 100,
        deniedOrExpiredPerHour: 5,
        pendingMinutes: 30,
      },
      limits: {
        readsPerMinute: 30,
        readsPerHour: 300,
        distinctRecordsPerHour: 200,
        hubspotSearchPerSecond: 4,
        hubspotCallsPerTenSeconds: 90,
      },
      apiRateLimit: 5,
      apiBurstLimit: 10,
      logRetentionDays: 90,
      approval: {
        approvalTtlSeconds: 600,
        slackChannelId: '',
        slackTeamId: '',
        approverSlackIds: [],
        requiredApprovals: { create_note: 1 },
        userApprovers: {},
      },
      contained: true,
      readOnly: false,
    });
  });

  it('reads the Slack settings and approval counts, from cdk.json values or -c strings', () => {
    const expected = {
      approvalTtlSeconds: 3600,
      slackChannelId: 'C0123456789',
      slackTeamId: 'T0123456789',
      approverSlackIds: ['U0123456789', 'W0123456789'],
      requiredApprovals: { create_note: 2 },
      userApprovers: { 'u-42': ['U0123456789'] },
    };
    expect(
      parseConfig({
        approval: {
          slackChannelId: 'C0123456789',
          slackTeamId: 'T0123456789',
          approverSlackIds: ['U0123456789', 'W0123456789'],
          requiredApprovals: { create_note: 2 },
          userApprovers: { 'u-42': ['U0123456789'] },
        },
      }).approval,
    ).toEqual(expected);
    // -c approval='{...}' arrives as one JSON string; the list may also be a comma list there.
    expect(
      parseConfig({
        approval: JSON.stringify({
          slackChannelId: 'C0123456789',
          slackTeamId: 'T0123456789',
          approverSlackIds: 'U0123456789, W0123456789,U0123456789',
          requiredApprovals: '{"create_note":"2"}',
          userApprovers: '{"u-42":["U0123456789"]}',
        }),
      }).approval,
    ).toEqual(expected);
  });

  it('reads alarm thresholds and limits as objects or -c JSON strings, missing keys defaulted', () => {
    const c = parseConfig({
      alarmThresholds: '{"contactReadsPerMinute":50}',
      limits: { readsPerMinute: '10', readsPerHour: null, hubspotSearchPerSecond: 2 },
    });
    expect(c.alarmThresholds).toEqual({
      contactReadsPerMinute: 50,
      deniedOrExpiredPerHour: 5,
      pendingMinutes: 30,
    });
    expect(c.limits).toEqual({
      readsPerMinute: 10,
      readsPerHour: 300,
      distinctRecordsPerHour: 200,
      hubspotSearchPerSecond: 2,
      hubspotCallsPerTenSeconds: 90,
    });
    expect(
      parseConfig({ limits: '{"readsPerMinute":5,"readsPerHour":5}' }).limits.readsPerHour,
    ).toBe(5);
  });

  it.each([
    [{ stage: 'Prod!' }, 'stage'],
    [{ auditLockMode: 'STRICT' }, 'auditLockMode'],
    [{ auditRetentionDays: 0 }, 'auditRetentionDays'],
    [{ auditRetentionDays: 'a year' }, 'auditRetentionDays'],
    [{ apiRateLimit: -1 }, 'apiRateLimit'],
    [{ logRetentionDays: 31 }, 'logRetentionDays'],
    [{ alarmEmail: 'not-an-address' }, 'alarmEmail'],
    [{ approval: { approvalTtlSeconds: 10 } }, 'approval.approvalTtlSeconds'],
    [{ approval: { ttl: 600 } }, 'approval'],
    [{ approval: { slackChannelId: '#approvals' } }, 'approval.slackChannelId'],
    [{ approval: { slackTeamId: 'acme' } }, 'approval.slackTeamId'],
    [{ approval: { approverSlackIds: ['alice@example.com'] } }, 'approval.approverSlackIds.0'],
    [
      { approval: { requiredApprovals: { create_note: 0 } } },
      'approval.requiredApprovals.create_note',
    ],
    [
      { approval: { requiredApprovals: { create_note: 6 } } },
      'approval.requiredApprovals.create_note',
    ],
    [
      { approval: { requiredApprovals: { create_notes: 2 } } },
      'approval.requiredApprovals.create_notes',
    ],
    [
      { approval: { requiredApprovals: { search_contact: 1 } } },
      'approval.requiredApprovals.search_contact',
    ],
    [
      { approval: { approverSlackIds: ['U0123456789'], requiredApprovals: { create_note: 2 } } },
      'approval.requiredApprovals.create_note',
    ],
    [{ contained: 'yes' }, 'contained'],
    [{ alarmThresholds: { contactReadsPerMinute: 0 } }, 'alarmThresholds.contactReadsPerMinute'],
    [{ alarmThresholds: { pendingMinutes: 2 } }, 'alarmThresholds.pendingMinutes'],
    [{ alarmThresholds: { readsPerMinute: 5 } }, 'alarmThresholds'],
    [
      { alarmThresholds: '{"deniedOrExpiredPerHour":-1}' },
      'alarmThresholds.deniedOrExpiredPerHour',
    ],
    [{ limits: { readsPerMinute: 'many' } }, 'limits.readsPerMinute'],
    // Above HubSpot's own limits (about 5 searches/s, at most 190 calls per 10 s).
    [{ limits: { hubspotSearchPerSecond: 6 } }, 'limits.hubspotSearchPerSecond'],
    [{ limits: { hubspotCallsPerTenSeconds: 200 } }, 'limits.hubspotCallsPerTenSeconds'],
    [{ limits: { readsPerMinute: 100, readsPerHour: 60 } }, 'limits.readsPerHour'],
    [{ limits: { readsPerSecond: 1 } }, 'limits'],
  ])('refuses %j, naming %s', (raw, key) => {
    expect(() => parseConfig(raw)).toThrow(ConfigError);
    expect(() => parseConfig(raw)).toThrow(new RegExp(`\\b${key.replaceAll('.', '\\.')}:`));
  });

  it('parses the context shipped in cdk.json, which lists every key', () => {
    const context = cdkJsonContext();
    for (const key of CONTEXT_KEYS) expect(context).toHaveProperty([key]);
    expect(parseConfig(context)).toEqual(parseConfig({}));
  });
});
