import type { AuditRecord } from '../../lambdas/core/audit';
import {
  buildReport,
  relevantContext,
  reportExitCode,
  reportText,
  type VerificationReport,
} from '../../lambdas/core/evidence/report';
import type { IntegrityResult } from '../../lambdas/core/evidence/types';
import { auditRecord } from '../helpers/audit-records';

const WINDOW = { since: '2026-11-29T10:00:00.000Z', until: '2026-11-29T12:00:00.000Z' };
const GENERATED = '2026-11-29T12:05:00.000Z';
const WHOLE: IntegrityResult = {
  ok: true,
  method: 'hash-chain',
  checked: 0,
  problems: [],
  notes: [],
};

function at(hhmmss: string): string {
  return `2026-11-29T${hhmmss}.000Z`;
}

function base(overrides: Partial<AuditRecord>): AuditRecord {
  return auditRecord({
    timestamp: at('10:00:00'),
    user_id: null,
    agent_prompt: null,
    structured_action: null,
    hubspot_endpoint: null,
    request_id: 'req_x',
    action: null,
    caller: 'agent-key',
    hubspot_status: null,
    duration_ms: 5,
    ...overrides,
  });
}

function read(time: string, user: string, count: number, id = `req_r_${user}_${time}`) {
  return base({
    timestamp: at(time),
    request_id: id,
    user_id: user,
    agent_prompt: 'find Acme',
    structured_action: { action: 'search_contact', company: 'Acme' },
    action: 'search_contact',
    hubspot_endpoint: 'POST /crm/v3/objects/contacts/search',
    hubspot_status: 200,
    record_count: count,
  });
}

function rejected(time: string, reason: string, rule?: string, user = 'u-1') {
  return base({
    timestamp: at(time),
    request_id: `req_rej_${time}`,
    user_id: user,
    outcome: 'rejected',
    reason,
    response_status: reason === 'rate_limited' ? 429 : 422,
    ...(rule ? { rule } : {}),
  });
}

const NOTE = { action: 'create_note', contact_id: '123', body: 'Called about renewal.' };

/** The records of one write, from the agent's request to the note. */
function writeRequest(time: string, approvalId: string, requestId: string, user = 'u-1') {
  return base({
    timestamp: at(time),
    request_id: requestId,
    user_id: user,
    agent_prompt: 'log the call',
    structured_action: NOTE,
    action: 'create_note',
    outcome: 'pending_approval',
    response_status: 202,
    approval: { approval_id: approvalId, request_id: requestId, approver: null },
  });
}

function decision(
  time: string,
  approvalId: string,
  requestId: string,
  outcome: AuditRecord['outcome'],
  extra: Partial<AuditRecord> = {},
) {
  const caller = extra.caller === undefined ? 'approver-key' : extra.caller;
  return base({
    timestamp: at(time),
    request_id: `req_d_${approvalId}_${time}`,
    event: 'approval',
    route: `POST /approvals/${approvalId}/approve`,
    user_id: 'u-1',
    agent_prompt: 'log the call',
    structured_action: NOTE,
    action: 'create_note',
    outcome,
    caller,
    response_status: outcome === 'approved' ? null : 200,
    approval: {
      approval_id: approvalId,
      request_id: requestId,
      approver: caller,
      decided_at: at(time),
    },
    ...extra,
  });
}

function completed(time: string, approvalId: string, requestId: string, noteId: string) {
  const d = decision(time, approvalId, requestId, 'completed');
  return { ...d, approval: { ...d.approval, approval_id: approvalId, note_id: noteId } };
}

function control(time: string, action: string, reason: string | null = null) {
  return base({
    timestamp: at(time),
    request_id: `req_c_${time}`,
    event: 'control',
    route: `POST /operator/${action}`,
    action,
    caller: 'operator-key',
    structured_action: { command: action, reason },
  });
}

/** A clean hour: reads, a full write lifecycle, refusals, and a contain/release pair. */
function cleanWindow(): AuditRecord[] {
  return [
    read('10:00:00', 'u-1', 3),
    writeRequest('10:01:00', 'ap_1', 'req_w1'),
    decision('10:02:00', 'ap_1', 'req_w1', 'approved'),
    completed('10:02:01', 'ap_1', 'req_w1', '9001'),
    rejected('10:03:00', 'rate_limited', 'reads_per_user', 'u-2'),
    rejected('10:03:10', 'prompt_rejected'),
    rejected('10:03:20', 'rate_limited', 'reads_per_user', 'u-2'),
    control('10:04:00', 'contain', 'suspicious prompts'),
    rejected('10:05:00', 'gateway_contained'),
    control('10:06:00', 'release', 'all clear'),
    read('10:07:00', 'u-2', 5),
    read('10:08:00', 'u-1', 4),
  ];
}

function report(records: AuditRecord[], extra: Partial<Parameters<typeof buildReport>[2]> = {}) {
  return buildReport(records, WHOLE, { ...WINDOW, generatedAt: GENERATED, ...extra });
}

function kinds(r: VerificationReport): string[] {
  return r.anomalies.map((a) => a.kind);
}

describe('the verification report', () => {
  it('finds no anomaly in a clean window and exits 0', () => {
    const r = report(cleanWindow());

    expect(r.anomalies).toEqual([]);
    expect(reportExitCode(r)).toBe(0);
  });

  it('lists each write with its approvers, decision time and HubSpot note', () => {
    const r = report(cleanWindow());

    expect(r.writes).toEqual([
      {
        approval_id: 'ap_1',
        request_id: 'req_w1',
        action: 'create_note',
        user_id: 'u-1',
        target: { type: 'contact', id: '123' },
        requested_at: at('10:01:00'),
        approvers: ['approver-key'],
        denied_by: null,
        decided_at: at('10:02:00'),
        note_id: '9001',
        outcome: 'completed',
        reason: null,
      },
    ]);
  });

  it('lists every approver under the two-person rule, and the final outcome of each write', () => {
    const records = [
      writeRequest('10:00:00', 'ap_2p', 'req_2p'),
      decision('10:01:00', 'ap_2p', 'req_2p', 'pending_approval', { caller: 'alice' }),
      decision('10:02:00', 'ap_2p', 'req_2p', 'approved', { caller: 'bob' }),
      completed('10:02:01', 'ap_2p', 'req_2p', '77'),
      writeRequest('10:10:00', 'ap_no', 'req_no'),
      decision('10:11:00', 'ap_no', 'req_no', 'denied', { caller: 'carol' }),
      writeRequest('10:20:00', 'ap_exp', 'req_exp'),
      decision('11:20:00', 'ap_exp', 'req_exp', 'expired', {
        caller: null,
        reason: 'approval_expired',
      }),
      writeRequest('10:30:00', 'ap_kill', 'req_kill'),
      decision('10:31:00', 'ap_kill', 'req_kill', 'denied', {
        caller: 'operator-key',
        reason: 'gateway_contained',
      }),
      writeRequest('10:40:00', 'ap_wait', 'req_wait'),
      writeRequest('10:50:00', 'ap_fail', 'req_fail'),
      decision('10:51:00', 'ap_fail', 'req_fail', 'approved'),
      decision('10:51:01', 'ap_fail', 'req_fail', 'failed', { reason: 'hubspot_error' }),
    ];

    const writes = report(records).writes;

    expect(
      writes.map((w) => [w.approval_id, w.outcome, w.approvers, w.denied_by, w.reason]),
    ).toEqual([
      ['ap_2p', 'completed', ['alice', 'bob'], null, null],
      ['ap_no', 'denied', [], 'carol', null],
      ['ap_exp', 'expired', [], null, 'approval_expired'],
      ['ap_kill', 'cancelled', [], 'operator-key', 'gateway_contained'],
      ['ap_wait', 'pending', [], null, null],
      ['ap_fail', 'failed', ['approver-key'], null, 'hubspot_error'],
    ]);
  });

  it('counts rejections by reason and by rule, most frequent first', () => {
    const r = report(cleanWindow());

    expect(r.rejections).toEqual({
      total: 4,
      by_reason: [
        { reason: 'rate_limited', count: 2, rules: [{ rule: 'reads_per_user', count: 2 }] },
        { reason: 'gateway_contained', count: 1, rules: [] },
        { reason: 'prompt_rejected', count: 1, rules: [] },
      ],
    });
  });

  it('counts completed reads and the records they returned per user', () => {
    const r = report(cleanWindow());

    expect(r.reads_per_user).toEqual({
      'u-1': { reads: 2, records_returned: 7 },
      'u-2': { reads: 1, records_returned: 5 },
    });
  });

  it('lists the operator commands in order with their reasons', () => {
    const r = report(cleanWindow());

    expect(r.control.map((c) => [c.time, c.action, c.caller, c.reason])).toEqual([
      [at('10:04:00'), 'contain', 'operator-key', 'suspicious prompts'],
      [at('10:06:00'), 'release', 'operator-key', 'all clear'],
    ]);
    expect(r.totals).toEqual({
      records: 12,
      by_event: { control: 2, approval: 2, request: 8 },
      by_outcome: { approved: 1, completed: 6, pending_approval: 1, rejected: 4 },
    });
  });

  it('flags a bulk-export refusal and a user over the hourly record threshold as bulk_read', () => {
    const records = [
      rejected('10:10:00', 'rate_limited', 'bulk_export', 'u-9'),
      // 250 records for one user within the 10:00 hour, case-folded as the gateway counts users.
      read('10:20:00', 'u-7', 150),
      read('10:40:00', 'U-7', 100),
      // 250 for another user, but split across two clock hours.
      read('10:59:00', 'u-8', 150),
      read('11:00:00', 'u-8', 100),
    ];

    const r = report(records);

    expect(r.anomalies).toEqual([
      expect.objectContaining({
        kind: 'bulk_read',
        request_id: 'req_rej_10:10:00',
        user_id: 'u-9',
      }),
      expect.objectContaining({ kind: 'bulk_read', at: at('10:00:00') }),
    ]);
    expect(r.anomalies[1]?.detail).toMatch(/U-7, u-7 received 250 CRM records/);
    expect(reportExitCode(r)).toBe(3);
  });

  it('takes the bulk threshold from the options', () => {
    const records = [read('10:20:00', 'u-7', 150)];

    expect(kinds(report(records))).toEqual([]);
    expect(kinds(report(records, { bulkRecordsPerHour: 100 }))).toEqual(['bulk_read']);
  });

  it('flags a completed write with no request or no approval, looking in the context too', () => {
    const context = [
      writeRequest('09:50:00', 'ap_old', 'req_old'),
      decision('09:55:00', 'ap_old', 'req_old', 'approved'),
      writeRequest('09:56:00', 'ap_half', 'req_half'),
    ];
    const records = [
      completed('10:00:10', 'ap_old', 'req_old', '1'),
      completed('10:00:20', 'ap_half', 'req_half', '2'),
      completed('10:00:30', 'ap_ghost', 'req_ghost', '3'),
    ];

    const r = report(records, { context });

    expect(r.anomalies.map((a) => [a.kind, a.request_id])).toEqual([
      ['write_without_approval', 'req_d_ap_half_10:00:20'],
      ['write_without_approval', 'req_d_ap_ghost_10:00:30'],
    ]);
    expect(r.anomalies[0]?.detail).toMatch(/no record of an approval/);
    expect(r.anomalies[0]?.detail).not.toMatch(/agent's request/);
    expect(r.anomalies[1]?.detail).toMatch(/agent's request .* and no record of an approval/);
    // The write approved before the window is listed with what the context says of it.
    expect(r.writes[0]).toMatchObject({
      approval_id: 'ap_old',
      requested_at: at('09:50:00'),
      outcome: 'completed',
    });
  });

  it('flags requests served while contained, marking those within the propagation time', () => {
    const context = [read('09:59:00', 'u-1', 1), control('09:59:55', 'contain', 'leak')];
    const records = [
      read('10:00:02', 'u-1', 1, 'req_soon'),
      rejected('10:00:20', 'gateway_contained'),
      read('10:00:30', 'u-1', 1, 'req_late'),
      completed('10:00:40', 'ap_c', 'req_c', '5'),
      control('10:01:00', 'release'),
      read('10:02:00', 'u-1', 1, 'req_after_release'),
    ];

    const r = report(records, { context });
    const served = r.anomalies.filter((a) => a.kind === 'served_after_containment');

    expect(served.map((a) => [a.request_id, a.within_propagation])).toEqual([
      ['req_soon', true],
      ['req_late', false],
      ['req_d_ap_c_10:00:40', false],
    ]);
    expect(served[0]?.detail).toMatch(
      /7\.0 s after the gateway was contained at 2026-11-29T09:59:55/,
    );
    expect(served[1]?.detail).toMatch(/35\.0 s after/);
  });

  it('does not count a served request within the propagation time towards exit code 3', () => {
    const records = [control('10:00:00', 'contain'), read('10:00:05', 'u-1', 1)];

    const r = report(records);

    expect(r.anomalies).toEqual([expect.objectContaining({ within_propagation: true })]);
    expect(reportExitCode(r)).toBe(0);
    expect(reportExitCode(report(records, { containmentGraceMs: 1000 }))).toBe(3);
  });

  it('exits 1 when the integrity is broken, whatever the anomalies', () => {
    const broken: IntegrityResult = {
      ...WHOLE,
      ok: false,
      problems: [{ kind: 'missing', where: 'audit-2026-11-29.jsonl:3', detail: 'seq 4: removed' }],
    };

    const r = buildReport(cleanWindow(), broken, { ...WINDOW, generatedAt: GENERATED });

    expect(reportExitCode(r)).toBe(1);
    expect(reportText(r)).toMatch(
      /INTEGRITY: BROKEN.*\n {2}- missing at audit-2026-11-29\.jsonl:3/,
    );
  });

  it('gives the same report for the same input, and the same with only the relevant context', () => {
    const context = [
      read('09:00:00', 'u-1', 1),
      control('09:10:00', 'contain'),
      control('09:20:00', 'release'),
      control('09:30:00', 'contain'),
      writeRequest('09:40:00', 'ap_1', 'req_w1'),
      writeRequest('09:41:00', 'ap_other', 'req_other'),
    ];
    const records = cleanWindow().slice(2);

    const a = report(records, { context });
    const b = report(records, { context: [...context] });
    const c = report(records, { context: relevantContext(records, context) });

    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(JSON.stringify(c)).toBe(JSON.stringify(a));
    expect(reportText(a)).toBe(reportText(b));
    expect(relevantContext(records, context).map((r) => r.timestamp)).toEqual([
      at('09:30:00'),
      at('09:40:00'),
    ]);
  });

  it('writes the text with the integrity verdict first, then anomalies, writes, rejections, reads', () => {
    const text = reportText(report(cleanWindow()));
    const order = [
      'INTEGRITY: OK',
      'ANOMALIES: none',
      'WRITES: 1',
      'REJECTIONS: 4',
      'READS PER USER',
    ];

    const positions = order.map((heading) => text.indexOf(heading));

    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((x, y) => x - y)).toEqual(positions);
    expect(text).toMatch(/COMPLETED create_note on contact 123 for u-1/);
    expect(text).toMatch(/approved by approver-key; decided .*; HubSpot note 9001/);
    expect(text).toMatch(/rate_limited: 2 \(reads_per_user 2\)/);
    expect(text).toMatch(/u-1: 2 read\(s\), 7 record\(s\) returned/);
  });
});
