import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { checkBodySize, checkContentType, notFound, UNAUTHORIZED_MESSAGE } from '../core/edge';
import { AirlockError, type HttpAnswer } from '../core/errors';
import {
  type Caller,
  Gateway,
  type GatewayConfig,
  type GatewayDeps,
  type RequestMeta,
} from '../core/gateway';

export type ValidationDeps = Omit<GatewayDeps, 'config'> & {
  config: Omit<GatewayConfig, 'statusUrl'>;
};

const HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
};

function header(event: APIGatewayProxyEvent, name: string): string | undefined {
  for (const [k, v] of Object.entries(event.headers ?? {})) {
    if (k.toLowerCase() === name && typeof v === 'string') return v;
  }
  return undefined;
}

/**
 * The validation function's edge: an API Gateway (REST, Lambda proxy) event in, the same
 * answer the local server gives out. API Gateway has already checked the caller's SigV4
 * signature; the caller's IAM ARN is who the audit record names.
 */
export function createValidationHandler(deps: ValidationDeps) {
  return async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
    const startedAt = deps.clock.now();
    const requestId = deps.ids.requestId();
    const route = `${event.httpMethod} ${event.resource}`;
    const meta: RequestMeta = { requestId, route, startedAt };
    const base = `https://${event.requestContext.domainName}/${event.requestContext.stage}`;
    const gateway = new Gateway({
      ...deps,
      config: { ...deps.config, statusUrl: (id) => `${base}/v1/actions/${id}` },
    });
    const arn = event.requestContext.identity?.userArn ?? event.requestContext.identity?.caller;
    const caller: Caller | null = arn ? { id: arn, role: 'agent' } : null;
    const raw = event.body ?? '';
    const body = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;

    let answer: HttpAnswer;
    if (!caller) {
      answer = await gateway.refuseAtEdge(
        meta,
        null,
        new AirlockError('unauthorized', UNAUTHORIZED_MESSAGE.aws),
      );
    } else if (route === 'POST /v1/actions') {
      const edgeError =
        checkContentType(header(event, 'content-type')) ?? checkBodySize(Buffer.byteLength(body));
      answer = edgeError
        ? await gateway.refuseAtEdge(
            meta,
            caller,
            edgeError,
            edgeError.status === 413 ? undefined : body,
          )
        : await gateway.handleAction(meta, caller, body);
    } else if (route === 'GET /v1/actions/{request_id}') {
      answer = await gateway.getStatus(meta, caller, event.pathParameters?.request_id ?? '');
    } else if (route === 'GET /v1/tools') {
      answer = await gateway.listTools(meta, caller);
    } else {
      answer = await gateway.refuseAtEdge(meta, caller, notFound());
    }
    deps.log.info('request', {
      request_id: requestId,
      api_request_id: event.requestContext.requestId,
      route,
      status: answer.status,
      caller: caller?.id ?? null,
      duration_ms: deps.clock.now() - startedAt,
    });
    return {
      statusCode: answer.status,
      headers: { ...HEADERS, ...answer.headers, 'x-request-id': requestId },
      body: JSON.stringify(answer.body),
    };
  };
}
