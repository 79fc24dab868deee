import type { AuditRecord } from '../../lambdas/core/audit';
import { catalogHash } from '../../lambdas/core/catalog';

/**
 * An audit record of a completed read, as the gateway writes one, with `overrides` applied:
 * the one builder of sample records for the audit, digest, report and pack tests.
 */
export function auditRecord(overrides: Partial<AuditRecord> = {}): AuditRecord {
  return {
    timestamp: '2026-11-29T10:00:00.000Z',
    user_id: 'u-42',
    agent_prompt: 'Find Acme',
    structured_action: { action: 'search_company', domain: 'acme.com' },
    hubspot_endpoint: 'POST /crm/v3/objects/companies/search',
    response_status: 200,
    request_id: 'req_1',
    event: 'request',
    route: 'POST /v1/actions',
    action: 'search_company',
    outcome: 'completed',
    reason: null,
    caller: 'arn:aws:sts::123456789012:assumed-role/agent/backend',
    hubspot_status: 200,
    hubspot_calls: [],
    duration_ms: 42,
    catalog_hash: catalogHash(),
    ...overrides,
  };
}

/** Record `i` of a local chain: a read by user `u-<i>` through the agent key. */
export function chainRecord(i: number, timestamp: string): AuditRecord {
  return auditRecord({
    timestamp,
    user_id: `u-${i}`,
    agent_prompt: `prompt ${i}`,
    structured_action: { action: 'search_company', name: `Co ${i}` },
    request_id: `req_${i}`,
    caller: 'local-agent-key',
    duration_ms: 3,
  });
}
