/**
 * The same agent backend with the OpenAI Agents SDK (`@openai/agents`): one SDK tool per gateway
 * tool, writes marked `needsApproval` so the user confirms them before they are even requested.
 *
 * That confirmation is a courtesy to the user, not the control: a confirmed write still reaches
 * the gateway only as a request, which the gateway holds (202 pending_approval) until a person
 * with the approver's key approves it. A declined write is never sent at all.
 *
 * Run it against `npm start` (see examples/README.md):
 *
 *   OPENAI_API_KEY=... node --import tsx examples/openai-agents/agent.ts "Add a note to Acme Corp: called about the renewal"
 */
import { createInterface } from 'node:readline/promises';
import {
  Agent,
  type FunctionTool,
  MaxTurnsExceededError,
  OpenAIChatCompletionsModel,
  Runner,
  setTracingDisabled,
  tool,
} from '@openai/agents';
import type OpenAI from 'openai';
import type { AirlockClient, OpenAiTool } from '../../lambdas/client';
import { findAction } from '../../lambdas/core/catalog';
import {
  type AgentEvent,
  type AgentRun,
  callGateway,
  commandLine,
  INSTRUCTIONS,
} from '../openai-chat/agent';

// The SDK exports traces (prompts, tool arguments, tool results) to OpenAI by default: CRM data
// would leave through a second channel the gateway does not audit.
setTracingDisabled(true);

/** The SDK's type for a strict JSON schema (not exported by name). */
type StrictJsonSchema = Extract<
  NonNullable<Parameters<typeof tool>[0]['parameters']>,
  { additionalProperties: false }
>;

/** A write the model asked for, shown to the user before it is requested from the gateway. */
export interface ToolCallToConfirm {
  name: string;
  arguments: unknown;
}

/** An `AgentEvent`, or the user's answer to a confirmation. */
export type AgentsEvent = AgentEvent | { type: 'confirmation'; name: string; approved: boolean };

export interface AgentsRun extends Omit<AgentRun, 'events'> {
  events: AgentsEvent[];
}

export interface RunAgentsOptions {
  gateway: AirlockClient;
  openai: OpenAI;
  model: string;
  userId: string;
  prompt: string;
  /** Asks the user whether to request a write; false means it is never sent. */
  confirm: (call: ToolCallToConfirm) => Promise<boolean>;
  /** Model turns per run segment, and confirmation rounds at most. @default 5 */
  maxTurns?: number;
  log?: (line: string) => void;
}

/** What the model is told when the user declines a write. */
export const DECLINED =
  'The user declined this change, so it was not requested and nothing was changed. Tell the user it was not done.';

/**
 * A tool that is not a known read needs the user's confirmation: derived from the catalog's
 * read/write kinds, so an unknown (new) tool is treated as a write until the catalog says
 * otherwise.
 */
export function needsConfirmation(toolName: string): boolean {
  return findAction(toolName)?.kind !== 'read';
}

/** The gateway's tools as Agents SDK tools: same names, descriptions and strict schemas. */
export function gatewayTools(
  definitions: OpenAiTool[],
  execute: (name: string, args: Record<string, unknown>) => Promise<unknown>,
): FunctionTool<unknown, StrictJsonSchema, string>[] {
  return definitions.map(({ function: fn }) =>
    tool({
      name: fn.name,
      description: fn.description,
      // Already strict (every property required, optional ones nullable): the SDK keeps it as is.
      parameters: fn.parameters as StrictJsonSchema,
      strict: true,
      needsApproval: needsConfirmation(fn.name),
      execute: async (input) =>
        JSON.stringify(await execute(fn.name, (input ?? {}) as Record<string, unknown>)),
    }),
  );
}

/** Runs one request with the Agents SDK, asking `confirm` before any write is requested. */
export async function runAgents(options: RunAgentsOptions): Promise<AgentsRun> {
  const { gateway, openai, model, userId, prompt, confirm } = options;
  const log = options.log ?? (() => {});
  const maxTurns = options.maxTurns ?? 5;
  const events: AgentsEvent[] = [];
  const { tools } = await gateway.listTools();
  const agent = new Agent({
    name: 'CRM assistant',
    instructions: INSTRUCTIONS,
    model: new OpenAIChatCompletionsModel(openai, model),
    tools: gatewayTools(tools, (name, args) => {
      log(`→ ${name} ${JSON.stringify(args)}`);
      events.push({ type: 'tool_call', name, arguments: args });
      return callGateway(
        gateway,
        name,
        args,
        { userId, agentPrompt: prompt },
        (e) => events.push(e),
        log,
      );
    }),
  });
  const runner = new Runner({ tracingDisabled: true });
  const stopped = (): AgentsRun => ({
    answer: `Stopped after ${maxTurns} turns without a final answer.`,
    events,
    pending: events.flatMap((e) => (e.type === 'pending_approval' ? [e.write] : [])),
  });
  // A model that keeps calling tools is stopped, as in the chat example, not thrown at the user.
  const run = async (input: Parameters<Runner['run']>[1]) => {
    try {
      return await runner.run(agent, input, { maxTurns });
    } catch (err) {
      if (err instanceof MaxTurnsExceededError) return null;
      throw err;
    }
  };

  let result = await run(prompt);
  for (let round = 0; result && result.interruptions.length > 0; round++) {
    if (round >= maxTurns) return stopped();
    for (const item of result.interruptions) {
      const name = item.name ?? '(unnamed tool)';
      const approved = await confirm({ name, arguments: parseArguments(item.arguments) });
      events.push({ type: 'confirmation', name, approved });
      if (approved) result.state.approve(item);
      else result.state.reject(item, { message: DECLINED });
    }
    result = await run(result.state);
  }
  if (!result) return stopped();
  const pending = events.flatMap((e) => (e.type === 'pending_approval' ? [e.write] : []));
  return { answer: String(result.finalOutput ?? ''), events, pending };
}

function parseArguments(raw: string | undefined): unknown {
  if (raw === undefined) return {};
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** A y/N question on the terminal: only "y" or "yes" confirms. */
async function askOnTerminal(call: ToolCallToConfirm): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(
      `\nThe agent wants to ${call.name}:\n${JSON.stringify(call.arguments, null, 2)}\nRequest it (a person must still approve it in the gateway)? [y/N] `,
    );
    return /^(y|yes)$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

if (require.main === module) {
  commandLine(
    'node --import tsx examples/openai-agents/agent.ts [--wait] "Add a note to Acme Corp: called about the renewal"',
    (setup) => runAgents({ ...setup, confirm: askOnTerminal }),
  );
}
