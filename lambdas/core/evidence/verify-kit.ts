import { createHash } from 'node:crypto';
import { HOUR_MS } from '../audit-key';
import { AirlockError } from '../errors';
import type { IntegrityProblem } from './types';

/** What the stages of a verification find, in the order they find it. */
export interface Findings {
  problems: IntegrityProblem[];
  /** What could not be proven, said plainly. */
  notes: string[];
}

export const iso = (ms: number) => new Date(ms).toISOString();
export const hourFloor = (ms: number) => Math.floor(ms / HOUR_MS) * HOUR_MS;
export const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest();
export const byKey = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function problem(
  kind: IntegrityProblem['kind'],
  where: string,
  detail: string,
  requestId?: string,
): IntegrityProblem {
  return requestId === undefined
    ? { kind, where, detail }
    : { kind, where, detail, request_id: requestId };
}

/** The window in epoch ms; throws `validation_failed` when it is malformed or empty. */
export function parseWindow(window: { since: string; until: string }): {
  since: number;
  until: number;
} {
  const since = Date.parse(window.since);
  const until = Date.parse(window.until);
  if (!Number.isFinite(since) || !Number.isFinite(until)) {
    throw new AirlockError(
      'validation_failed',
      'since and until must be ISO 8601 date-times, e.g. 2026-03-02T10:00:00Z.',
    );
  }
  if (since >= until) {
    throw new AirlockError('validation_failed', 'since must be earlier than until.');
  }
  return { since, until };
}
