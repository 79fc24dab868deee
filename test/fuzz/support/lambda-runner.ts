import { createHmac } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import fc from 'fast-check';
import { randomIds } from '../../../lambdas/adapters/ids';
import { jsonLogger } from '../../../lambdas/adapters/json-logger';
import { MemoryRateLimiter } from '../../../lambdas/adapters/local/memory-rate-limiter';
import {
  createSlackInteractionsHandler,
  type FlowStore,
} from '../../../lambdas/aws/approval-flow-handlers';
import { createValidationHandler } from '../../../lambdas/aws/validation-handler';
import type { AuditRecord } from '../../../lambdas/core/audit';
import { actionHash } from '../../../lambdas/core/hash';
import type {
  Approval,
  ApprovalStatus,
  CrmRecord,
  HubSpotPort,
  SearchableObject,
} from '../../../lambdas/core/ports';
import { actionBody, type Body } from './bodies';
import { clip, printable, reasonClass, type Violation } from './harness';
import { percentEncode } from './http-requests';
import { findSecret, secretShapes } from './secrets';
import { unicodeString } from './unicode';

/** Approvals in memory, with the flow's task tokens; `transition` is a compare-and-set. */
export class MemoryFlowStore implements FlowStore {
  readonly byId = new Map<string, Approval>();
  private readonly tokens = new Map<string, string>();

  async create(a: Approval): Promise<void> {
    if (this.byId.has(a.approval_id)) throw new Error('approval id already exists');
    this.byId.set(a.approval_id, structuredClone(a));
  }
  async get(id: string): Promise<Approval | undefined> {
    const a = this.byId.get(id);
    return a && structuredClone(a);
  }
  async getByRequest(requestId: string): Promise<Approval | undefined> {
    for (const a of this.byId.values()) if (a.request_id === requestId) return structuredClone(a);
    return undefined;
  }
  async listByStatus(status: ApprovalStatus): Promise<Approval[]> {
    return [...this.byId.values()]
      .filter((a) => a.status === status)
      .map((a) => structuredClone(a));
  }
  async transition(
    id: string,
    from: ApprovalStatus,
    patch: Partial<Approval> & { status: ApprovalStatus },
    expectedVersion?: number,
  ): Promise<Approval | null> {
    const a = this.byId.get(id);
    if (!a || a.status !== from) return null;
    if (expectedVersion !== undefined && (a.version ?? 0) !== expectedVersion) return null;
    const next = { ...a, ...patch, version: (a.version ?? 0) + 1 };
    this.byId.set(id, next);
    return structuredClone(next);
  }
  async setTaskToken(id: string, token: string): Promise<boolean> {
    if (!this.byId.has(id)) return false;
    this.tokens.set(id, token);
    return true;
  }
  async getTaskToken(id: string): Promise<string | undefined> {
    return this.tokens.get(id);
  }
}

/** HubSpot as the validation function sees it: answers every search, counts every call. */
class CountingHubSpot implements HubSpotPort {
  calls = 0;
  async search(object: SearchableObject): Promise<CrmRecord[]> {
    this.calls += 1;
    if (object === 'contacts') {
      return [
        {
          id: '5200000001',
          properties: {
            firstname: 'Jane',
            lastname: 'Cooper',
            email: 'jane.cooper@acme.com',
            company: 'Acme Corp',
            notes_last_contacted: '2026-06-11T16:45:00.000Z',
          },
        },
      ];
    }
    if (object === 'companies') {
      return [{ id: '5100000001', properties: { name: 'Acme Corp', domain: 'acme.com' } }];
    }
    return [
      {
        id: '7000000001',
        properties: {
          hs_timestamp: '2026-06-11T16:45:00.000Z',
          hs_email_subject: 'Re: Q3 renewal pricing',
          hs_email_direction: 'INCOMING_EMAIL',
        },
      },
    ];
  }
  async createNote(): Promise<string> {
    this.calls += 1;
    return '9000000001';
  }
}

const AGENT_ARN = 'arn:aws:sts::123456789012:assumed-role/agent-backend/session';

/** An API Gateway event for the validation function, as generated. */
export interface EventSpec {
  method: string;
  resource: string;
  /** `{write}` is bound when sent. */
  requestIdParam: string | null;
  headerName: string | null;
  contentType: string | null;
  body: Body | null;
  base64: 'no' | 'yes' | 'garbage';
  identity: 'arn' | 'caller' | 'none' | 'empty';
  invalid: string | null;
  noHubSpot: string | null;
  pick: number;
}

export function describeEvent(e: EventSpec): string {
  return `${e.method} ${e.resource}${e.requestIdParam ? ` {request_id=${clip(e.requestIdParam, 60)}}` : ''} identity=${e.identity} ${e.headerName ?? '(no headers)'}=${e.contentType ?? '(none)'}${e.base64 !== 'no' ? ` base64=${e.base64}` : ''}${e.body ? ` body(${Buffer.byteLength(e.body.text)} B)=${clip(e.body.text, 200)} [${e.body.note}]` : ''}${e.invalid ? ` (invalid: ${e.invalid})` : ''}`;
}

const JSON_CT = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
);
const isJsonType = (t: string | null) =>
  t !== null && (t.split(';')[0] ?? '').trim().toLowerCase() === 'application/json';

/** Events for the validation function: its three routes, and others it must refuse. */
export function eventArb(knownSecrets: readonly string[]): fc.Arbitrary<EventSpec> {
  const secrets = secretShapes(knownSecrets);
  const identity = fc.oneof(
    { weight: 20, arbitrary: fc.constant<EventSpec['identity']>('arn') },
    { weight: 1, arbitrary: fc.constantFrom<EventSpec['identity']>('caller', 'none', 'empty') },
  );
  const headerName = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom<string | null>('Content-Type', 'content-type') },
    { weight: 1, arbitrary: fc.constantFrom<string | null>('CONTENT-TYPE', 'Content-type', null) },
  );
  const contentType = fc.oneof(
    { weight: 20, arbitrary: JSON_CT.map((s): string | null => s) },
    {
      weight: 1,
      arbitrary: fc.constantFrom<string | null>(
        'text/plain',
        'application/x-www-form-urlencoded',
        null,
        '',
      ),
    },
  );
  const idInvalid = (i: EventSpec['identity']) =>
    i === 'arn' || i === 'caller' ? null : `no caller identity (${i})`;
  const post = fc
    .record({
      identity,
      headerName,
      contentType,
      body: fc.oneof(
        { weight: 30, arbitrary: actionBody(knownSecrets).map((b): Body | null => b) },
        { weight: 1, arbitrary: fc.constant(null) },
      ),
      base64: fc.oneof(
        { weight: 12, arbitrary: fc.constant<EventSpec['base64']>('no') },
        { weight: 2, arbitrary: fc.constant<EventSpec['base64']>('yes') },
        { weight: 1, arbitrary: fc.constant<EventSpec['base64']>('garbage') },
      ),
      pick: fc.nat(),
    })
    .map(
      (r): EventSpec => ({
        ...r,
        method: 'POST',
        resource: '/v1/actions',
        requestIdParam: null,
        invalid:
          idInvalid(r.identity) ??
          (r.headerName !== null && isJsonType(r.contentType)
            ? null
            : `content type ${r.headerName === null ? 'missing' : r.contentType}`) ??
          (r.body === null ? 'no body' : r.base64 === 'garbage' ? null : r.body.invalid),
        noHubSpot: r.base64 === 'garbage' ? 'not a body' : null,
      }),
    );
  const status = fc
    .record({
      identity,
      id: fc.oneof(
        { weight: 3, arbitrary: fc.constant('{write}') },
        { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/) },
        { weight: 1, arbitrary: unicodeString(12) },
        { weight: 1, arbitrary: secrets.map(percentEncode) },
      ),
      pick: fc.nat(),
    })
    .map(
      (r): EventSpec => ({
        method: 'GET',
        resource: '/v1/actions/{request_id}',
        requestIdParam: r.id,
        identity: r.identity,
        headerName: null,
        contentType: null,
        body: null,
        base64: 'no',
        invalid: idInvalid(r.identity),
        noHubSpot: 'a status lookup never calls HubSpot',
        pick: r.pick,
      }),
    );
  const tools = fc.record({ identity, pick: fc.nat() }).map(
    (r): EventSpec => ({
      method: 'GET',
      resource: '/v1/tools',
      requestIdParam: null,
      identity: r.identity,
      headerName: null,
      contentType: null,
      body: null,
      base64: 'no',
      invalid: idInvalid(r.identity),
      noHubSpot: 'GET /v1/tools never calls HubSpot',
      pick: r.pick,
    }),
  );
  const other = fc
    .record({
      identity,
      method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'),
      resource: fc.oneof(
        fc.constantFrom(
          '/v1/actions',
          '/v1/tools',
          '/v1/actions/{request_id}',
          '/{proxy+}',
          '/',
          '/approvals/pending',
          '',
        ),
        fc.stringMatching(/^\/[a-z0-9/{}+_-]{0,30}$/),
      ),
      body: fc.option(actionBody(knownSecrets), { freq: 3 }),
      pick: fc.nat(),
    })
    .filter(
      (r) =>
        !['POST /v1/actions', 'GET /v1/tools', 'GET /v1/actions/{request_id}'].includes(
          `${r.method} ${r.resource}`,
        ),
    )
    .map(
      (r): EventSpec => ({
        method: r.method,
        resource: r.resource,
        requestIdParam: null,
        identity: r.identity,
        headerName: 'Content-Type',
        contentType: 'application/json',
        body: r.body,
        base64: 'no',
        invalid: `${r.method} ${r.resource} is no route of the function`,
        noHubSpot: null,
        pick: r.pick,
      }),
    );
  return fc
    .oneof(
      { weight: 14, arbitrary: post },
      { weight: 2, arbitrary: status },
      { weight: 1, arbitrary: tools },
      { weight: 1, arbitrary: other },
    )
    .map((e) => printable(e, describeEvent));
}

/**
 * The validation function in process, with in-memory ports: an audit sink that keeps every
 * record, an approval store, a HubSpot that counts its calls. Events go one at a time, so every
 * record and call belongs to the event in flight.
 */
export class ValidationFuzz {
  readonly records: AuditRecord[] = [];
  readonly approvals = new MemoryFlowStore();
  private readonly hubspot = new CountingHubSpot();
  private readonly writes: string[] = [];
  private readonly handler: (e: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;
  /** The validation function holds no secret: it knows credentials by their shape only. */
  readonly secrets: string[] = [];
  /** Answers by status and error code, for a look at what the run covered. */
  readonly statuses = new Map<string, number>();
  sent = 0;

  constructor() {
    this.handler = createValidationHandler({
      hubspot: this.hubspot,
      audit: { append: async (r) => void this.records.push(structuredClone(r)) },
      approvals: this.approvals,
      workflow: { start: async () => undefined },
      control: { read: async () => ({ contained: false, readOnly: false }) },
      clock: { now: () => Date.now() },
      ids: randomIds,
      log: jsonLogger(() => undefined),
      limiter: new MemoryRateLimiter(),
      config: {
        promptMode: 'block',
        allowedActions: [
          'search_contact',
          'search_company',
          'get_last_email_interaction',
          'create_note',
        ],
        requestDeadlineMs: 1500,
        approvalTtlMs: 3600_000,
        // A pending write per user and in all is capped; generous here, so writes keep coming.
        maxPending: 1e9,
        maxPendingPerUser: 1e9,
        limits: {
          readsPerMinute: 1e9,
          readsPerHour: 1e9,
          distinctRecordsPerHour: 1e9,
          hubspotSearchPerSecond: 1e9,
          hubspotCallsPerTenSeconds: 1e9,
        },
      },
    });
  }

  private event(e: EventSpec): { event: APIGatewayProxyEvent; summary: string } {
    let id = e.requestIdParam;
    if (id === '{write}') id = this.writes[e.pick % Math.max(1, this.writes.length)] ?? 'req_none';
    const text = e.body?.text ?? null;
    const body =
      text === null
        ? null
        : e.base64 === 'yes'
          ? Buffer.from(text, 'utf8').toString('base64')
          : e.base64 === 'garbage'
            ? `${text.slice(0, 200)}!*~`
            : text;
    const event = {
      httpMethod: e.method,
      resource: e.resource,
      path: e.resource.replace('{request_id}', id ?? ''),
      pathParameters: id === null ? null : { request_id: id },
      headers: e.headerName === null ? null : { [e.headerName]: e.contentType ?? '' },
      multiValueHeaders: {},
      queryStringParameters: null,
      body,
      isBase64Encoded: e.base64 !== 'no',
      requestContext: {
        requestId: 'api-gw-request-id',
        domainName: 'abc123.execute-api.eu-west-1.amazonaws.com',
        stage: 'dev',
        identity:
          e.identity === 'arn'
            ? { userArn: AGENT_ARN, caller: 'AROAEXAMPLE:session' }
            : e.identity === 'caller'
              ? { userArn: null, caller: 'AROAEXAMPLE:session' }
              : e.identity === 'empty'
                ? { userArn: '', caller: '' }
                : {},
      },
    } as unknown as APIGatewayProxyEvent;
    return { event, summary: describeEvent({ ...e, requestIdParam: id }) };
  }

  async batch(specs: EventSpec[]): Promise<Violation[]> {
    const v: Violation[] = [];
    for (const spec of specs) {
      const { event, summary: request } = this.event(spec);
      const recordsBefore = this.records.length;
      const callsBefore = this.hubspot.calls;
      const approvalsBefore = this.approvals.byId.size;
      const kind = `${spec.method} ${spec.resource}`;
      let res: APIGatewayProxyResult;
      try {
        res = await this.handler(event);
      } catch (err) {
        this.sent += 1;
        v.push({
          property: 'answered',
          cause: `${kind}: the handler threw ${(err as Error).name}`,
          request,
          detail: (err as Error).message,
        });
        continue;
      }
      this.sent += 1;
      const mine = this.records.slice(recordsBefore);
      const calls = this.hubspot.calls - callsBefore;
      const headers = Object.fromEntries(
        Object.entries(res.headers ?? {}).map(([k, x]) => [k.toLowerCase(), String(x)]),
      );
      let body: Record<string, unknown> | null = null;
      try {
        const parsed = JSON.parse(res.body) as unknown;
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
          body = parsed as Record<string, unknown>;
      } catch {
        body = null;
      }
      const code = (body?.error as { code?: string } | undefined)?.code ?? '';
      const status = res.statusCode;
      const seen = `${status} ${code}`.trim();
      this.statuses.set(seen, (this.statuses.get(seen) ?? 0) + 1);
      if (status >= 500)
        v.push({
          property: 'no-5xx',
          cause: `${kind}: ${status} ${code}`,
          request,
          detail: clip(res.body),
        });
      const id = headers['x-request-id'];
      if (typeof id !== 'string') {
        v.push({
          property: 'request-id',
          cause: `${kind}: ${status} without X-Request-Id`,
          request,
        });
      } else if (
        body?.request_id !==
        (spec.resource === '/v1/actions/{request_id}' && spec.method === 'GET' && status === 200
          ? event.pathParameters?.request_id
          : id)
      ) {
        v.push({
          property: 'request-id',
          cause: `${kind}: ${status} body.request_id ${body && typeof body.request_id === 'string' ? 'differs from' : 'missing, unlike'} X-Request-Id`,
          request,
          detail: clip(res.body),
        });
      }
      const finals = mine.filter((r) => r.response_status !== null);
      if (finals.length !== 1 || finals[0]?.request_id !== id) {
        v.push({
          property: 'one-record',
          cause: `${kind}: ${status} ${code} left ${finals.length} final audit records`,
          request,
        });
      } else if (finals[0]?.response_status !== status) {
        v.push({
          property: 'one-record',
          cause: `${kind}: answered ${status}, recorded ${finals[0]?.response_status}`,
          request,
        });
      }
      if (mine.some((r) => r.request_id !== id)) {
        v.push({
          property: 'one-record',
          cause: `${kind}: a record under another request id`,
          request,
        });
      }
      const leakAnswer = findSecret(`${res.body}\n${JSON.stringify(headers)}`, this.secrets);
      if (leakAnswer)
        v.push({
          property: 'no-secret-answer',
          cause: `${kind}: ${status} ${code} holds ${leakAnswer}`,
          request,
          detail: clip(res.body, 300),
        });
      for (const r of mine) {
        const leak = findSecret(JSON.stringify(r), this.secrets);
        if (leak)
          v.push({
            property: 'no-secret-stored',
            cause: `audit record (${r.reason ?? r.outcome}) holds ${leak}`,
            request,
            detail: clip(JSON.stringify(r), 300),
          });
      }
      if (this.approvals.byId.size > approvalsBefore) {
        for (const a of [...this.approvals.byId.values()].slice(approvalsBefore)) {
          const leak = findSecret(JSON.stringify(a), this.secrets);
          if (leak)
            v.push({
              property: 'no-secret-stored',
              cause: `a stored approval holds ${leak}`,
              request,
            });
          if (status === 202) this.writes.push(a.request_id);
        }
      }
      if (spec.invalid !== null && (status < 400 || status >= 500)) {
        v.push({
          property: 'invalid-refused',
          cause: `${kind}: ${status} ${code} for an invalid request (${reasonClass(spec.invalid)})`,
          request,
        });
      }
      if ((spec.invalid !== null || spec.noHubSpot !== null) && calls > 0) {
        v.push({
          property: 'no-hubspot-invalid',
          cause: `${kind}: ${status} called HubSpot ${calls} time(s) for an invalid request (${reasonClass(spec.invalid ?? spec.noHubSpot ?? '')})`,
          request,
        });
      }
      if (spec.body?.promptSecret && spec.base64 !== 'garbage') {
        const stored = mine.find((r) => typeof r.agent_prompt === 'string');
        if (stored && !String(stored.agent_prompt).includes('[REDACTED]')) {
          v.push({
            property: 'redacted',
            cause: `${kind}: ${status} ${code} stored the prompt's credential without [REDACTED]`,
            request,
            detail: clip(String(stored.agent_prompt)),
          });
        }
      }
    }
    return v;
  }
}

const SIGNING_SECRET = 'slack-signing-secret-fuzz-0123456789';
const TEAM = 'T0TEAM';
const APPROVERS = ['U0ANNA', 'U0BEN', 'U0REQUESTER'];

/** A request to the Slack interactions endpoint, as generated. */
export interface SlackSpec {
  /** The form body; `{approval}` is bound when sent. */
  body: string;
  signature:
    | 'valid'
    | 'none'
    | 'garbage'
    | 'other-secret'
    | 'stale'
    | 'future'
    | 'v1'
    | 'bad-timestamp'
    | 'tampered';
  base64: boolean;
  headerCase: 'lower' | 'canonical' | 'upper';
  /** The state machine refuses the decision (a throttled or timed-out task token). */
  sendFails: boolean;
  pick: number;
  note: string;
}

function describeSlack(s: SlackSpec): string {
  return `POST /slack/interactions signature=${s.signature}${s.base64 ? ' base64' : ''} headers=${s.headerCase}${s.sendFails ? ' (send fails)' : ''} body(${Buffer.byteLength(s.body)} B)=${clip(s.body, 240)} [${s.note}]`;
}

export function slackArb(): fc.Arbitrary<SlackSpec> {
  const secrets = secretShapes([SIGNING_SECRET]);
  const click = fc
    .record({
      team: fc.constantFrom(TEAM, TEAM, TEAM, 'T0OTHER', ''),
      user: fc.constantFrom(...APPROVERS, 'U0MALLORY', '', 'u0anna'),
      decision: fc.constantFrom(
        'airlock_approve',
        'airlock_deny',
        'airlock_approve',
        'airlock_x',
        '',
      ),
      value: fc.oneof(
        { weight: 6, arbitrary: fc.constant('{approval}') },
        { weight: 1, arbitrary: fc.constantFrom('apr_missing1', 'apr_', 'x', '') },
        { weight: 1, arbitrary: unicodeString(10) },
      ),
      responseUrl: fc.constantFrom(
        'https://hooks.slack.com/actions/T0TEAM/1/abc',
        'http://evil.example/x',
        '',
      ),
      extra: fc.oneof(
        { weight: 5, arbitrary: fc.constant<Record<string, unknown>>({}) },
        { weight: 1, arbitrary: secrets.map((s) => ({ note: s })) },
      ),
      twice: fc.oneof(
        { weight: 12, arbitrary: fc.constant(false) },
        { weight: 1, arbitrary: fc.constant(true) },
      ),
    })
    .map((c) => {
      const payload = JSON.stringify({
        type: 'block_actions',
        team: { id: c.team },
        user: { id: c.user, username: c.user.toLowerCase() },
        actions: [{ action_id: c.decision, value: c.value }],
        response_url: c.responseUrl,
        ...c.extra,
      });
      const field = `payload=${encodeURIComponent(payload)}`;
      return {
        body: c.twice ? `${field}&${field}` : field,
        note: `click ${c.decision} by ${c.user || '(none)'} of ${c.team || '(none)'}${c.twice ? ', two payloads' : ''}`,
      };
    });
  const garbage = fc.oneof(
    unicodeString(60).map((s) => ({ body: s, note: 'unicode garbage' })),
    fc.string({ unit: 'binary', maxLength: 120 }).map((s) => ({ body: s, note: 'binary garbage' })),
    unicodeString(30).map((s) => ({
      body: `payload=${encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '?'))}`,
      note: 'payload not JSON',
    })),
    fc.constantFrom(2, 16, 64, 1000, 20_000).map((d) => ({
      body: `payload=${encodeURIComponent(`${'['.repeat(d)}${']'.repeat(d)}`)}`,
      note: `payload nested ${d} deep`,
    })),
    fc
      .constantFrom(
        '',
        'payload=',
        'payload=%7B',
        'payload=null',
        `payload=${'x'.repeat(1024 * 1024 + 1)}`,
      )
      .map((b) => ({ body: b, note: 'odd form' })),
    secrets.map((s) => ({
      body: `payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions', token: s }))}`,
      note: 'a credential in the payload',
    })),
  );
  return fc
    .record({
      content: fc.oneof({ weight: 3, arbitrary: click }, { weight: 1, arbitrary: garbage }),
      signature: fc.oneof(
        { weight: 6, arbitrary: fc.constant<SlackSpec['signature']>('valid') },
        {
          weight: 4,
          arbitrary: fc.constantFrom<SlackSpec['signature']>(
            'none',
            'garbage',
            'other-secret',
            'stale',
            'future',
            'v1',
            'bad-timestamp',
            'tampered',
          ),
        },
      ),
      base64: fc.oneof(
        { weight: 6, arbitrary: fc.constant(false) },
        { weight: 1, arbitrary: fc.constant(true) },
      ),
      headerCase: fc.constantFrom<SlackSpec['headerCase']>('lower', 'canonical', 'upper'),
      sendFails: fc.oneof(
        { weight: 8, arbitrary: fc.constant(false) },
        { weight: 1, arbitrary: fc.constant(true) },
      ),
      pick: fc.nat(),
    })
    .map((r) =>
      printable<SlackSpec>(
        {
          body: r.content.body,
          note: r.content.note,
          signature: r.signature,
          base64: r.base64,
          headerCase: r.headerCase,
          sendFails: r.sendFails,
          pick: r.pick,
        },
        describeSlack,
      ),
    );
}

/**
 * The Slack interactions function in process: forged, unsigned and garbage requests must be
 * refused without a decision; every request leaves exactly one audit record; the signing
 * secret and the task tokens appear in no answer and no record.
 */
export class SlackFuzz {
  readonly records: AuditRecord[] = [];
  readonly approvals = new MemoryFlowStore();
  private readonly handler: (e: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;
  private failNext = false;
  private decisions = 0;
  private made = 0;
  readonly secrets = [SIGNING_SECRET];
  readonly statuses = new Map<string, number>();
  sent = 0;

  constructor() {
    this.handler = createSlackInteractionsHandler({
      approvals: this.approvals,
      control: async () => ({ contained: false, readOnly: false }),
      audit: { append: async (r) => void this.records.push(structuredClone(r)) },
      signingSecret: async () => SIGNING_SECRET,
      policy: { teamId: TEAM, approverIds: APPROVERS },
      sendDecision: async () => {
        if (this.failNext) throw new Error('ThrottlingException');
        this.decisions += 1;
      },
      respond: async () => undefined,
      clock: { now: () => Date.now() },
      ids: randomIds,
      log: jsonLogger(() => undefined),
    });
  }

  /** Fresh pending approvals for a batch to decide on (a few without a task token). */
  private async seed(n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i += 1) {
      this.made += 1;
      const id = `apr${String(this.made).padStart(6, '0')}fz`.replace(/^apr/, 'apr_');
      const action = {
        action: 'create_note' as const,
        company_id: '5100000001',
        body: `Note ${this.made}`,
      };
      await this.approvals.create({
        approval_id: id,
        request_id: `req_fz${this.made}`,
        action,
        action_hash: actionHash(action),
        user_id: 'U0REQUESTER',
        agent_prompt: 'log the renewal',
        requested_by: AGENT_ARN,
        status: 'pending_approval',
        created_at: new Date().toISOString(),
        expires_at: new Date(Date.now() + 3600_000).toISOString(),
        required_approvals: this.made % 5 === 0 ? 2 : 1,
        approvals: [],
        version: 0,
      });
      if (this.made % 7 !== 0) await this.approvals.setTaskToken(id, `task-token-${id}-secret`);
      ids.push(id);
    }
    return ids;
  }

  async batch(specs: SlackSpec[]): Promise<Violation[]> {
    const v: Violation[] = [];
    const ids = await this.seed(3);
    for (const spec of specs) {
      const approvalId = ids[spec.pick % ids.length] ?? 'apr_none';
      const raw = spec.body.replace('%7Bapproval%7D', approvalId);
      const nowS = Math.floor(Date.now() / 1000);
      const ts =
        spec.signature === 'stale' ? nowS - 301 : spec.signature === 'future' ? nowS + 301 : nowS;
      const mac = (secret: string, body: string) =>
        createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex');
      const signature =
        spec.signature === 'none'
          ? undefined
          : spec.signature === 'garbage'
            ? 'v0=deadbeef'
            : spec.signature === 'other-secret'
              ? `v0=${mac('not-the-signing-secret', raw)}`
              : spec.signature === 'v1'
                ? `v1=${mac(SIGNING_SECRET, raw)}`
                : spec.signature === 'tampered'
                  ? `v0=${mac(SIGNING_SECRET, `${raw}x`)}`
                  : `v0=${mac(SIGNING_SECRET, raw)}`;
      const timestamp = spec.signature === 'bad-timestamp' ? `${ts}.5` : String(ts);
      const name = (h: string) =>
        spec.headerCase === 'lower'
          ? h.toLowerCase()
          : spec.headerCase === 'upper'
            ? h.toUpperCase()
            : h;
      const headers: Record<string, string> = {
        [name('Content-Type')]: 'application/x-www-form-urlencoded',
        [name('X-Slack-Request-Timestamp')]: timestamp,
      };
      if (signature !== undefined) headers[name('X-Slack-Signature')] = signature;
      const event = {
        body: spec.base64 ? Buffer.from(raw, 'utf8').toString('base64') : raw,
        headers,
        isBase64Encoded: spec.base64,
        requestContext: { requestId: 'api-gw-request-id' },
      } as unknown as APIGatewayProxyEvent;
      const request = describeSlack({ ...spec, body: raw });
      const before = this.records.length;
      const decisionsBefore = this.decisions;
      const stateBefore = JSON.stringify(this.approvals.byId.get(approvalId) ?? null);
      this.failNext = spec.sendFails;
      let res: APIGatewayProxyResult;
      try {
        res = await this.handler(event);
      } catch (err) {
        this.sent += 1;
        v.push({
          property: 'answered',
          cause: `slack: the handler threw ${(err as Error).name}`,
          request,
          detail: (err as Error).message,
        });
        continue;
      }
      this.sent += 1;
      const mine = this.records.slice(before);
      const seen = `${res.statusCode} ${mine[0]?.reason ?? mine[0]?.outcome ?? ''}`.trim();
      this.statuses.set(seen, (this.statuses.get(seen) ?? 0) + 1);
      if (res.statusCode >= 500)
        v.push({
          property: 'no-5xx',
          cause: `slack: ${res.statusCode}`,
          request,
          detail: clip(res.body),
        });
      const finals = mine.filter((r) => r.response_status !== null);
      if (finals.length !== 1) {
        v.push({
          property: 'one-record',
          cause: `slack: ${res.statusCode} left ${finals.length} final audit records (${finals.map((r) => `${r.outcome}/${r.reason ?? '-'}`).join(', ')})`,
          request,
        });
      } else if (finals[0]?.response_status !== res.statusCode) {
        v.push({
          property: 'one-record',
          cause: `slack: answered ${res.statusCode}, recorded ${finals[0]?.response_status}`,
          request,
        });
      }
      if (new Set(mine.map((r) => r.request_id)).size > 1) {
        v.push({
          property: 'one-record',
          cause: 'slack: records under several request ids',
          request,
        });
      }
      const leak =
        findSecret(`${res.body}\n${JSON.stringify(res.headers ?? {})}`, this.secrets) ??
        (/task-token-/.test(res.body) ? 'a task token' : null);
      if (leak)
        v.push({
          property: 'no-secret-answer',
          cause: `slack: ${res.statusCode} holds ${leak}`,
          request,
        });
      for (const r of mine) {
        const text = JSON.stringify(r);
        const stored =
          findSecret(text, this.secrets) ?? (/task-token-/.test(text) ? 'a task token' : null);
        if (stored)
          v.push({
            property: 'no-secret-stored',
            cause: `slack: audit record (${r.reason ?? r.outcome}) holds ${stored}`,
            request,
            detail: clip(text, 300),
          });
      }
      if (spec.signature !== 'valid') {
        if (res.statusCode !== 401) {
          v.push({
            property: 'invalid-refused',
            cause: `slack: ${res.statusCode} for a request signed ${spec.signature}`,
            request,
          });
        }
        const stateAfter = JSON.stringify(this.approvals.byId.get(approvalId) ?? null);
        if (this.decisions !== decisionsBefore || stateAfter !== stateBefore) {
          v.push({
            property: 'no-hubspot-invalid',
            cause: `slack: a request signed ${spec.signature} changed an approval or sent a decision`,
            request,
          });
        }
      }
    }
    return v;
  }
}
