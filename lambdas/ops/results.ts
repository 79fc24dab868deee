/**
 * What the CLI's two sides (`local-commands.ts`, `aws-commands.ts`) answer its commands with:
 * the same shapes on both, so each command prints one view whatever the target.
 */
import type { ChainMaterial } from '../adapters/local/audit-verify';
import type { AuditRecord } from '../core/audit';
import type { DigestMaterial } from '../core/evidence/digest';
import type { IntegrityResult, StoredRecord } from '../core/evidence/types';

/** What `status` shows, local or AWS. */
export interface StatusView {
  where: string;
  control: {
    contained: boolean;
    readOnly: boolean;
    changedAt?: string;
    changedBy?: string;
    reason?: string | null;
  };
  pending: { count: number; oldest_created_at: string | null };
  alarms: { id: string; state: string; detail?: string }[];
  last_hour: {
    requests: number;
    rejections: number;
    records_returned: number;
    rejections_by_reason: Record<string, number>;
    top_readers?: { user_id: string; records: number }[];
  };
}

/** What `verify` and `export` read: a window of the audit log, checked. */
export interface Evidence {
  integrity: IntegrityResult;
  records: StoredRecord[];
  /** Records before the window, for checks that look back (a write's approval). */
  context: AuditRecord[];
  material: ChainMaterial | DigestMaterial;
  /** What the check let through on the operator's word (`--allow-stale-head`), for stderr. */
  warnings?: string[];
}
