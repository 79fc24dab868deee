/**
 * The synthesized approval state machine, executed locally (aws-local-stepfunctions) with
 * in-memory fakes for its three functions: what a human's decision, a timeout or a failing write
 * lead to, counted in notes written and outcomes recorded.
 */
import {
  type ApprovalHandlers,
  defaultApprovalFlow,
  type FinishPayload,
  type NotifyPayload,
  startApprovalExecution,
  type TaskCallbacks,
  type WritePayload,
} from './state-machine-harness';

const TTL_SECONDS = 3600; // cdk.json's approval.approvalTtlSeconds

function namedError(name: string, message: string): Error {
  const err = new Error(message);
  err.name = name;
  return err;
}

interface FakeApproval {
  action_hash: string;
  task_token?: string;
  outcome?: FinishPayload['outcome'];
}

/**
 * The world the functions act on: approvals (as the validation function stored them), HubSpot's
 * notes, and what each function was called with. `write` behaves like the real one must: it
 * refuses a hash that differs from the stored one, and on a retry finds the note it already
 * made for this approval instead of making a second.
 */
function fakeWorld(options: { failFirstWriteAfterRecording?: boolean } = {}) {
  const approvals = new Map<string, FakeApproval>();
  const notes: { id: string; approval_id: string }[] = [];
  const calls = {
    notify: [] as NotifyPayload[],
    write: [] as WritePayload[],
    finish: [] as FinishPayload[],
  };
  let nextNoteId = 1000;
  let failedOnce = false;
  let notified!: () => void;
  const notifiedPromise = new Promise<void>((resolve) => {
    notified = resolve;
  });
  let callbacks: TaskCallbacks | undefined;

  const handlers: ApprovalHandlers = {
    notify(payload, cb) {
      calls.notify.push(payload);
      const approval = approvals.get(payload.approval_id);
      if (!approval) throw namedError('Airlock.ApprovalNotFound', 'no such approval');
      // The real function stores the token on the approval and posts the Slack message.
      approval.task_token = payload.task_token;
      callbacks = cb;
      notified();
      return { posted: true };
    },
    write(payload) {
      calls.write.push(payload);
      const approval = approvals.get(payload.approval_id);
      if (!approval) throw namedError('Airlock.ApprovalNotFound', 'no such approval');
      if (approval.action_hash !== payload.action_hash) {
        throw namedError('Airlock.HashMismatch', 'the action differs from the approved one');
      }
      const mine = notes.find((n) => n.approval_id === payload.approval_id);
      if (mine) return { note_id: mine.id };
      const note = { id: String(nextNoteId++), approval_id: payload.approval_id };
      notes.push(note);
      if (options.failFirstWriteAfterRecording && !failedOnce) {
        failedOnce = true;
        // HubSpot created the note but the answer was lost (timeout, 5xx after commit).
        throw namedError('Airlock.Retryable', 'HubSpot did not confirm the note');
      }
      return { note_id: note.id };
    },
    finish(payload) {
      calls.finish.push(payload);
      const approval = approvals.get(payload.approval_id);
      if (approval) approval.outcome = payload.outcome;
      return { recorded: true };
    },
  };

  /** A Slack click: the callback function looks the token up and sends the decision. */
  const click = async (approvalId: string, decision: string) => {
    await notifiedPromise;
    const token = approvals.get(approvalId)?.task_token;
    if (!token || !callbacks) throw new Error('nothing to decide');
    callbacks.sendTaskSuccess(token, { decision, approver: 'U0123456789' });
  };
  const failCallback = async (approvalId: string) => {
    await notifiedPromise;
    const token = approvals.get(approvalId)?.task_token;
    if (!token || !callbacks) throw new Error('nothing to decide');
    callbacks.sendTaskFailure(token, 'Airlock.CallbackFailed', 'the decision could not be read');
  };

  return { approvals, notes, calls, handlers, click, failCallback, notified: notifiedPromise };
}

const INPUT = { approval_id: 'apr-1', request_id: 'req-1', action_hash: 'sha256:aaaa' };

function start(world: ReturnType<typeof fakeWorld>, input = INPUT) {
  if (!world.approvals.has(input.approval_id)) {
    world.approvals.set(input.approval_id, { action_hash: input.action_hash });
  }
  return startApprovalExecution(world.handlers, input);
}

beforeAll(() => {
  defaultApprovalFlow(); // synthesize once, outside the timed tests
}, 60_000);

describe('approval state machine, executed locally', () => {
  it('writes exactly one note and records completed when an approver approves', async () => {
    const world = fakeWorld();
    const execution = start(world);
    await world.click('apr-1', 'approved');
    const run = await execution.result;

    expect(run.status).toBe('SUCCEEDED');
    expect(world.notes).toEqual([{ id: '1000', approval_id: 'apr-1' }]);
    expect(world.calls.notify).toEqual([
      { approval_id: 'apr-1', action_hash: 'sha256:aaaa', task_token: execution.taskToken },
    ]);
    expect(world.calls.write).toEqual([{ approval_id: 'apr-1', action_hash: 'sha256:aaaa' }]);
    expect(world.calls.finish).toEqual([
      {
        approval_id: 'apr-1',
        outcome: 'completed',
        note_id: '1000',
        write: { note_id: '1000' },
      },
    ]);
    expect(run.states).toEqual(['Notify', 'Decide', 'Write', 'Completed', 'Done']);
  });

  it('writes nothing and records denied when an approver denies', async () => {
    const world = fakeWorld();
    const execution = start(world);
    await world.click('apr-1', 'denied');
    const run = await execution.result;

    expect(run.status).toBe('SUCCEEDED');
    expect(world.notes).toEqual([]);
    expect(world.calls.write).toEqual([]);
    expect(world.calls.finish).toEqual([{ approval_id: 'apr-1', outcome: 'denied' }]);
    expect(run.states).toEqual(['Notify', 'Decide', 'Denied', 'Done']);
  });

  describe('when nobody decides', () => {
    beforeEach(() => {
      jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    });
    afterEach(() => {
      jest.useRealTimers();
    });

    it('keeps waiting until the approval TTL, then writes nothing and records expired', async () => {
      const world = fakeWorld();
      const execution = start(world);
      let settled = false;
      void execution.result.then(() => {
        settled = true;
      });
      await world.notified;

      // The task's TimeoutSeconds is the TTL: one second before it, the wait goes on.
      await jest.advanceTimersByTimeAsync((TTL_SECONDS - 1) * 1000);
      expect(settled).toBe(false);
      expect(world.calls.finish).toEqual([]);

      await jest.advanceTimersByTimeAsync(1000);
      const run = await execution.result;
      expect(run.status).toBe('SUCCEEDED');
      expect(world.notes).toEqual([]);
      expect(world.calls.write).toEqual([]);
      expect(world.calls.finish).toEqual([
        {
          approval_id: 'apr-1',
          outcome: 'expired',
          error: { Error: 'States.Timeout', Cause: expect.any(String) },
        },
      ]);
      expect(run.states).toEqual(['Notify', 'Expired', 'Done']);
    });
  });

  it('retries a write that failed after HubSpot recorded the note, and still writes exactly one', async () => {
    const world = fakeWorld({ failFirstWriteAfterRecording: true });
    const execution = start(world);
    await world.click('apr-1', 'approved');
    const run = await execution.result;

    expect(run.status).toBe('SUCCEEDED');
    expect(world.calls.write).toHaveLength(2);
    expect(world.notes).toEqual([{ id: '1000', approval_id: 'apr-1' }]);
    expect(world.calls.finish).toEqual([
      {
        approval_id: 'apr-1',
        outcome: 'completed',
        note_id: '1000',
        write: { note_id: '1000' },
      },
    ]);
    const retried = run.events.filter((e) => e.type === 'StateRetried');
    expect(retried.map((e) => (e as { state: { name: string } }).state.name)).toEqual(['Write']);
  });

  it('refuses to write an action whose hash differs from the approved one, without retrying', async () => {
    const world = fakeWorld();
    world.approvals.set('apr-1', { action_hash: 'sha256:approved' });
    const execution = start(world, { ...INPUT, action_hash: 'sha256:tampered' });
    await world.click('apr-1', 'approved');
    const run = await execution.result;

    expect(world.calls.write).toEqual([{ approval_id: 'apr-1', action_hash: 'sha256:tampered' }]);
    expect(world.notes).toEqual([]);
    expect(world.calls.finish).toEqual([
      {
        approval_id: 'apr-1',
        outcome: 'failed',
        error: { Error: 'Airlock.HashMismatch', Cause: expect.any(String) },
      },
    ]);
    // The outcome is recorded, then the execution fails so monitoring sees it.
    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('Airlock.ApprovalFailed');
    expect(run.states).toEqual(['Notify', 'Decide', 'Write', 'WriteFailed', 'Aborted']);
  });

  it('gives up after three retries of a write that keeps failing, and records failed', async () => {
    const world = fakeWorld();
    world.handlers.write = (payload) => {
      world.calls.write.push(payload);
      throw namedError('Airlock.Retryable', 'HubSpot is down');
    };
    const execution = start(world);
    await world.click('apr-1', 'approved');
    const run = await execution.result;

    expect(world.calls.write).toHaveLength(4); // the attempt and its 3 retries
    expect(world.calls.finish).toEqual([
      expect.objectContaining({
        outcome: 'failed',
        error: expect.objectContaining({ Error: 'Airlock.Retryable' }),
      }),
    ]);
    expect(run.status).toBe('FAILED');
  });

  it.each([
    [
      'a decision that is neither approved nor denied',
      (w: ReturnType<typeof fakeWorld>) => w.click('apr-1', 'maybe'),
      'Airlock.UnknownDecision',
    ],
    [
      'a task failure sent by the callback',
      (w: ReturnType<typeof fakeWorld>) => w.failCallback('apr-1'),
      'Airlock.CallbackFailed',
    ],
  ])('writes nothing and records failed on %s', async (_name, decide, error) => {
    const world = fakeWorld();
    const execution = start(world);
    await decide(world);
    const run = await execution.result;

    expect(world.calls.write).toEqual([]);
    expect(world.notes).toEqual([]);
    expect(world.calls.finish).toEqual([
      { approval_id: 'apr-1', outcome: 'failed', error: expect.objectContaining({ Error: error }) },
    ]);
    expect(run.status).toBe('FAILED');
    expect(run.states.slice(-2)).toEqual(['Failed', 'Aborted']);
  });

  it('writes nothing and records failed when the approvers cannot be notified', async () => {
    const world = fakeWorld();
    world.handlers.notify = () => {
      throw namedError('Airlock.SlackUnavailable', 'chat.postMessage failed');
    };
    const run = await start(world).result;

    expect(world.calls.write).toEqual([]);
    expect(world.calls.finish).toEqual([
      {
        approval_id: 'apr-1',
        outcome: 'failed',
        error: expect.objectContaining({ Error: 'Airlock.SlackUnavailable' }),
      },
    ]);
    expect(run.states).toEqual(['Notify', 'Failed', 'Aborted']);
  });
});
