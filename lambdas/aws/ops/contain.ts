/**
 * `contain` on AWS: pending writes are cancelled through their waiting state machine
 * executions, and swept a second time once every reader's cached switch has expired.
 */
import { SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import type { CommandMeta, ControlResult, Operator } from '../../core/operator';
import type { Approval } from '../../core/ports';
import type { OpsDeps } from './deps';

/**
 * How long `contain` waits before it sweeps the pending writes a second time: a validation
 * container may answer from a switch read cached up to 10 s before the change (5 s cache plus
 * the read's own time), and the index the sweep lists is eventually consistent, so a write
 * accepted in that window is pending only after the first sweep.
 */
export const RESWEEP_AFTER_MS = 11_000;

/** Step Functions' answers for a token nobody waits on any more (the execution moved on). */
const GONE = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

/** The denial the Slack callback sends, as the state machine's `Decide` state reads it. */
const CANCELLED_DECISION = { decision: 'denied', by: [] as string[] };

/**
 * What happens to a pending write cancelled by `contain`: the waiting execution gets a denial
 * and its Finish task records it (reason `gateway_contained`) and updates the Slack message.
 * Without a task token yet, there is nothing to send: Notify will find the approval no longer
 * pending and the execution still ends through Finish.
 */
export function cancelThroughFlow(
  deps: Pick<OpsDeps, 'approvals' | 'sfn' | 'log'>,
): (a: Approval) => Promise<void> {
  return async (a) => {
    const taskToken = await deps.approvals.getTaskToken(a.approval_id);
    if (!taskToken) return;
    try {
      await deps.sfn.send(
        new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(CANCELLED_DECISION) }),
      );
    } catch (err) {
      const name = (err as { name?: unknown } | null)?.name;
      if (typeof name === 'string' && GONE.has(name)) {
        deps.log.info('the approval flow no longer waits for this approval', {
          approval_id: a.approval_id,
          error: name,
        });
        return;
      }
      throw err;
    }
  };
}

/**
 * `contain`, then a second sweep once every reader's cached switch has expired, unless the
 * gateway was released meanwhile (a write accepted after a release is the operator's choice).
 */
export function containTwice(
  deps: Pick<OpsDeps, 'control' | 'resweepAfterMs' | 'sleep'>,
  stored: Operator,
): (meta: CommandMeta, reason: string | null) => Promise<ControlResult> {
  const sleep =
    deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  return async (meta, reason) => {
    const result = await stored.run(meta, 'contain', reason);
    await sleep(deps.resweepAfterMs ?? RESWEEP_AFTER_MS);
    // The command is recorded already: nothing here may throw (it would add a second record).
    const released = await deps.control.stored().then(
      (now) => !now.contained && !deps.control.forced.contained,
      () => false,
    );
    if (released) return result;
    const again = await stored.sweepPending(meta);
    return {
      command: result.command,
      control: result.control,
      changed: result.changed,
      cancelled: [...result.cancelled, ...again.cancelled],
      ...(!result.incomplete && again.complete ? {} : { incomplete: true as const }),
    };
  };
}
