import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  type Approval,
  type ApprovalStatus,
  type ApprovalStore,
  PendingCapReached,
  type PendingCaps,
} from '../../core/ports';

/**
 * Local approvals: held in memory, persisted to one JSON file after every change (written to
 * a temporary file, synced, then renamed), so a restart loses nothing. Changes are applied
 * one at a time, which makes `transition` a true compare-and-set within the process, and the
 * caps of `create` exact: the pending approvals are counted inside the same serialised step
 * that stores the new one, and a transition out of `pending_approval` frees its slot simply by
 * no longer being counted.
 */
export class FileApprovalStore implements ApprovalStore {
  private readonly byId = new Map<string, Approval>();
  private chain: Promise<void> = Promise.resolve();

  private constructor(private readonly file: string) {}

  static async open(file: string): Promise<FileApprovalStore> {
    const store = new FileApprovalStore(file);
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    try {
      const saved = JSON.parse(await fs.readFile(file, 'utf8')) as { approvals: Approval[] };
      for (const a of saved.approvals) store.byId.set(a.approval_id, a);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return store;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async persist(): Promise<void> {
    const tmp = `${this.file}.${process.pid}.tmp`;
    const handle = await fs.open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify({ approvals: [...this.byId.values()] }, null, 1));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, this.file);
  }

  create(approval: Approval, caps?: PendingCaps): Promise<void> {
    return this.serial(async () => {
      if (this.byId.has(approval.approval_id)) throw new Error('approval id already exists');
      if (caps && approval.status === 'pending_approval') {
        let mine = 0;
        let total = 0;
        for (const a of this.byId.values()) {
          if (a.status !== 'pending_approval') continue;
          total += 1;
          if (a.user_id === approval.user_id) mine += 1;
        }
        if (mine >= caps.perUser) throw new PendingCapReached('per_user', mine);
        if (total >= caps.total) throw new PendingCapReached('total', total);
      }
      this.byId.set(approval.approval_id, structuredClone(approval));
      try {
        await this.persist();
      } catch (err) {
        this.byId.delete(approval.approval_id);
        throw err;
      }
    });
  }

  async get(approvalId: string): Promise<Approval | undefined> {
    const a = this.byId.get(approvalId);
    return a && structuredClone(a);
  }

  async getByRequest(requestId: string): Promise<Approval | undefined> {
    for (const a of this.byId.values()) if (a.request_id === requestId) return structuredClone(a);
    return undefined;
  }

  async listByStatus(status: ApprovalStatus): Promise<Approval[]> {
    return [...this.byId.values()]
      .filter((a) => a.status === status)
      .map((a) => structuredClone(a));
  }

  transition(
    approvalId: string,
    from: ApprovalStatus,
    patch: Partial<Approval> & { status: ApprovalStatus },
    expectedVersion?: number,
  ): Promise<Approval | null> {
    return this.serial(async () => {
      const current = this.byId.get(approvalId);
      if (!current || current.status !== from) return null;
      if (expectedVersion !== undefined && (current.version ?? 0) !== expectedVersion) return null;
      const next: Approval = {
        ...current,
        ...patch,
        approval_id: current.approval_id,
        version: (current.version ?? 0) + 1,
      };
      this.byId.set(approvalId, next);
      try {
        await this.persist();
      } catch (err) {
        this.byId.set(approvalId, current);
        throw err;
      }
      return structuredClone(next);
    });
  }
}
