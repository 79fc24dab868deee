import * as z from 'zod';
import {
  checkWalkDepth,
  clampDepth,
  parseBoundedJson,
  RENDERING_MAX_CHARS,
  renderRaw,
  shapeOf,
} from './bounded';
import {
  CATALOG,
  type Catalog,
  findAction,
  MAX_LIMIT,
  multilineParams,
  queryValues,
  type ValidatedAction,
} from './catalog';
import { AirlockError } from './errors';
import { canonicalUserId } from './identity';
import { bulkGuardQuery, bulkGuardRaw, MAX_PROMPT_CHARS } from './policy';
import { capChars, normalizeText, unsafeTextProblem, visibleRendering } from './text';

/** The request envelope of `POST /v1/actions` (docs/ARCHITECTURE.md, section "The HTTP contract"). */
const envelopeSchema = z.strictObject({
  user_id: z.string().transform((raw, ctx) => {
    const canonical = canonicalUserId(raw);
    if (canonical.ok) return canonical.id;
    ctx.addIssue({ code: 'custom', message: canonical.problem });
    return z.NEVER;
  }),
  // Length, control characters and injection markers are policy (422), checked later.
  agent_prompt: z.string().min(1, 'agent_prompt must not be empty'),
  action: z.looseObject({ action: z.string() }),
});

export interface Envelope {
  user_id: string;
  agent_prompt: string;
  action: Record<string, unknown>;
}

function issuesOf(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((i) => ({ path: i.path.join('.') || '(body)', message: i.message }));
}

/** Parses a `POST /v1/actions` body within the input bounds (400 outside them). */
export function parseJson(raw: string): unknown {
  return parseBoundedJson(
    raw,
    'The body is not valid JSON. Send {"user_id", "agent_prompt", "action": {"action": ...}}.',
  );
}

/** Whether a field may run over several lines: the prompt, and the catalog's multiline parameters. */
function isMultiline(path: string, catalog: Catalog): boolean {
  return path === 'agent_prompt' || multilineParams(catalog).has(path);
}

/**
 * The Unicode policy applied to every string of a parsed body (member names included): a
 * control or hidden character anywhere is refused, naming the field (the prompt's own checks
 * name it as a prompt rule, 422). Returns the body with every string value NFKC-normalised: the
 * form that policy checks, the approver, the audit log and HubSpot all see. Bounded: the body
 * was parsed within {@link parseBoundedJson}'s bounds.
 */
export function screenStrings(body: unknown, catalog: Catalog = CATALOG): unknown {
  const walk = (v: unknown, path: string, depth: number): unknown => {
    checkWalkDepth(depth);
    if (typeof v === 'string') {
      const problem = unsafeTextProblem(v, isMultiline(path, catalog) ? 'multiline' : 'line');
      if (problem && path !== 'agent_prompt') {
        throw new AirlockError('validation_failed', `${path || 'the body'} ${problem}.`, {
          details: [{ path: path || '(body)', message: problem }],
        });
      }
      return normalizeText(v);
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}.${i}`, depth + 1));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        // `__proto__` is never a parameter, and object copies would drop it silently.
        const problem =
          k === '__proto__' ? 'is "__proto__", which no request has' : unsafeTextProblem(k, 'line');
        if (problem) {
          throw new AirlockError('validation_failed', `A member name ${problem}.`, {
            details: [{ path: path || '(body)', message: `a member name ${problem}` }],
          });
        }
        const at = path ? `${path}.${k}` : k;
        Object.defineProperty(out, k, {
          value: walk(x, at, depth + 1),
          enumerable: true,
          writable: true,
        });
      }
      return out;
    }
    return v;
  };
  return walk(body, '', 0);
}

export function parseEnvelope(body: unknown): Envelope {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new AirlockError(
      'validation_failed',
      'The body must be a JSON object with user_id, agent_prompt and action.',
    );
  }
  const parsed = envelopeSchema.safeParse(body);
  if (!parsed.success) {
    throw new AirlockError('validation_failed', 'The request envelope is invalid.', {
      details: issuesOf(parsed.error),
    });
  }
  return parsed.data;
}

/**
 * Validates an action against the catalog: known name, bulk guards on the raw object, strict
 * parameters, cross-parameter rules. Returns the action with null and absent members dropped
 * and strings trimmed: the canonical form that is executed, audited and hashed.
 */
export function validateAction(
  raw: Record<string, unknown>,
  catalog: Catalog = CATALOG,
): ValidatedAction {
  const name = raw.action;
  const spec = typeof name === 'string' ? findAction(name, catalog) : undefined;
  if (!spec) {
    // The name is echoed only when it looks like an action name: never arbitrary input.
    const shown = typeof name === 'string' && /^[a-z_]{1,64}$/.test(name) ? ` "${name}"` : '';
    throw new AirlockError(
      'unknown_action',
      `Unknown action${shown}. GET /v1/tools lists the actions.`,
    );
  }
  const { action: _name, ...params } = raw;
  if (spec.kind === 'read') bulkGuardRaw(params, MAX_LIMIT);
  const parsed = spec.params.safeParse(params);
  if (!parsed.success) {
    throw new AirlockError('validation_failed', `The parameters of ${spec.name} are invalid.`, {
      details: issuesOf(parsed.error),
    });
  }
  const problem = spec.crossCheck?.(parsed.data);
  if (problem) {
    throw new AirlockError('validation_failed', `${spec.name}: ${problem}.`, {
      details: [{ path: 'action', message: problem }],
    });
  }
  const clean: { action: string } & Record<string, unknown> = { action: spec.name };
  for (const [k, v] of Object.entries(parsed.data)) if (v !== null && v !== undefined) clean[k] = v;
  // The query guards need no I/O, so they run here, before any rate budget is spent.
  bulkGuardQuery(queryValues(clean, catalog));
  return clean as ValidatedAction;
}

/**
 * Best-effort fields of a body that failed somewhere, so its audit record says who asked:
 * bounded (the prompt capped at its legal length, the action at {@link clampDepth}'s depth; a
 * body outside the input bounds never gets here whole, see {@link renderRaw}).
 */
export function auditFieldsOf(body: unknown): {
  user_id: string | null;
  agent_prompt: string | null;
  structured_action: unknown;
  action: string | null;
} {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return {
      user_id: null,
      agent_prompt: null,
      structured_action:
        typeof body === 'string' ? renderRaw(body) : boundedRendering(body ?? null),
      action: null,
    };
  }
  const b = body as Record<string, unknown>;
  const action = b.action;
  const actionName =
    action &&
    typeof action === 'object' &&
    typeof (action as { action?: unknown }).action === 'string'
      ? ((action as { action: string }).action.slice(0, 64) as string)
      : null;
  return {
    user_id: typeof b.user_id === 'string' ? userIdOfRecord(b.user_id) : null,
    agent_prompt: typeof b.agent_prompt === 'string' ? boundedPrompt(b.agent_prompt) : null,
    structured_action: boundedRendering(action ?? null),
    action: actionName,
  };
}

/**
 * The user id a record names: the canonical id when it is one (so that every count agrees),
 * else what was sent, capped, with hidden characters shown as `[U+XXXX]`.
 */
function userIdOfRecord(raw: string): string {
  const canonical = canonicalUserId(raw);
  return canonical.ok ? canonical.id : visibleRendering(capChars(raw, 256).text);
}

/** A prompt as a refused request's record keeps it: at most the longest prompt accepted. */
function boundedPrompt(prompt: string): string {
  const capped = capChars(prompt, MAX_PROMPT_CHARS);
  return capped.truncated ? `${capped.text} [truncated]` : capped.text;
}

/**
 * What a refused request's record keeps of a value it sent: the value when its JSON is at most
 * {@link RENDERING_MAX_CHARS} characters, else the first ones of that JSON and its shape.
 */
function boundedRendering(value: unknown): unknown {
  const clamped = clampDepth(value);
  const json = JSON.stringify(clamped) ?? 'null';
  return json.length <= RENDERING_MAX_CHARS
    ? clamped
    : renderRaw(json, shapeOf(value, json.length));
}
