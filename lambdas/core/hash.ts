import { createHash } from 'node:crypto';
import { checkWalkDepth } from './bounded';

/**
 * JSON with object keys sorted at every level, so that equal values hash equally
 * whatever order their keys were written in. `undefined` members are dropped, as JSON does.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value, 0));
}

/** Bounded by {@link checkWalkDepth}: request data is clamped long before it is hashed. */
function sortKeys(value: unknown, depth: number): unknown {
  checkWalkDepth(depth);
  if (Array.isArray(value)) return value.map((v) => sortKeys(v, depth + 1));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      // defineProperty, not assignment: a "__proto__" key must be hashed like any other.
      if (v !== undefined) {
        Object.defineProperty(out, key, {
          value: sortKeys(v, depth + 1),
          enumerable: true,
          writable: true,
        });
      }
    }
    return out;
  }
  return value;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The hash an approval is bound to: SHA-256 over the canonical JSON of the validated action. */
export function actionHash(action: unknown): string {
  return sha256Hex(canonicalJson(action));
}
