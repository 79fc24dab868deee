import * as z from 'zod';
import type { ErrorCode } from '../../core/errors';
import { MAX_LIMIT } from '../../core/limits';
import type { CrmRecord, HubSpotCall, SearchRequest } from '../../core/ports';
import { SEARCH_ALLOWLIST } from '../../core/reads';

/**
 * What the validation function may ask of the HubSpot-call function, checked there again:
 * a search the catalog could have built (allowlisted object, properties, filters and sorts,
 * at most 10 results). There is no write operation: the read function cannot write.
 */
const filter = z.strictObject({
  propertyName: z.string().max(64),
  operator: z.enum(['EQ', 'CONTAINS_TOKEN', 'IN']),
  value: z.string().max(254).optional(),
  values: z.array(z.string().max(254)).max(10).optional(),
});

export const searchInvocation = z
  .strictObject({
    op: z.literal('search'),
    object: z.enum(['contacts', 'companies', 'emails']),
    request: z.strictObject({
      filterGroups: z
        .array(z.strictObject({ filters: z.array(filter).min(1).max(4) }))
        .min(1)
        .max(3),
      properties: z.array(z.string().max(64)).max(10),
      sorts: z
        .array(
          z.strictObject({
            propertyName: z.string().max(64),
            direction: z.enum(['ASCENDING', 'DESCENDING']),
          }),
        )
        .max(1)
        .optional(),
      limit: z.number().int().min(1).max(MAX_LIMIT),
    }),
    /** Epoch ms after which the call must give up. */
    deadline: z.number().int().positive(),
  })
  .superRefine((inv, ctx) => {
    const allowed = SEARCH_ALLOWLIST[inv.object];
    const has = (list: readonly string[], v: string) => list.includes(v);
    for (const p of inv.request.properties) {
      if (!has(allowed.properties, p)) ctx.addIssue({ code: 'custom', message: `property ${p}` });
    }
    for (const g of inv.request.filterGroups) {
      for (const f of g.filters) {
        if (!has(allowed.filters, f.propertyName)) {
          ctx.addIssue({ code: 'custom', message: `filter on ${f.propertyName}` });
        }
      }
    }
    for (const s of inv.request.sorts ?? []) {
      if (!has(allowed.sorts, s.propertyName)) {
        ctx.addIssue({ code: 'custom', message: `sort on ${s.propertyName}` });
      }
    }
  });

export type SearchInvocation = z.infer<typeof searchInvocation>;

/**
 * The operator's confirmation after a read-token rotation: refetch the token (past the cache)
 * and make one contacts search that matches nothing. The answer says only whether HubSpot
 * accepted the token; it carries no CRM data.
 */
export const probeInvocation = z.strictObject({
  op: z.literal('probe'),
  /** Epoch ms after which the call must give up. */
  deadline: z.number().int().positive(),
});

export type ProbeInvocation = z.infer<typeof probeInvocation>;

/** What a probe answers: HubSpot's status for the search (null when none came), and the call. */
export interface ProbeResult {
  ok: boolean;
  status: number | null;
  calls: HubSpotCall[];
  error?: { code: ErrorCode; message: string };
}

/**
 * The probe's search: contacts whose id is 0, which no record has. It needs the read scope and
 * a valid token like any search, and no CRM record can come back.
 */
export const PROBE_SEARCH: SearchRequest = {
  filterGroups: [{ filters: [{ propertyName: 'hs_object_id', operator: 'EQ', value: '0' }] }],
  properties: ['hs_object_id'],
  limit: 1,
};

export type HubSpotCallResult =
  | { ok: true; records: CrmRecord[]; calls: HubSpotCall[] }
  | {
      ok: false;
      error: {
        code: ErrorCode;
        message: string;
        retryAfterSeconds?: number;
        hubspotStatus?: number;
        details?: unknown;
      };
      calls: HubSpotCall[];
    };
