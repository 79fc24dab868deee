/**
 * The ops function's core: the operator's CLI invokes it (`lambda:InvokeFunction`, granted by
 * the stack's `OperatorPolicy`) to read the kill switch and pending writes, to contain,
 * release, or turn read-only mode on or off, and to confirm a rotated read token (the probe of
 * the HubSpot-call function, which the operator may not invoke). It serves the same Operator
 * core as the local server's operator routes; every call ends in an audit record
 * (`event: 'control'`). The contract is `ops/contract.ts`; admission (shape, identity),
 * `contain` and the probe have their modules in `ops/`.
 */
import { asAirlockError } from '../core/errors';
import { type CommandMeta, Operator } from '../core/operator';
import { admit } from './ops/admit';
import { cancelThroughFlow, containTwice } from './ops/contain';
import type { ForcedControl, OpsCommand, OpsEvent, OpsResult } from './ops/contract';
import type { OpsDeps } from './ops/deps';
import { probeReadToken } from './ops/probe';

type Answer = (meta: CommandMeta, event: OpsEvent) => Promise<OpsResult>;

/** What the operator is told when a command fails half-way (`name`: the error's name). */
const FAILED: Partial<Record<OpsCommand, (name: string) => string>> = {
  status: (name) => `The status could not be read (${name}); see the ops function's log.`,
  probe_read_token: (name) =>
    `The HubSpot-call function's probe did not complete (${name}); see the ops function's log.`,
};
const FAILED_SWITCH = (name: string) =>
  `The command did not complete (${name}). The switch may already have moved: run status to see where it stands, then run the command again.`;

export function createOpsHandler(deps: OpsDeps) {
  const cancelled = cancelThroughFlow(deps);
  const common = { approvals: deps.approvals, audit: deps.audit, clock: deps.clock, log: deps.log };
  const effective = new Operator({ ...common, control: deps.control, cancelled });
  // Commands compare with and write the stored switch: a `contain` while the deploy-time
  // override is on is still stored, so it holds once the override is deployed away.
  const stored = new Operator({
    ...common,
    control: {
      read: () => deps.control.read(),
      snapshot: () => deps.control.stored(),
      set: (change) => deps.control.setStored(change),
    },
    cancelled,
  });
  const forced = (): ForcedControl => ({
    contained: deps.control.forced.contained,
    readOnly: deps.control.forced.readOnly,
  });
  const probe = probeReadToken(deps, stored);
  const contain = containTwice(deps, stored);

  /** A switch command; the answer's `control` is the switch in effect, override included. */
  const switchCommand =
    (run: (meta: CommandMeta, reason: string | null) => ReturnType<typeof contain>): Answer =>
    async (meta, event) => {
      const result = await run(meta, event.reason || null);
      const f = forced();
      return {
        ok: true,
        request_id: meta.requestId,
        forced: f,
        ...result,
        control: {
          ...result.control,
          contained: result.control.contained || f.contained,
          readOnly: result.control.readOnly || f.readOnly,
        },
      };
    };

  const COMMANDS: Record<OpsCommand, Answer> = {
    status: async (meta) => {
      const status = await effective.status();
      await effective.recordCommand(meta, 'status', {});
      return { ok: true, request_id: meta.requestId, forced: forced(), ...status };
    },
    // The CLI rotates with the operator's own credentials; this is its audit record.
    record_rotation: async (meta, { rotation }) => {
      if (!rotation) throw new Error('unreachable: the schema requires rotation');
      await stored.recordCommand(
        meta,
        `rotate_${rotation.which}`,
        rotation,
        rotation.ok ? 'completed' : 'rejected',
        rotation.ok ? null : 'rotation_refused',
      );
      return { ok: true, request_id: meta.requestId, forced: forced() };
    },
    probe_read_token: async (meta) => ({
      ok: true,
      request_id: meta.requestId,
      forced: forced(),
      probe: await probe(meta),
    }),
    contain: switchCommand(contain),
    release: switchCommand((meta, reason) => stored.run(meta, 'release', reason)),
    read_only_on: switchCommand((meta, reason) => stored.run(meta, 'read_only_on', reason)),
    read_only_off: switchCommand((meta, reason) => stored.run(meta, 'read_only_off', reason)),
  };

  return async (event: unknown): Promise<OpsResult> => {
    const requestId = deps.requestId();
    const admitted = await admit(deps, stored, event, { requestId, startedAt: deps.clock.now() });
    if (!admitted.ok) return admitted;
    const { meta } = admitted;
    const { command, reason } = admitted.event;
    try {
      return await COMMANDS[command](meta, admitted.event);
    } catch (err) {
      const e = asAirlockError(err);
      const name = err instanceof Error ? err.name : 'Error';
      deps.log.error('ops command failed', { request_id: requestId, command, error: name });
      await stored
        .recordCommand(meta, command, { command, reason: reason ?? null }, 'failed', e.code)
        .catch(() => undefined);
      return {
        ok: false,
        request_id: requestId,
        error: { code: e.code, message: (FAILED[command] ?? FAILED_SWITCH)(name) },
      };
    }
  };
}
