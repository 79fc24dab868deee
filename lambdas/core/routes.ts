/**
 * The gateway's HTTP routes, declared once (docs/ARCHITECTURE.md, "The HTTP contract"). The
 * local server and the validation function route by this table, `lib/api.ts` builds API
 * Gateway's resources and methods from it, and the typed client addresses its calls with it.
 * A route's name (`<METHOD> <path template>`) is the `route` of its audit records and metrics;
 * on AWS it is what API Gateway reports as `<httpMethod> <resource>`.
 *
 * Pure: no node or AWS import (the CDK app loads it).
 */

export type RouteMethod = 'GET' | 'POST';

/** Whose credential a route takes. `public`: none at the edge (the function authenticates). */
export type RouteCaller = 'agent' | 'approver' | 'operator' | 'public';

/** The AWS function behind a route API Gateway serves. */
export type AwsFunction = 'validation' | 'slack_interactions';

interface RouteFields {
  readonly method: RouteMethod;
  /** The path template: literal segments and `{param}` segments, as API Gateway writes them. */
  readonly path: string;
  readonly caller: RouteCaller;
  /** Takes a JSON body: the edge checks its content type (415) and size (413) first. */
  readonly jsonBody: boolean;
  /**
   * A path parameter's pattern, as a regular expression's source (the local server matches
   * the raw path with it). @default {@link ID_SOURCE}
   */
  readonly params?: Readonly<Record<string, string>>;
}

/** Where a route exists: the local server only, API Gateway only, or both. */
export type RouteSpec = RouteFields &
  (
    | { readonly side: 'local' }
    | {
        readonly side: 'aws' | 'both';
        /** The function API Gateway sends it to. */
        readonly awsFunction: AwsFunction;
      }
  );

export type Route = RouteSpec & { readonly name: string };

/** An id in a path (a request id, an approval id): what the gateway hands out. */
export const ID_SOURCE = '[A-Za-z0-9_-]{1,128}';
/** {@link ID_SOURCE}, anchored: a whole id. */
export const ID_PATTERN = new RegExp(`^${ID_SOURCE}$`);

/** The prefix of the agent's contract: the client's base URL and the stage's `ApiUrl` end here. */
export const V1_PREFIX = '/v1';

function route<const S extends RouteSpec>(
  spec: S,
): S & { readonly name: `${S['method']} ${S['path']}` } {
  return { ...spec, name: `${spec.method} ${spec.path}` as `${S['method']} ${S['path']}` };
}

/** Every route, in matching order (the first whose path matches names a 405's allowed method). */
export const ROUTES = {
  submitAction: route({
    method: 'POST',
    path: '/v1/actions',
    caller: 'agent',
    jsonBody: true,
    side: 'both',
    awsFunction: 'validation',
  }),
  actionStatus: route({
    method: 'GET',
    path: '/v1/actions/{request_id}',
    caller: 'agent',
    jsonBody: false,
    side: 'both',
    awsFunction: 'validation',
  }),
  listTools: route({
    method: 'GET',
    path: '/v1/tools',
    caller: 'agent',
    jsonBody: false,
    side: 'both',
    awsFunction: 'validation',
  }),
  dashboardData: route({
    method: 'GET',
    path: '/dashboard/data',
    caller: 'approver',
    jsonBody: false,
    side: 'local',
  }),
  pendingApprovals: route({
    method: 'GET',
    path: '/approvals/pending',
    caller: 'approver',
    jsonBody: false,
    side: 'local',
  }),
  decide: route({
    method: 'POST',
    path: '/approvals/{approval_id}/{decision}',
    caller: 'approver',
    jsonBody: true,
    side: 'local',
    params: { decision: 'approve|deny' },
  }),
  operatorStatus: route({
    method: 'GET',
    path: '/operator/status',
    caller: 'operator',
    jsonBody: false,
    side: 'local',
  }),
  operatorControl: route({
    method: 'POST',
    path: '/operator/control',
    caller: 'operator',
    jsonBody: true,
    side: 'local',
  }),
  operatorRotate: route({
    method: 'POST',
    path: '/operator/rotate',
    caller: 'operator',
    jsonBody: true,
    side: 'local',
  }),
  emulatorToken: route({
    method: 'POST',
    path: '/operator/emulator-token',
    caller: 'operator',
    jsonBody: true,
    side: 'local',
  }),
  slackInteractions: route({
    method: 'POST',
    path: '/slack/interactions',
    caller: 'public',
    // Slack posts a form (application/x-www-form-urlencoded) and signs its raw bytes.
    jsonBody: false,
    side: 'aws',
    awsFunction: 'slack_interactions',
  }),
} as const;

type Table = typeof ROUTES;
export type RouteKey = keyof Table;

/** The routes the local server serves. */
export type LocalRouteKey = {
  [K in RouteKey]: Table[K]['side'] extends 'aws' ? never : K;
}[RouteKey];

/** The local routes behind the operator's key (`lambdas/local/operator-routes.ts`). */
export type OperatorRouteKey = {
  [K in LocalRouteKey]: Table[K]['caller'] extends 'operator' ? K : never;
}[LocalRouteKey];

/** The routes API Gateway sends to the validation function. */
export type ValidationRouteKey = {
  [K in RouteKey]: Table[K] extends { awsFunction: 'validation' } ? K : never;
}[RouteKey];

/** Every route with its key, in table order. */
export const ROUTE_ENTRIES = Object.entries(ROUTES) as [RouteKey, Route][];

/** The routes that exist on one side, in table order. */
export function routesOn(side: 'local' | 'aws'): [RouteKey, Route][] {
  return ROUTE_ENTRIES.filter(([, r]) => r.side === side || r.side === 'both');
}

/** The routes API Gateway sends to one function, in table order. */
export function routesServedBy(fn: AwsFunction): [RouteKey, Route][] {
  return ROUTE_ENTRIES.filter(([, r]) => r.side !== 'local' && r.awsFunction === fn);
}

/** The `{param}` names of a path template, in order. */
export function paramNames(path: string): string[] {
  return [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] ?? '');
}

type ParamsOf<P extends string> = P extends `${string}{${infer N}}${infer Rest}`
  ? N | ParamsOf<Rest>
  : never;

/** A route's path with its parameters filled in (the caller checks their shape). */
export function pathOf<R extends Route>(r: R, params: Record<ParamsOf<R['path']>, string>): string {
  const values = params as Record<string, string>;
  return r.path.replace(/\{([^}]+)\}/g, (_, name: string) => values[name] ?? '');
}

/** A route's path as IAM addresses it in an execute-api ARN: each parameter is `*`. */
export function arnPathOf(r: Route): string {
  return r.path.replace(/\{[^}]+\}/g, '*');
}

/** Route names for a message: `A, B, C`, or with `last` before the last one (`A, B or C`). */
export function listRoutes(routes: readonly Route[], last = ', '): string {
  const names = routes.map((r) => r.name);
  if (names.length < 2) return names.join('');
  return `${names.slice(0, -1).join(', ')}${last}${names[names.length - 1]}`;
}

/** The agent's contract: the `/v1` routes both sides serve, in table order. */
export const AGENT_ROUTES: readonly Route[] = routesOn('local')
  .filter(([, r]) => r.side === 'both' && r.caller === 'agent')
  .map(([, r]) => r);

export type RouteMatch<K extends RouteKey> =
  | { kind: 'route'; key: K; route: Route; params: Record<string, string> }
  /** The path is a route's, the method is not: that route names the method to use. */
  | { kind: 'method'; allowed: Route }
  | { kind: 'none' };

/**
 * A matcher of raw paths (exactly as sent, nothing decoded; `edge.ts` has checked the target)
 * against some routes of the table.
 */
export function routeMatcher<K extends RouteKey>(
  entries: readonly (readonly [K, Route])[],
): (method: string, pathname: string) => RouteMatch<K> {
  const compiled = entries.map(([key, r]) => ({
    key,
    route: r,
    names: paramNames(r.path),
    pattern: compilePath(r),
  }));
  return (method, pathname) => {
    let allowed: Route | undefined;
    for (const c of compiled) {
      const m = c.pattern.exec(pathname);
      if (!m) continue;
      if (c.route.method === method) {
        const params: Record<string, string> = {};
        c.names.forEach((name, i) => {
          params[name] = m[i + 1] ?? '';
        });
        return { kind: 'route', key: c.key, route: c.route, params };
      }
      allowed ??= c.route;
    }
    return allowed ? { kind: 'method', allowed } : { kind: 'none' };
  };
}

function compilePath(r: Route): RegExp {
  const source = r.path
    .split('/')
    .map((segment) => {
      const param = /^\{([^}]+)\}$/.exec(segment)?.[1];
      if (param !== undefined) return `(${r.params?.[param] ?? ID_SOURCE})`;
      return segment.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
    })
    .join('\\/');
  return new RegExp(`^${source}$`);
}
