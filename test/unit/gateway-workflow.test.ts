import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomIds } from '../../lambdas/adapters/ids';
import { jsonLogger } from '../../lambdas/adapters/json-logger';
import { FileApprovalStore } from '../../lambdas/adapters/local/approval-store';
import type { AuditRecord } from '../../lambdas/core/audit';
import { Gateway } from '../../lambdas/core/gateway';

describe('a gateway with an approval workflow (AWS)', () => {
  it('leaves the expiry to the workflow, so it is recorded once, by the workflow', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gw-'));
    try {
      let now = Date.parse('2026-11-29T10:00:00.000Z');
      const records: AuditRecord[] = [];
      const started: string[] = [];
      const gateway = new Gateway({
        hubspot: {
          search: () => Promise.reject(new Error('not used')),
          createNote: () => Promise.reject(new Error('not used')),
        },
        audit: { append: async (r) => void records.push(r) },
        approvals: await FileApprovalStore.open(path.join(dir, 'approvals.json')),
        control: { read: async () => ({ contained: false, readOnly: false }) },
        clock: { now: () => now },
        ids: randomIds,
        log: jsonLogger(() => undefined),
        workflow: { start: async (a) => void started.push(a.approval_id) },
        config: {
          promptMode: 'block',
          allowedActions: null,
          requestDeadlineMs: 1000,
          approvalTtlMs: 60_000,
          statusUrl: (id) => `/v1/actions/${id}`,
        },
      });
      const caller = { id: 'arn:aws:iam::1:role/agent', role: 'agent' as const };
      const meta = (requestId: string) => ({
        requestId,
        route: 'POST /v1/actions',
        startedAt: now,
      });
      const created = await gateway.handleAction(
        meta('req_write'),
        caller,
        JSON.stringify({
          user_id: 'u',
          agent_prompt: 'log it',
          action: { action: 'create_note', contact_id: '1', body: 'x' },
        }),
      );
      expect(created.status).toBe(202);
      expect(started).toHaveLength(1);
      now += 61_000;
      const status = await gateway.getStatus(meta('req_status'), caller, 'req_write');
      expect(status.body.status).toBe('pending_approval');
      expect(records.filter((r) => r.outcome === 'expired')).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
