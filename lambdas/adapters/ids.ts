import { randomUUID } from 'node:crypto';
import type { IdSource } from '../core/ports';

/** Request and approval ids: a prefix and 128 random bits. */
export const randomIds: IdSource = {
  requestId: () => `req_${randomUUID().replace(/-/g, '')}`,
  approvalId: () => `apr_${randomUUID().replace(/-/g, '')}`,
};
