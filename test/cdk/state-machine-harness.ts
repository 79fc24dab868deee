/**
 * Runs the synthesized approval state machine locally with `aws-local-stepfunctions`: the
 * definition is taken from the CloudFormation template (intrinsics resolved to fake ARNs), and
 * each Lambda the definition names is replaced by a handler the test supplies. The fakes of
 * `state-machine.test.ts` and the real handlers of an end-to-end test plug in the same way.
 *
 * What the harness adds to aws-local-stepfunctions 3, which knows nothing of service
 * integrations (it passes the task's effective input to the local handler, whatever the
 * `Resource`):
 * - `arn:aws:states:::lambda:invoke.waitForTaskToken`: the function is invoked with `Payload`,
 *   then the task waits until {@link TaskCallbacks.sendTaskSuccess} or `sendTaskFailure` is
 *   called with the token; the task output is the success output, as on AWS. The library sets
 *   no `$$.Task.Token`, so the harness gives each execution one token through the context
 *   object (AWS issues a new token per attempt; the flow has one waiting task).
 * - `arn:aws:states:::lambda:invoke`: the output is wrapped as `{ExecutedVersion, Payload,
 *   StatusCode}`, as on AWS; a plain function ARN (`payloadResponseOnly`) returns the payload.
 * - The task `TimeoutSeconds` IS enforced by the library (a timer racing the task, failing it
 *   with `States.Timeout`), so the approval TTL is exercised for real: with jest's fake timers,
 *   advancing the clock by the TTL expires the wait.
 * - Retry intervals are shortened to 0 ms unless `realRetryIntervals` is set (the retry counts,
 *   errors matched and backoff fields are the template's own).
 */
import { Stack } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { StateMachine } from 'aws-local-stepfunctions';
import type { CfnTemplate, Synthesized } from './helpers';
import { synthAirlock } from './helpers';

export const FAKE_REGION = 'eu-west-1';
export const FAKE_ACCOUNT = '123456789012';

/** One event of an execution's log (the package does not export the type). */
export type EventLog =
  ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** What the flow's functions receive (the payloads the definition builds). */
export interface NotifyPayload {
  approval_id: string;
  action_hash: string;
  task_token: string;
}
export interface WritePayload {
  approval_id: string;
  action_hash: string;
}
export interface FinishPayload {
  approval_id: string;
  outcome: 'completed' | 'denied' | 'expired' | 'failed';
  note_id?: string;
  /** The write function's whole result (`completed` only). */
  write?: Record<string, unknown>;
  error?: { Error: string; Cause: string };
}

/** The Step Functions callback API, as the Slack function would call it. */
export interface TaskCallbacks {
  sendTaskSuccess(taskToken: string, output: Json): void;
  sendTaskFailure(taskToken: string, error: string, cause?: string): void;
}

/**
 * Stand-ins for the three functions the state machine invokes; each behaves like a Lambda
 * handler: it returns the result or throws (the error's `name` is what Retry/Catch match, as a
 * Lambda's `errorType` is on AWS).
 */
export interface ApprovalHandlers {
  notify(payload: NotifyPayload, callbacks: TaskCallbacks): unknown;
  write(payload: WritePayload): unknown;
  finish(payload: FinishPayload): unknown;
}

export interface ApprovalFlowDefinition {
  /** The Amazon States Language definition, intrinsics resolved. */
  definition: AslDefinition;
  /** The fake ARN standing for each function of the flow. */
  functionArns: Record<keyof ApprovalHandlers, string>;
}

export interface AslState {
  Type: string;
  Resource?: string;
  Parameters?: Record<string, unknown>;
  TimeoutSeconds?: number;
  ResultPath?: string | null;
  Retry?: {
    ErrorEquals: string[];
    IntervalSeconds?: number;
    MaxAttempts?: number;
    BackoffRate?: number;
  }[];
  Catch?: { ErrorEquals: string[]; Next: string; ResultPath?: string }[];
  Next?: string;
  End?: boolean;
  Choices?: Record<string, unknown>[];
  Default?: string;
  [other: string]: unknown;
}
export interface AslDefinition {
  StartAt: string;
  States: Record<string, AslState>;
  [other: string]: unknown;
}

/** The fake ARN of the function with this logical id. */
export const fakeFunctionArn = (logicalId: string) =>
  `arn:aws:lambda:${FAKE_REGION}:${FAKE_ACCOUNT}:function:${logicalId}`;

const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': FAKE_REGION,
  'AWS::AccountId': FAKE_ACCOUNT,
  'AWS::URLSuffix': 'amazonaws.com',
};

/**
 * Resolves `Ref`, `Fn::GetAtt` (`Arn` of Lambda functions) and `Fn::Join` to strings; anything
 * else is an error, so a definition that starts depending on new resources says so.
 */
export function resolveIntrinsics(value: unknown, template: CfnTemplate): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveIntrinsics(v, template));
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value);
  const [key, arg] = entries[0] ?? [];
  if (entries.length === 1 && key === 'Ref' && typeof arg === 'string') {
    const pseudo = PSEUDO[arg];
    if (pseudo !== undefined) return pseudo;
    throw new Error(`cannot resolve Ref ${arg}`);
  }
  if (entries.length === 1 && key === 'Fn::GetAtt' && Array.isArray(arg)) {
    const [id, attribute] = arg as [string, string];
    if (template.Resources[id]?.Type === 'AWS::Lambda::Function' && attribute === 'Arn') {
      return fakeFunctionArn(id);
    }
    throw new Error(`cannot resolve Fn::GetAtt ${id}.${attribute}`);
  }
  if (entries.length === 1 && key === 'Fn::Join' && Array.isArray(arg)) {
    const [sep, parts] = arg as [string, unknown[]];
    return parts.map((p) => resolveIntrinsics(p, template)).join(sep);
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, resolveIntrinsics(v, template)]));
}

/** The approval state machine of a synthesized app, ready to run. */
export function approvalFlowDefinition(synth: Synthesized): ApprovalFlowDefinition {
  const { stack, json } = synth;
  const flow = stack.approval;
  const logicalId = (fn: lambda.IFunction) =>
    Stack.of(fn).getLogicalId(fn.node.defaultChild as lambda.CfnFunction);
  const sm =
    json.Resources[Stack.of(flow).getLogicalId(flow.stateMachine.node.defaultChild as never)];
  if (sm?.Type !== 'AWS::StepFunctions::StateMachine') throw new Error('no approval state machine');
  const definition = JSON.parse(
    resolveIntrinsics(sm.Properties?.DefinitionString, json) as string,
  ) as AslDefinition;
  return {
    definition,
    functionArns: {
      notify: fakeFunctionArn(logicalId(flow.notify.function)),
      write: fakeFunctionArn(logicalId(flow.write.function)),
      finish: fakeFunctionArn(logicalId(flow.finish.function)),
    },
  };
}

let cached: ApprovalFlowDefinition | undefined;
/** The definition from cdk.json's context, synthesized once per test file. */
export function defaultApprovalFlow(): ApprovalFlowDefinition {
  cached ??= approvalFlowDefinition(synthAirlock());
  return cached;
}

export interface ApprovalRunOptions {
  /** The flow to run. @default the app synthesized with cdk.json's context */
  flow?: ApprovalFlowDefinition;
  /** Wait the template's retry intervals instead of 0 ms. @default false */
  realRetryIntervals?: boolean;
  /** The execution's task token (`$$.Task.Token`). @default a fresh `token-<n>` */
  taskToken?: string;
}

/** How an execution ended, and what it went through. */
export interface ApprovalRunResult {
  status: 'SUCCEEDED' | 'FAILED';
  output?: unknown;
  /** The `Fail` state's (or the uncaught) error name and cause, when FAILED. */
  error?: string;
  cause?: unknown;
  /** The names of the states entered, in order (a retried state appears once per attempt). */
  states: string[];
  events: EventLog[];
}

export interface ApprovalExecution {
  /** The token the waiting task waits on. */
  taskToken: string;
  callbacks: TaskCallbacks;
  result: Promise<ApprovalRunResult>;
  abort(): void;
}

interface Deferred {
  promise: Promise<Json>;
  resolve(value: Json): void;
  reject(error: Error): void;
}

function deferred(): Deferred {
  let resolve!: (value: Json) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<Json>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A token nobody waits on any more (the task timed out) must not be an unhandled rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

function namedError(name: string, message: string): Error {
  const err = new Error(message);
  err.name = name;
  return err;
}

let tokens = 0;
const machines = new WeakMap<ApprovalFlowDefinition, StateMachine>();

/** Starts one execution; the caller drives callbacks (a Slack click) and awaits `result`. */
export function startApprovalExecution(
  handlers: ApprovalHandlers,
  input: { approval_id: string; request_id: string; action_hash: string },
  options: ApprovalRunOptions = {},
): ApprovalExecution {
  const flow = options.flow ?? defaultApprovalFlow();
  const taskToken = options.taskToken ?? `token-${++tokens}`;
  const waits = new Map<string, Deferred>();
  const waitFor = (token: string) => {
    let d = waits.get(token);
    if (!d) {
      d = deferred();
      waits.set(token, d);
    }
    return d;
  };
  const callbacks: TaskCallbacks = {
    sendTaskSuccess: (token, output) => {
      if (token !== taskToken) throw namedError('TaskDoesNotExist', 'unknown task token');
      waitFor(token).resolve(output);
    },
    sendTaskFailure: (token, error, cause) => {
      if (token !== taskToken) throw namedError('TaskDoesNotExist', 'unknown task token');
      waitFor(token).reject(namedError(error, cause ?? ''));
    },
  };

  const byArn = new Map<string, (payload: never) => unknown>([
    [flow.functionArns.notify, (p: NotifyPayload) => handlers.notify(p, callbacks)],
    [flow.functionArns.write, (p: WritePayload) => handlers.write(p)],
    [flow.functionArns.finish, (p: FinishPayload) => handlers.finish(p)],
  ]);
  const invoke = async (functionArn: unknown, payload: unknown): Promise<Json> => {
    const fn = byArn.get(String(functionArn));
    if (!fn) throw new Error(`the state machine invoked an unknown function ${functionArn}`);
    // Lambda payloads are JSON both ways.
    const result = await fn(JSON.parse(JSON.stringify(payload ?? null)) as never);
    return result === undefined ? null : (JSON.parse(JSON.stringify(result)) as Json);
  };

  const local: Record<string, (input: Json) => Promise<Json>> = {};
  const retryIntervals: Record<string, number> = {};
  for (const [name, state] of Object.entries(flow.definition.States)) {
    if (state.Retry && !options.realRetryIntervals) retryIntervals[name] = 0;
    if (state.Type !== 'Task') continue;
    const resource = state.Resource ?? '';
    if (/^arn:aws:states:::lambda:invoke\.waitForTaskToken$/.test(resource)) {
      local[name] = async (taskInput) => {
        const { FunctionName, Payload } = taskInput as { FunctionName: string; Payload: Json };
        const wait = waitFor(taskToken);
        await invoke(FunctionName, Payload);
        return wait.promise;
      };
    } else if (/^arn:aws:states:::lambda:invoke$/.test(resource)) {
      local[name] = async (taskInput) => {
        const { FunctionName, Payload } = taskInput as { FunctionName: string; Payload: Json };
        const out = await invoke(FunctionName, Payload);
        return { ExecutedVersion: '$LATEST', Payload: out, StatusCode: 200 };
      };
    } else if (resource.startsWith('arn:aws:lambda:')) {
      local[name] = (taskInput) => invoke(resource, taskInput);
    } else {
      throw new Error(`state ${name}: the harness does not emulate ${resource}`);
    }
  }

  // Validating the definition (ajv) is the slow part of a run: once per flow.
  let machine = machines.get(flow);
  if (!machine) {
    machine = new StateMachine(flow.definition as never);
    machines.set(flow, machine);
  }
  const execution = machine.run(input, {
    overrides: { taskResourceLocalHandlers: local, retryIntervalOverrides: retryIntervals },
    context: { Task: { Token: taskToken } },
  });

  const events: EventLog[] = [];
  const collected = (async () => {
    for await (const e of execution.eventLogs) events.push(e);
  })();
  const states = () => events.flatMap((e) => (e.type === 'StateEntered' ? [e.state.name] : []));

  const result = execution.result.then(
    async (output): Promise<ApprovalRunResult> => {
      await collected;
      return { status: 'SUCCEEDED', output, states: states(), events };
    },
    async (err: unknown): Promise<ApprovalRunResult> => {
      await collected;
      const failed = events.find((e) => e.type === 'ExecutionFailed') as
        | { Error: string; Cause: unknown }
        | undefined;
      return {
        status: 'FAILED',
        error: failed?.Error ?? (err as Error).name,
        cause: failed?.Cause ?? (err as Error).message,
        states: states(),
        events,
      };
    },
  );
  return { taskToken, callbacks, result, abort: () => execution.abort() };
}

/** Runs one execution to its end (the handlers must make the decision themselves). */
export function runApprovalStateMachine(
  handlers: ApprovalHandlers,
  input: { approval_id: string; request_id: string; action_hash: string },
  options: ApprovalRunOptions = {},
): Promise<ApprovalRunResult> {
  return startApprovalExecution(handlers, input, options).result;
}
