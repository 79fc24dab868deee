/**
 * The typed client for agent backends: one call per route of the gateway's `/v1` contract
 * (docs/ARCHITECTURE.md, "The HTTP contract"), signed with SigV4 for the deployed API or with the bearer key for local mode.
 * Every refusal becomes an {@link AirlockApiError} carrying the gateway's error code.
 */
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { type OpenAiTool, toolsHash } from '../core/catalog';
import type { ErrorCode } from '../core/errors';
import type { ApprovalStatus } from '../core/ports';
import { ID_PATTERN, pathOf, ROUTES, type Route, V1_PREFIX } from '../core/routes';
import { regionOfApiUrl, sigv4Signer } from './sigv4';

/** Who the action is for and what the model was asked: the audit record's two first fields. */
export interface ActionContext {
  /** The human on whose behalf the agent acts (their Slack user id, if approvals use Slack). */
  userId: string;
  /** The prompt the model was given, recorded with the action. */
  agentPrompt: string;
}

/** An action of the catalog: its name and its parameters, as a tool call's arguments give them. */
export type ActionInput = { action: string } & Record<string, unknown>;

/** A read answered at once. */
export interface ReadResult {
  request_id: string;
  status: 'completed';
  action: string;
  data: unknown;
}

/** A write held for a person's approval. */
export interface PendingWrite {
  request_id: string;
  status: 'pending_approval';
  action: string;
  approval: { id: string; expires_at: string };
  status_url: string;
}

export type ActionResult = ReadResult | PendingWrite;

/** Where a write stands: the approval's status, as the gateway keeps it. */
export type WriteStatusValue = ApprovalStatus;

/** `GET /v1/actions/{request_id}`: where a write stands. */
export interface WriteStatus {
  request_id: string;
  status: WriteStatusValue;
  action: string;
  approval: {
    id: string;
    expires_at: string;
    decided_at: string | null;
    decided_by: string | null;
  };
  /** The HubSpot note a completed write created. */
  data?: { note_id: string };
  error?: { code: string; message: string };
}

/** `GET /v1/tools`. */
export interface ToolList {
  request_id: string;
  /** SHA-256 of the tool definitions: pin it to notice when they change. */
  catalog_hash: string;
  tools: OpenAiTool[];
}

/** What the client adds to the gateway's own codes. */
export type ClientErrorCode =
  /** No answer (connection refused, DNS, timeout). */
  | 'network_error'
  /** An answer that is not the contract's (a proxy's error page, say). */
  | 'unexpected_response'
  /** The gateway's tool definitions are not the pinned ones. */
  | 'catalog_mismatch';

/** A refusal by the gateway (its code: docs/ARCHITECTURE.md, "The HTTP contract"), or a client-side failure. */
export class AirlockApiError extends Error {
  constructor(
    readonly code: ErrorCode | ClientErrorCode,
    message: string,
    readonly status: number | null = null,
    readonly requestId: string | null = null,
    readonly details?: unknown,
    /** Seconds to wait before retrying (`Retry-After`), when the gateway says. */
    readonly retryAfterSeconds?: number,
    /** The method of the failed call: a lost answer to a POST may hide a write already queued. */
    readonly method?: 'GET' | 'POST',
  ) {
    super(message);
    this.name = 'AirlockApiError';
  }

  /**
   * Worth retrying later, unchanged: rate limits, timeouts and unavailable dependencies. Not a
   * POST whose answer was lost (`network_error`): the gateway may have queued the write, and
   * a retry would queue a second one; check with the person (or the audit log) first.
   */
  get retryable(): boolean {
    if (this.code === 'network_error') return this.method !== 'POST';
    return this.code === 'rate_limited' || this.status === 503 || this.status === 504;
  }
}

export type ClientAuth =
  | { kind: 'bearer'; apiKey: string }
  | {
      kind: 'sigv4';
      /** @default the region in the API URL */
      region?: string;
      /** @default the AWS SDK's default credential chain */
      credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
    };

export interface AirlockClientOptions {
  /** The `/v1` base URL: `http://127.0.0.1:8787/v1` locally, the stack's `ApiUrl` on AWS. */
  baseUrl: string;
  auth: ClientAuth;
  /** Per request. @default 30000 */
  timeoutMs?: number;
  /**
   * The catalog hash this backend was reviewed with: `listTools` refuses other definitions
   * (`catalog_mismatch`), so a changed catalog is noticed, not silently given to the model.
   */
  expectedCatalogHash?: string;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

const TERMINAL: ReadonlySet<WriteStatusValue> = new Set([
  'denied',
  'expired',
  'completed',
  'failed',
]);

export class AirlockClient {
  private readonly base: string;
  private readonly sign?: ReturnType<typeof sigv4Signer>;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: AirlockClientOptions) {
    this.base = options.baseUrl.replace(/\/+$/, '');
    this.fetch = options.fetch ?? globalThis.fetch;
    if (options.auth.kind === 'sigv4') {
      const region = options.auth.region ?? regionOfApiUrl(new URL(this.base));
      if (!region) {
        throw new Error('The region is not in the API URL; pass auth.region (the stack’s region).');
      }
      this.sign = sigv4Signer({
        region,
        credentials: options.auth.credentials ?? defaultProvider(),
      });
    }
  }

  /** Local mode: `http://127.0.0.1:8787` (or `url`) with the agent key. */
  static local(options: { apiKey: string; url?: string } & Partial<AirlockClientOptions>) {
    const { apiKey, url, ...rest } = options;
    return new AirlockClient({
      ...rest,
      baseUrl: `${(url ?? 'http://127.0.0.1:8787').replace(/\/+$/, '')}${V1_PREFIX}`,
      auth: { kind: 'bearer', apiKey },
    });
  }

  /** The deployed API: its `ApiUrl` output, signed with the default AWS credential chain. */
  static aws(options: { apiUrl: string; region?: string } & Partial<AirlockClientOptions>) {
    const { apiUrl, region, ...rest } = options;
    return new AirlockClient({
      ...rest,
      baseUrl: apiUrl,
      auth: { kind: 'sigv4', ...(region ? { region } : {}) },
    });
  }

  /** `POST /v1/actions`: a read answers with its data; a write waits for approval. */
  async callAction(action: ActionInput, context: ActionContext): Promise<ActionResult> {
    return (await this.request(ROUTES.submitAction, ROUTES.submitAction.path, {
      user_id: context.userId,
      agent_prompt: context.agentPrompt,
      action,
    })) as unknown as ActionResult;
  }

  /** `GET /v1/actions/{request_id}`. */
  async getStatus(requestId: string, signal?: AbortSignal): Promise<WriteStatus> {
    // A request id is what the gateway gave: never a path of the model's making (`..`).
    if (!ID_PATTERN.test(requestId)) {
      throw new AirlockApiError(
        'validation_failed',
        'A request_id is letters, digits, "_" and "-" (as the gateway returned it).',
      );
    }
    return (await this.request(
      ROUTES.actionStatus,
      pathOf(ROUTES.actionStatus, { request_id: requestId }),
      undefined,
      signal,
    )) as unknown as WriteStatus;
  }

  /**
   * Polls a write's status until a person decided and it ended (completed, denied, expired or
   * failed), or `timeoutMs` passed: then the last status is returned, still pending.
   */
  async waitForDecision(
    requestId: string,
    options: { timeoutMs: number; pollMs?: number; signal?: AbortSignal },
  ): Promise<WriteStatus> {
    const deadline = Date.now() + options.timeoutMs;
    let wait = options.pollMs ?? 1000;
    for (;;) {
      const status = await this.getStatus(requestId, options.signal);
      if (TERMINAL.has(status.status) || Date.now() >= deadline) return status;
      await sleep(Math.min(wait, Math.max(0, deadline - Date.now())), options.signal);
      // Decisions take a person minutes: back off to one poll every 10 s.
      wait = Math.min(wait * 2, 10_000);
    }
  }

  /** `GET /v1/tools`: the catalog as OpenAI tools, checked against the pinned hash. */
  async listTools(): Promise<ToolList> {
    const list = (await this.request(
      ROUTES.listTools,
      ROUTES.listTools.path,
    )) as unknown as ToolList;
    // The hash is checked against the tools themselves, so definitions rewritten on the way
    // (a proxy, plain HTTP) cannot hide behind the hash they came with.
    if (!Array.isArray(list.tools) || toolsHash(list.tools) !== list.catalog_hash) {
      throw new AirlockApiError(
        'catalog_mismatch',
        'The tool definitions received do not match their own catalog_hash: they were changed on the way.',
        200,
        list.request_id ?? null,
      );
    }
    const expected = this.options.expectedCatalogHash;
    if (expected && list.catalog_hash !== expected) {
      throw new AirlockApiError(
        'catalog_mismatch',
        `The gateway's tool definitions (catalog ${list.catalog_hash}) are not the ones this backend pins (${expected}); review the change, then update the pin.`,
        200,
        list.request_id,
      );
    }
    return list;
  }

  /**
   * One call of a route of the table (`core/routes.ts`); `path` is the route's path with its
   * parameters filled in. The base URL already ends with the `/v1` prefix.
   */
  private async request(
    route: Route,
    path: string,
    payload?: unknown,
    signal?: AbortSignal,
  ): Promise<Record<string, unknown>> {
    const method = route.method;
    if (!path.startsWith(`${V1_PREFIX}/`))
      throw new Error(`${route.name} is not a ${V1_PREFIX} route`);
    const url = new URL(`${this.base}${path.slice(V1_PREFIX.length)}`);
    const body = payload === undefined ? undefined : JSON.stringify(payload);
    let headers: Record<string, string> = {
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    };
    const auth = this.options.auth;
    if (auth.kind === 'bearer') headers.authorization = `Bearer ${auth.apiKey}`;
    else if (this.sign) headers = await this.sign(url, method, headers, body);

    let res: Response;
    try {
      res = await this.fetch(url, {
        method,
        headers,
        body,
        signal: AbortSignal.any([
          AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
          ...(signal ? [signal] : []),
        ]),
      });
    } catch (cause) {
      throw new AirlockApiError(
        'network_error',
        `The gateway at ${url.origin} did not answer (${reasonOf(cause)}).`,
        null,
        null,
        undefined,
        undefined,
        method,
      );
    }
    const text = await res.text();
    let parsed: Record<string, unknown>;
    try {
      const json: unknown = JSON.parse(text);
      if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error();
      parsed = json as Record<string, unknown>;
    } catch {
      throw new AirlockApiError(
        'unexpected_response',
        `The gateway answered ${res.status} with a body that is not a JSON object.`,
        res.status,
        res.headers.get('x-request-id'),
      );
    }
    if (res.ok) return parsed;
    const error = parsed.error as
      | { code?: string; message?: string; details?: unknown }
      | undefined;
    const retryAfter = Number(res.headers.get('retry-after'));
    throw new AirlockApiError(
      (error?.code as ErrorCode | undefined) ?? 'unexpected_response',
      error?.message ?? `The gateway answered ${res.status}.`,
      res.status,
      typeof parsed.request_id === 'string' ? parsed.request_id : res.headers.get('x-request-id'),
      error?.details,
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
    );
  }
}

/** Why a fetch failed, in a word: ECONNREFUSED, ENOTFOUND, TimeoutError... */
function reasonOf(cause: unknown): string {
  const inner = (cause as { cause?: { code?: unknown } } | null)?.cause?.code;
  if (typeof inner === 'string') return inner;
  return cause instanceof Error ? cause.name : 'error';
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
