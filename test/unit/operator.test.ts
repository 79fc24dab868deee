import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileApprovalStore } from '../../lambdas/adapters/local/approval-store';
import { ControlFile } from '../../lambdas/adapters/local/control-file';
import type { AuditRecord } from '../../lambdas/core/audit';
import { actionHash } from '../../lambdas/core/hash';
import { type CommandMeta, Operator } from '../../lambdas/core/operator';
import type {
  Approval,
  ApprovalStore,
  ControlChange,
  ControlSnapshot,
  ControlSwitch,
  Logger,
} from '../../lambdas/core/ports';

const OPERATOR = 'arn:aws:sts::123456789012:assumed-role/Responder/alice';
const action = { action: 'create_note' as const, contact_id: '51', body: 'Renewal call done.' };
const NOW = Date.parse('2026-11-29T10:30:00.000Z');

function pendingApproval(id: string): Approval {
  return {
    approval_id: id,
    request_id: `req_${id}`,
    action,
    action_hash: actionHash(action),
    user_id: 'U-REQUESTER',
    agent_prompt: 'log the call',
    requested_by: 'arn:aws:iam::1:role/agent',
    status: 'pending_approval',
    created_at: '2026-11-29T10:00:00.000Z',
    expires_at: '2026-11-29T11:00:00.000Z',
  };
}

/**
 * A kill switch in memory with the port's patch semantics. `gate` lets a test hold a call at a
 * chosen point, so two commands can be interleaved exactly.
 */
class MemorySwitch implements ControlSwitch {
  state: ControlSnapshot;
  readonly sets: ControlChange[] = [];
  gate: {
    afterSnapshot?: () => Promise<void>;
    beforeSet?: (change: ControlChange) => Promise<void>;
  } = {};

  constructor(initial: { contained: boolean; readOnly: boolean }) {
    this.state = { ...initial };
  }

  async read() {
    return { contained: this.state.contained, readOnly: this.state.readOnly };
  }

  async snapshot(): Promise<ControlSnapshot> {
    const seen = { ...this.state };
    await this.gate.afterSnapshot?.();
    return seen;
  }

  async set(change: ControlChange): Promise<ControlSnapshot> {
    await this.gate.beforeSet?.(change);
    this.sets.push(change);
    this.state = {
      contained: change.contained ?? this.state.contained,
      readOnly: change.readOnly ?? this.state.readOnly,
      changedAt: change.changedAt,
      changedBy: change.changedBy,
      reason: change.reason ?? null,
    };
    return { ...this.state };
  }
}

/** A promise with its resolver, to hold one side of a race until the other got somewhere. */
function signal(): { promise: Promise<void>; fire: () => void } {
  let fire: () => void = () => undefined;
  const promise = new Promise<void>((resolve) => {
    fire = resolve;
  });
  return { promise, fire };
}

describe('the operator', () => {
  let dir: string;
  let approvals: FileApprovalStore;
  let audit: AuditRecord[];
  let errors: { message: string; fields: Record<string, unknown> }[];
  const log: Logger = {
    info: () => undefined,
    warn: () => undefined,
    error: (message, fields) => void errors.push({ message, fields: fields ?? {} }),
  };
  let ids = 0;
  const meta = (): CommandMeta => ({
    requestId: `req_op${++ids}`,
    by: OPERATOR,
    route: 'test',
    startedAt: NOW,
  });

  const operator = (control: ControlSwitch, store: ApprovalStore = approvals) =>
    new Operator({
      control,
      approvals: store,
      audit: { append: async (r) => void audit.push(r) },
      clock: { now: () => NOW },
      log,
    });

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'operator-'));
    approvals = await FileApprovalStore.open(path.join(dir, 'approvals.json'));
    audit = [];
    errors = [];
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  describe('switch commands', () => {
    it('writes only the flag its command moves', async () => {
      const control = new MemorySwitch({ contained: false, readOnly: true });

      await operator(control).run(meta(), 'contain', 'token leaked');
      await operator(control).run(meta(), 'read_only_off', null);

      expect(control.sets).toEqual([
        {
          contained: true,
          changedAt: new Date(NOW).toISOString(),
          changedBy: OPERATOR,
          reason: 'token leaked',
        },
        {
          readOnly: false,
          changedAt: new Date(NOW).toISOString(),
          changedBy: OPERATOR,
          reason: null,
        },
      ]);
    });

    it('keeps the gateway contained when a contain races a read-only off that read the switch before it', async () => {
      // Both commands read the switch (open, read-only) before either writes; the contain
      // writes first, then the read-only off: the old whole-switch write undid the contain.
      const control = new MemorySwitch({ contained: false, readOnly: true });
      const bothRead = signal();
      let snapshots = 0;
      control.gate.afterSnapshot = async () => {
        snapshots += 1;
        if (snapshots === 2) bothRead.fire();
        await bothRead.promise;
      };
      const containWritten = signal();
      control.gate.beforeSet = async (change) => {
        if (change.readOnly !== undefined) await containWritten.promise;
      };

      const containing = operator(control)
        .run(meta(), 'contain', 'incident 7')
        .finally(() => containWritten.fire());
      const opening = operator(control).run(meta(), 'read_only_off', null);
      const [contained, opened] = await Promise.all([containing, opening]);

      expect(control.state).toMatchObject({ contained: true, readOnly: false });
      expect(contained).toMatchObject({ changed: true, control: { contained: true } });
      expect(opened).toMatchObject({
        changed: true,
        control: { contained: true, readOnly: false },
      });
      expect(audit.map((r) => [r.action, r.structured_action])).toEqual([
        ['contain', expect.objectContaining({ contained: true, read_only: true })],
        ['read_only_off', expect.objectContaining({ contained: true, read_only: false })],
      ]);
    });

    it('answers and records the switch as the store returned it, not as it computed it', async () => {
      const control = new MemorySwitch({ contained: false, readOnly: false });
      // Another operator turns read-only on between this command's read and its write.
      control.gate.beforeSet = async () => {
        control.gate.beforeSet = undefined;
        await control.set({ readOnly: true, changedAt: 'earlier', changedBy: 'arn:bob' });
      };

      const result = await operator(control).run(meta(), 'contain', null);

      expect(result.control).toEqual(control.state);
      expect(result.control).toMatchObject({
        contained: true,
        readOnly: true,
        changedBy: OPERATOR,
      });
      expect(audit[0]?.structured_action).toMatchObject({ contained: true, read_only: true });
    });

    it('changes nothing and records changed: false when the switch is already where asked', async () => {
      const control = new MemorySwitch({ contained: true, readOnly: false });
      const result = await operator(control).run(meta(), 'contain', null);
      expect(result).toMatchObject({ changed: false, control: { contained: true } });
      expect(control.sets).toEqual([]);
      expect(audit).toEqual([
        expect.objectContaining({
          action: 'contain',
          structured_action: expect.objectContaining({ changed: false }),
        }),
      ]);
    });
  });

  describe('cancelling pending writes', () => {
    it('contain cancels every pending write and records each cancellation (local mode)', async () => {
      await approvals.create(pendingApproval('apr_1'));
      await approvals.create(pendingApproval('apr_2'));

      const result = await operator(new MemorySwitch({ contained: false, readOnly: false })).run(
        meta(),
        'contain',
        null,
      );

      expect([...result.cancelled].sort()).toEqual(['apr_1', 'apr_2']);
      expect(result.incomplete).toBeUndefined();
      expect((await approvals.get('apr_1'))?.status).toBe('denied');
      expect(audit.map((r) => [r.event, r.action, r.outcome, r.reason])).toEqual([
        ['control', 'contain', 'completed', null],
        ['approval', 'create_note', 'denied', 'gateway_contained'],
        ['approval', 'create_note', 'denied', 'gateway_contained'],
      ]);
    });

    it('writes exactly one record for a contain whose listing of pending writes fails, and says the sweep is incomplete', async () => {
      const failing: ApprovalStore = {
        create: (a) => approvals.create(a),
        get: (id) => approvals.get(id),
        getByRequest: (id) => approvals.getByRequest(id),
        transition: (...args) => approvals.transition(...args),
        listByStatus: async () => {
          throw new Error('index unavailable');
        },
      };
      const control = new MemorySwitch({ contained: false, readOnly: false });

      const result = await operator(control, failing).run(meta(), 'contain', null);

      expect(result).toMatchObject({ changed: true, cancelled: [], incomplete: true });
      expect(control.state.contained).toBe(true);
      expect(audit).toEqual([
        expect.objectContaining({ event: 'control', action: 'contain', outcome: 'completed' }),
      ]);
      expect(errors).toEqual([
        expect.objectContaining({
          message: 'listing the pending writes to cancel failed',
          fields: expect.objectContaining({ error: 'index unavailable' }),
        }),
      ]);
    });

    it('cancelPending goes on past a write it cannot cancel, logs it, and returns the others', async () => {
      await approvals.create(pendingApproval('apr_stuck'));
      await approvals.create(pendingApproval('apr_ok'));
      const flaky: ApprovalStore = {
        create: (a) => approvals.create(a),
        get: (id) => approvals.get(id),
        getByRequest: (id) => approvals.getByRequest(id),
        listByStatus: (s) => approvals.listByStatus(s),
        transition: async (id, ...rest) => {
          if (id === 'apr_stuck') throw new Error('throttled');
          return approvals.transition(id, ...rest);
        },
      };

      const cancelled = await operator(
        new MemorySwitch({ contained: true, readOnly: false }),
        flaky,
      ).cancelPending(meta());

      expect(cancelled).toEqual(['apr_ok']);
      expect((await approvals.get('apr_stuck'))?.status).toBe('pending_approval');
      expect(errors).toEqual([
        expect.objectContaining({
          fields: expect.objectContaining({ approval_id: 'apr_stuck', error: 'throttled' }),
        }),
      ]);
    });
  });

  describe('over the local control file', () => {
    const file = () => path.join(dir, 'control.json');

    it('keeps both changes of two concurrent sets of different flags', async () => {
      const control = new ControlFile(file());
      await Promise.all([
        control.set({ contained: true, changedAt: 't1', changedBy: 'a', reason: 'leak' }),
        control.set({ readOnly: true, changedAt: 't2', changedBy: 'b' }),
      ]);
      expect(await control.snapshot()).toMatchObject({ contained: true, readOnly: true });
      // Each set wrote its own temporary file and renamed it: none is left behind.
      expect(readdirSync(dir).filter((f) => f.startsWith('control'))).toEqual(['control.json']);
    });

    it('keeps a flag set by another process, re-reading the file inside each set', async () => {
      const control = new ControlFile(file(), 60_000);
      expect(await control.read()).toEqual({ contained: false, readOnly: false });
      writeFileSync(file(), JSON.stringify({ contained: true, read_only: false }));

      const after = await control.set({ readOnly: true, changedAt: 't', changedBy: 'b' });

      expect(after).toMatchObject({ contained: true, readOnly: true, changedBy: 'b' });
      expect(JSON.parse(readFileSync(file(), 'utf8'))).toMatchObject({
        contained: true,
        read_only: true,
      });
    });

    it('runs a contain and a read-only on at once through two operators, and both hold', async () => {
      const control = new ControlFile(file());
      const [contained, readOnly] = await Promise.all([
        operator(control).run(meta(), 'contain', null),
        operator(control).run(meta(), 'read_only_on', null),
      ]);
      expect(await control.snapshot()).toMatchObject({ contained: true, readOnly: true });
      expect(contained.control.contained).toBe(true);
      expect(readOnly.control.readOnly).toBe(true);
    });

    it('still sets both flags through write()', async () => {
      const control = new ControlFile(file());
      await control.write({ contained: true, readOnly: true });
      await control.write({ contained: false, readOnly: false });
      expect(await control.read()).toEqual({ contained: false, readOnly: false });
    });
  });
});
