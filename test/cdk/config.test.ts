import { CONTEXT_KEYS, ConfigError, parseConfig } from '../../lib/config';
import { cdkJsonContext } from './helpers';

describe('deployment configuration (CDK context)', () => {
  it('defaults to a dev stage with a 30-day GOVERNANCE lock', () => {
    expect(parseConfig({})).toEqual({
      stage: 'dev',
      auditRetentionDays: 30,
      auditLockMode: 'GOVERNANCE',
      apiRateLimit: 20,
      apiBurstLimit: 40,
      logRetentionDays: 30,
      approval: { approvalTtlSeconds: 3600 },
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
      apiRateLimit: 5,
      apiBurstLimit: 10,
      logRetentionDays: 90,
      approval: { approvalTtlSeconds: 600 },
      contained: true,
      readOnly: false,
    });
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
    [{ contained: 'yes' }, 'contained'],
  ])('refuses %j, naming %s', (raw, key) => {
    expect(() => parseConfig(raw)).toThrow(ConfigError);
    expect(() => parseConfig(raw)).toThrow(new RegExp(`\\b${key.replace('.', '\\.')}:`));
  });

  it('parses the context shipped in cdk.json, which lists every key', () => {
    const context = cdkJsonContext();
    for (const key of CONTEXT_KEYS) expect(context).toHaveProperty([key]);
    expect(parseConfig(context)).toEqual(parseConfig({}));
  });
});
