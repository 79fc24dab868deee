/**
 * The operator's routes of the local server, behind the operator key: what
 * `npx airlock --local …` calls. Every call ends in one audit record: a command's own
 * (`event: 'control'`), or a refusal's.
 */

import * as z from 'zod';
import { parseBoundedJson } from '../core/bounded';
import { AirlockError, asAirlockError, type HttpAnswer } from '../core/errors';
import type { Caller, Gateway, RequestMeta } from '../core/gateway';
import type { ControlCommand, Operator } from '../core/operator';
import type { OperatorRouteKey } from '../core/routes';
import { screenStrings } from '../core/validate';
import type { RotationResult } from '../ops/rotate';
import type { LocalRouteHandler } from './server';

export interface OperatorRoutesDeps {
  gateway: Gateway;
  operator: Operator;
  /** The last hour as the dashboard sees it: traffic, rejections, alarm states. */
  lastHour(): Promise<Record<string, unknown>>;
  /** Checks, swaps and confirms a new HubSpot token (the running gateway uses it at once). */
  rotate(which: 'read' | 'write', token: string): Promise<RotationResult>;
  /** The embedded emulator only: a new token like the current one (HubSpot's "rotate"). */
  mintEmulatorToken?(which: 'read' | 'write'): string;
}

const controlBody = z.strictObject({
  command: z.enum(['contain', 'release', 'read_only_on', 'read_only_off']),
  reason: z.string().max(500).nullish(),
});

const rotateBody = z.strictObject({
  which: z.enum(['read', 'write']),
  token: z.string().regex(/^[\x21-\x7e]{8,1024}$/, 'one line of 8 to 1024 printable characters'),
});

const whichBody = z.strictObject({ which: z.enum(['read', 'write']) });

/** The handlers of the table's operator routes (`core/routes.ts`), by route key. */
export function operatorRoutes(deps: OperatorRoutesDeps): {
  [K in OperatorRouteKey]: LocalRouteHandler;
} {
  const { gateway, operator } = deps;
  const commandMeta = (meta: RequestMeta, caller: Caller) => ({
    requestId: meta.requestId,
    by: caller.id,
    route: meta.route,
    startedAt: meta.startedAt,
  });

  /**
   * Runs an operator command: the operator key only; anything refused gets its audit record.
   * `body` is never echoed into a record (a rotation's body carries the new token).
   */
  const guarded = async (
    meta: RequestMeta,
    caller: Caller,
    run: () => Promise<HttpAnswer>,
  ): Promise<HttpAnswer> => {
    if (caller.role !== 'operator') {
      return gateway.refuseAtEdge(
        meta,
        caller,
        new AirlockError(
          'operator_required',
          "This route takes the operator's key (keys.json in the data directory), as `npx airlock --local` sends it.",
        ),
      );
    }
    try {
      return await run();
    } catch (err) {
      // Audited like any refusal (a 503 when even that record cannot be written).
      return gateway.refuseAtEdge(meta, caller, asAirlockError(err));
    }
  };

  const parse = <S extends z.ZodType>(schema: S, raw: string): z.infer<S> => {
    // The same bounds and Unicode policy as every request body: a reason with a bidi override
    // or tag characters would otherwise reach control.json and the audit log.
    const parsed = schema.safeParse(
      screenStrings(parseBoundedJson(raw, 'The body is not valid JSON.')),
    );
    if (!parsed.success) {
      throw new AirlockError(
        'validation_failed',
        parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '),
      );
    }
    return parsed.data;
  };

  return {
    /** `GET /operator/status`. */
    operatorStatus: (meta: RequestMeta, caller: Caller) =>
      guarded(meta, caller, async () => {
        const status = await operator.status();
        const lastHour = await deps.lastHour();
        await operator.recordCommand(commandMeta(meta, caller), 'status', {});
        return {
          status: 200,
          headers: {},
          body: { request_id: meta.requestId, ...status, last_hour: lastHour },
        };
      }),

    /** `POST /operator/control`: `{"command": "contain" | …, "reason": "…"}`. */
    operatorControl: (meta: RequestMeta, caller: Caller, _params, raw: string) =>
      guarded(meta, caller, async () => {
        const body = parse(controlBody, raw);
        const result = await operator.run(
          commandMeta(meta, caller),
          body.command as ControlCommand,
          body.reason ?? null,
        );
        return { status: 200, headers: {}, body: { request_id: meta.requestId, ...result } };
      }),

    /** `POST /operator/rotate`: `{"which": "read" | "write", "token": "…"}`. */
    operatorRotate: (meta: RequestMeta, caller: Caller, _params, raw: string) =>
      guarded(meta, caller, async () => {
        const body = parse(rotateBody, raw);
        const result = await deps.rotate(body.which, body.token);
        await operator.recordCommand(
          commandMeta(meta, caller),
          `rotate_${body.which}`,
          { which: body.which, steps: result.steps.map((s) => ({ step: s.step, ok: s.ok })) },
          result.ok ? 'completed' : 'rejected',
          result.ok ? null : 'rotation_refused',
        );
        return {
          status: result.ok ? 200 : 422,
          headers: {},
          body: { request_id: meta.requestId, ...result },
        };
      }),

    /** `POST /operator/emulator-token`: a new emulator token, as HubSpot's "rotate" gives one. */
    emulatorToken: (meta: RequestMeta, caller: Caller, _params, raw: string) =>
      guarded(meta, caller, async () => {
        const body = parse(whichBody, raw);
        if (!deps.mintEmulatorToken) {
          throw new AirlockError(
            'not_found',
            'Only the embedded HubSpot emulator makes tokens; with a real HubSpot, rotate the token in HubSpot (Settings → Integrations → Private apps).',
          );
        }
        const token = deps.mintEmulatorToken(body.which);
        await operator.recordCommand(commandMeta(meta, caller), 'emulator_token', {
          which: body.which,
        });
        return { status: 200, headers: {}, body: { request_id: meta.requestId, token } };
      }),
  };
}
