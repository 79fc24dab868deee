import type { Approval, ApprovalStore } from '../../core/ports';

/**
 * The approval store of a deployment without the approval flow: it holds no approvals and
 * refuses to create one. Writes are also left out of the deployment's allowed actions, so the
 * gateway answers 403 before it would get here.
 */
export class NoApprovalStore implements ApprovalStore {
  async create(_approval: Approval): Promise<void> {
    throw new Error('this deployment has no approval flow');
  }
  async get(): Promise<Approval | undefined> {
    return undefined;
  }
  async getByRequest(): Promise<Approval | undefined> {
    return undefined;
  }
  async listByStatus(): Promise<Approval[]> {
    return [];
  }
  async transition(): Promise<Approval | null> {
    return null;
  }
}
