/**
 * A local stand-in for OpenAI's Chat Completions API: a real node:http server on 127.0.0.1 that
 * answers `POST /v1/chat/completions` (non-streaming) from a script, records every request it
 * receives and refuses a wrong API key, so the agent examples run with no network.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type {
  ChatCompletion,
  ChatCompletionCreateParamsNonStreaming,
} from 'openai/resources/chat/completions';

/** One scripted answer of the model: tool calls, or the final text. */
export type ScriptedTurn =
  | { toolCalls: { name: string; arguments: Record<string, unknown> | string }[] }
  | { text: string };

/** A turn, or a function that builds it from the request (to echo what the tools returned). */
export type ScriptStep = ScriptedTurn | ((request: ChatRequest) => ScriptedTurn);

/** The request body the fake received, as the client sent it. */
export type ChatRequest = ChatCompletionCreateParamsNonStreaming;

export interface RecordedRequest {
  method: string;
  path: string;
  authorized: boolean;
  body: unknown;
}

export interface FakeOpenAi {
  /** The API base URL for the `openai` client's `baseURL`: `http://127.0.0.1:<port>/v1`. */
  baseURL: string;
  /** The only key it accepts; built at run time so no credential-shaped literal is committed. */
  apiKey: string;
  /** Every request, in order, whether it was answered or refused. */
  requests: RecordedRequest[];
  /** The chat completion requests it answered. */
  chatRequests(): ChatRequest[];
  /** The tool messages sent back to the model, parsed from JSON where they are JSON. */
  toolMessages(): { tool_call_id: string; content: unknown }[];
  /** Replaces the script: the answers to the next chat completion requests, in order. */
  script(steps: ScriptStep[]): void;
  /** Script steps not consumed yet. */
  remaining(): number;
  close(): Promise<void>;
}

export async function startFakeOpenAi(): Promise<FakeOpenAi> {
  const apiKey = ['sk', 'fake', randomBytes(12).toString('hex')].join('-');
  const requests: RecordedRequest[] = [];
  let steps: ScriptStep[] = [];
  let calls = 0;

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      send(res, 500, apiError(err instanceof Error ? err.message : String(err), 'server_error'));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    let body: unknown = raw;
    try {
      body = raw === '' ? null : JSON.parse(raw);
    } catch {
      // Recorded as text: a test can see what was sent.
    }
    const authorized = req.headers.authorization === `Bearer ${apiKey}`;
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    requests.push({ method: req.method ?? '', path, authorized, body });
    if (!authorized) {
      send(
        res,
        401,
        apiError('Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key'),
      );
      return;
    }
    if (req.method !== 'POST' || path !== '/v1/chat/completions') {
      send(
        res,
        404,
        apiError(
          `The fake serves POST /v1/chat/completions only, not ${req.method} ${path}.`,
          'invalid_request_error',
        ),
      );
      return;
    }
    const request = body as ChatRequest;
    if ((request as { stream?: unknown }).stream) {
      send(res, 400, apiError('The fake does not stream.', 'invalid_request_error'));
      return;
    }
    const step = steps.shift();
    if (!step) {
      send(res, 500, apiError('The fake OpenAI ran out of scripted answers.', 'server_error'));
      return;
    }
    calls += 1;
    const turn = typeof step === 'function' ? step(request) : step;
    send(res, 200, completion(turn, request.model, calls));
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const chatRequests = () =>
    requests
      .filter((r) => r.authorized && r.path === '/v1/chat/completions')
      .map((r) => r.body as ChatRequest);

  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    apiKey,
    requests,
    chatRequests,
    toolMessages() {
      const seen = new Map<string, unknown>();
      for (const request of chatRequests()) {
        for (const message of request.messages) {
          if (message.role !== 'tool') continue;
          const text =
            typeof message.content === 'string'
              ? message.content
              : message.content.map((part) => part.text).join('');
          seen.set(message.tool_call_id, parseMaybe(text));
        }
      }
      return [...seen].map(([tool_call_id, content]) => ({ tool_call_id, content }));
    },
    script(next) {
      steps = [...next];
    },
    remaining: () => steps.length,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

function completion(turn: ScriptedTurn, model: string, n: number): ChatCompletion {
  const base = {
    id: `chatcmpl-fake-${n}`,
    object: 'chat.completion' as const,
    created: 1_750_000_000 + n,
    model,
    usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
  };
  if ('text' in turn) {
    return {
      ...base,
      choices: [
        {
          index: 0,
          finish_reason: 'stop',
          logprobs: null,
          message: { role: 'assistant', content: turn.text, refusal: null },
        },
      ],
    };
  }
  return {
    ...base,
    choices: [
      {
        index: 0,
        finish_reason: 'tool_calls',
        logprobs: null,
        message: {
          role: 'assistant',
          content: null,
          refusal: null,
          tool_calls: turn.toolCalls.map((call, i) => ({
            id: `call_${n}_${i}`,
            type: 'function' as const,
            function: {
              name: call.name,
              arguments:
                typeof call.arguments === 'string'
                  ? call.arguments
                  : JSON.stringify(call.arguments),
            },
          })),
        },
      },
    ],
  };
}

function apiError(message: string, type: string, code: string | null = null) {
  return { error: { message, type, param: null, code } };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'x-request-id': `req_fake_${status}`,
  });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseMaybe(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Records the URL of every `fetch` made while it is installed (the `openai` client, the gateway
 * client and the Agents SDK's trace exporter all use the global fetch), still making the call.
 * Install it before creating the clients: they capture `fetch` when they are built.
 */
export function watchFetch(): { urls: string[]; restore(): void } {
  const urls: string[] = [];
  const realFetch = globalThis.fetch;
  const spy = jest.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
    urls.push(input instanceof Request ? input.url : String(input));
    return realFetch(input, init);
  });
  return { urls, restore: () => spy.mockRestore() };
}
