import { AUDIT_OUTCOMES, type AuditRecord } from '../../lambdas/core/audit';
import {
  auditHourPrefix,
  auditKey,
  hourOfAuditKey,
  parseAuditKey,
  requestIdOfAuditKey,
} from '../../lambdas/core/audit-key';
import {
  digestKey,
  digestKeyLike,
  hourOfDigestKey,
  hourOfKeyText,
} from '../../lambdas/core/evidence/digest-format';

const HOUR = Date.UTC(2026, 10, 29, 10);
const record = (over: Partial<AuditRecord>) =>
  ({
    timestamp: '2026-11-29T10:15:30.123Z',
    request_id: 'req_1',
    outcome: 'completed',
    ...over,
  }) as AuditRecord;

/** The S3 audit key is written and read by core/audit-key.ts only: what it writes, it reads back. */
describe('the S3 audit key', () => {
  it.each(AUDIT_OUTCOMES)('reads back the hour, stamp, request id and outcome %s', (outcome) => {
    const key = auditKey('audit/', record({ outcome, request_id: 'ops-a_b_completed' }));
    expect(key).toMatch(
      /^audit\/2026\/11\/29\/10\/2026-11-29T101530123Z_ops-a_b_completed_[a-z_]+_[0-9a-f]{8}\.json$/,
    );
    expect(key.startsWith(auditHourPrefix(HOUR))).toBe(true);
    expect(parseAuditKey(key)).toEqual({
      hour: HOUR,
      stamp: Date.parse('2026-11-29T10:15:30.123Z'),
      requestId: 'ops-a_b_completed',
      outcome,
    });
  });

  it('carries a request id reduced to the characters a key may hold', () => {
    const key = auditKey('x/', record({ request_id: `a/b c:${'z'.repeat(80)}` }));
    expect(requestIdOfAuditKey(key)).toBe(`abc${'z'.repeat(61)}`);
  });

  it('says only what a hand-written key says', () => {
    expect(parseAuditKey('audit/2026/11/29/10/notes.txt')).toEqual({ hour: HOUR, stamp: null });
    expect(parseAuditKey('audit/notes.txt')).toEqual({ hour: null, stamp: null });
    expect(hourOfAuditKey('audit/2026/11/29/10')).toBeNull();
  });
});

describe('the digest key', () => {
  it('names its hour under the prefix, and only there', () => {
    const key = digestKey(HOUR, 'd/');
    expect(key).toBe('d/2026/11/29/10.json');
    expect(hourOfDigestKey(key, 'd/')).toBe(HOUR);
    expect(hourOfDigestKey(key, 'digests/')).toBeNull();
    expect(hourOfDigestKey('d/x/2026/11/29/10.json', 'd/')).toBeNull();
    expect(hourOfKeyText('any/2026/11/29/10.json')).toBe(HOUR);
    expect(hourOfKeyText('any/2026/11/29/10.txt')).toBeNull();
    expect(digestKeyLike('p/q/2026/11/29/10.json', HOUR - 3_600_000)).toBe(
      'p/q/2026/11/29/09.json',
    );
  });
});
