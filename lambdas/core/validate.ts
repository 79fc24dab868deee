import * as z from 'zod';
import { findAction, MAX_LIMIT, type ValidatedAction } from './catalog';
import { AirlockError } from './errors';
import { bulkGuardRaw, isCleanIdentifier } from './policy';

/** The request envelope of `POST /v1/actions` (DESIGN §3). */
const envelopeSchema = z.strictObject({
  user_id: z
    .string()
    .trim()
    .min(1, 'user_id must not be empty')
    .max(128, 'user_id must be at most 128 characters')
    .refine(isCleanIdentifier, 'user_id must not contain control or invisible characters'),
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

export function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    throw new AirlockError(
      'invalid_json',
      'The body is not valid JSON. Send {"user_id", "agent_prompt", "action": {"action": ...}}.',
    );
  }
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
export function validateAction(raw: Record<string, unknown>): ValidatedAction {
  const name = raw.action;
  const spec = typeof name === 'string' ? findAction(name) : undefined;
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
  const clean: Record<string, unknown> = { action: spec.name };
  for (const [k, v] of Object.entries(parsed.data)) if (v !== null && v !== undefined) clean[k] = v;
  return clean as ValidatedAction;
}

/** Best-effort fields of a body that failed somewhere, so its audit record says who asked. */
export function auditFieldsOf(body: unknown): {
  user_id: string | null;
  agent_prompt: string | null;
  structured_action: unknown;
  action: string | null;
} {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return { user_id: null, agent_prompt: null, structured_action: body ?? null, action: null };
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
    user_id: typeof b.user_id === 'string' ? b.user_id.slice(0, 256) : null,
    agent_prompt: typeof b.agent_prompt === 'string' ? b.agent_prompt : null,
    structured_action: action ?? null,
    action: actionName,
  };
}
