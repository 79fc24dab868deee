import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import {
  checkBodySize,
  checkContentType,
  headerValue,
  notFound,
  UNAUTHORIZED_MESSAGE,
} from '../core/edge';
import { AirlockError, type HttpAnswer } from '../core/errors';
import {
  type Caller,
  Gateway,
  type GatewayConfig,
  type GatewayDeps,
  type RequestMeta,
} from '../core/gateway';
import {
  pathOf,
  ROUTES,
  type Route,
  routesServedBy,
  type ValidationRouteKey,
} from '../core/routes';

export type ValidationDeps = Omit<GatewayDeps, 'config'> & {
  config: Omit<GatewayConfig, 'statusUrl'>;
};

const HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
};

type Handler = (
  gateway: Gateway,
  meta: RequestMeta,
  caller: Caller,
  params: Readonly<Record<string, string | undefined>>,
  body: string,
) => Promise<HttpAnswer>;

/** What the validation function serves, by route key (`core/routes.ts`). */
const HANDLERS: { [K in ValidationRouteKey]: Handler } = {
  submitAction: (g, m, c, _p, b) => g.handleAction(m, c, b),
  actionStatus: (g, m, c, p) => g.getStatus(m, c, p.request_id ?? ''),
  listTools: (g, m, c) => g.listTools(m, c),
};

/** The function's routes by name: what API Gateway reports as `<httpMethod> <resource>`. */
const BY_NAME = new Map(
  (routesServedBy('validation') as [ValidationRouteKey, Route][]).map(
    ([key, route]) => [route.name, { route, handle: HANDLERS[key] }] as const,
  ),
);

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
      config: {
        ...deps.config,
        statusUrl: (id) => `${base}${pathOf(ROUTES.actionStatus, { request_id: id })}`,
      },
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
    } else {
      const found = BY_NAME.get(route);
      if (!found) {
        answer = await gateway.refuseAtEdge(meta, caller, notFound());
      } else if (found.route.jsonBody) {
        const edgeError =
          checkContentType(headerValue(event.headers, 'content-type')) ??
          checkBodySize(Buffer.byteLength(body));
        answer = edgeError
          ? await gateway.refuseAtEdge(
              meta,
              caller,
              edgeError,
              edgeError.status === 413 ? undefined : body,
            )
          : await found.handle(gateway, meta, caller, event.pathParameters ?? {}, body);
      } else {
        answer = await found.handle(gateway, meta, caller, event.pathParameters ?? {}, body);
      }
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
