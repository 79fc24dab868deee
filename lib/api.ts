import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import {
  type AwsFunction,
  arnPathOf,
  listRoutes,
  paramNames,
  ROUTES,
  type Route,
  routesServedBy,
  V1_PREFIX,
} from '../lambdas/core/routes';

/**
 * The routes API Gateway sends to the validation function (the agent's `/v1` contract,
 * docs/ARCHITECTURE.md, "The HTTP contract"), from the one route table; IAM policies address
 * them by their paths.
 */
const VALIDATION_ROUTES: readonly Route[] = routesServedBy('validation').map(([, r]) => r);

/** Slack's interactivity callback (button clicks): the one route without IAM authorization. */
const SLACK_ROUTE: Route = ROUTES.slackInteractions;

/**
 * Throttling of the Slack route: unauthenticated at the edge, so it gets a small bucket of its
 * own; a few approvers clicking buttons never come near it, a flood is cut before Lambda runs.
 */
const SLACK_THROTTLE = { rateLimit: 5, burstLimit: 10 } as const;

export interface AirlockApiProps {
  /**
   * The function behind every `/v1` route (Lambda proxy integration).
   * @default none, required
   */
  readonly handler: lambda.IFunction;
  /**
   * The function behind `POST /slack/interactions` (Lambda proxy integration, no IAM
   * authorization: it verifies Slack's request signature itself).
   * @default none, required
   */
  readonly slackInteractionsHandler: lambda.IFunction;
  /**
   * The API Gateway stage name; part of the URL (`https://.../<stage>/v1/actions`).
   * @default none, required
   */
  readonly stageName: string;
  /**
   * Steady-state requests per second for the whole stage.
   * @default none, required
   */
  readonly rateLimit: number;
  /**
   * Burst capacity of the stage's token bucket.
   * @default none, required
   */
  readonly burstLimit: number;
  /**
   * Retention of the access and execution log groups.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Retention of the access log (the only trace of requests API Gateway refuses itself).
   * @default the same as `logRetention`
   */
  readonly accessLogRetention?: logs.RetentionDays;
}

/**
 * The public face of the gateway: an API Gateway **REST** API (v1), chosen over an HTTP API (v2)
 * because only REST APIs offer, natively and without extra code, everything this gateway leans on:
 * IAM (SigV4) authorization per method, request validators, resource
 * policies, stage-level throttling with per-method overrides, execution and access logging, X-Ray
 * tracing, gateway responses we can shape into our error vocabulary, and WAF association if ever
 * needed. Its higher per-request price is irrelevant at a small business's volume.
 *
 * - Every `/v1` method requires IAM authorization; the caller is the agent backend's role, to
 *   which the stack's `invokePolicy` (execute-api:Invoke on exactly these routes) is attached.
 *   There is no resource policy: with IAM authorization and none, only principals of this
 *   account whose identity policy allows the route can call it.
 * - No request-body model at the edge: a body API Gateway refused would have no audit record and
 *   another error than local mode's. Every signed request reaches the validation function, which
 *   refuses bad bodies (400/413/415/422) with an audit record, exactly as the local server does.
 * - Stage throttling, JSON access logs (no bodies), execution logs at ERROR level without data
 *   trace (a data trace would log request bodies: prompts and CRM data), X-Ray tracing.
 * - Errors produced by API Gateway itself (authentication, throttling, body validation) answer
 *   in the gateway's error format `{request_id, error: {code, message}}` and never echo ARNs.
 */
export class AirlockApi extends Construct {
  public readonly api: apigateway.RestApi;
  public readonly accessLogGroup: logs.LogGroup;
  public readonly executionLogGroup: logs.LogGroup;
  /** The methods of the `/v1` routes, in the route table's order (`lambdas/core/routes.ts`). */
  public readonly methods: apigateway.Method[];
  /** Grants execute-api:Invoke on exactly the three `/v1` routes of this stage. */
  public readonly invokePolicy: iam.ManagedPolicy;
  /** `POST /slack/interactions`, for Slack (authorization NONE, Slack's HMAC in the function). */
  public readonly slackInteractionsMethod: apigateway.Method;

  constructor(scope: Construct, id: string, props: AirlockApiProps) {
    super(scope, id);
    const retention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;

    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.accessLogRetention ?? retention,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.api = new apigateway.RestApi(this, 'RestApi', {
      description: 'CRM Airlock: validated, audited access to HubSpot for an AI agent',
      endpointConfiguration: { types: [apigateway.EndpointType.REGIONAL] },
      // API Gateway can only write logs through the account-wide CloudWatch role; a fresh
      // account has none. Kept on stack deletion because other APIs in the account may use it.
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      deployOptions: {
        stageName: props.stageName,
        throttlingRateLimit: props.rateLimit,
        throttlingBurstLimit: props.burstLimit,
        tracingEnabled: true,
        loggingLevel: apigateway.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        metricsEnabled: false, // per-method metrics are billed; the API-wide ones are free
        accessLogDestination: new apigateway.LogGroupLogDestination(this.accessLogGroup),
        accessLogFormat: apigateway.AccessLogFormat.custom(ACCESS_LOG_FORMAT),
        methodOptions: {
          // Every setting restated: a method's entry stands on its own.
          [`${SLACK_ROUTE.path}/${SLACK_ROUTE.method}`]: {
            throttlingRateLimit: SLACK_THROTTLE.rateLimit,
            throttlingBurstLimit: SLACK_THROTTLE.burstLimit,
            loggingLevel: apigateway.MethodLoggingLevel.ERROR,
            dataTraceEnabled: false,
            metricsEnabled: false,
          },
        },
      },
    });
    // RestApi adds an `Endpoint` output with a generated name; the stack outputs `ApiUrl`.
    this.api.node.tryRemoveChild('Endpoint');

    // Execution logs go to a log group API Gateway creates on first use, without retention.
    // Creating it first, with retention, keeps it from growing forever.
    this.executionLogGroup = new logs.LogGroup(this, 'ExecutionLogs', {
      logGroupName: `API-Gateway-Execution-Logs_${this.api.restApiId}/${props.stageName}`,
      retention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.api.deploymentStage.node.addDependency(this.executionLogGroup);

    // One Lambda proxy integration per function; no permission for the console's
    // test-invoke, which bypasses authorization.
    const integrations: Record<AwsFunction, apigateway.LambdaIntegration> = {
      validation: new apigateway.LambdaIntegration(props.handler, {
        proxy: true,
        allowTestInvoke: false,
      }),
      slack_interactions: new apigateway.LambdaIntegration(props.slackInteractionsHandler, {
        proxy: true,
        allowTestInvoke: false,
      }),
    };
    const addRoute = (r: Route, authorizationType: apigateway.AuthorizationType) => {
      if (r.side === 'local') throw new Error(`${r.name} is not served by API Gateway`);
      return resourceFor(this.api.root, r.path).addMethod(r.method, integrations[r.awsFunction], {
        authorizationType,
      });
    };
    this.methods = VALIDATION_ROUTES.map((r) => addRoute(r, apigateway.AuthorizationType.IAM));

    // Slack cannot sign with SigV4: the route is open at the edge, and the function refuses
    // any request without a valid Slack signature (HMAC-SHA256 with the signing secret, recent
    // timestamp) from the configured workspace and an allowlisted approver.
    this.slackInteractionsMethod = addRoute(SLACK_ROUTE, apigateway.AuthorizationType.NONE);

    addGatewayResponses(this.api);
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-APIG2',
      reason:
        'Requests are validated by the validation function, not by an API Gateway model: a body ' +
        'refused at the edge would get no audit record and a different error than local mode. ' +
        'The function checks size (64 KB), content type, envelope and action, and audits each refusal.',
    });

    this.invokePolicy = new iam.ManagedPolicy(this, 'InvokePolicy', {
      description:
        `CRM Airlock (${props.stageName}): call the /v1 routes of the gateway. ` +
        "Attach to the agent backend's role.",
      statements: [
        new iam.PolicyStatement({
          actions: ['execute-api:Invoke'],
          resources: VALIDATION_ROUTES.map((r) =>
            this.api.arnForExecuteApi(r.method, arnPathOf(r), props.stageName),
          ),
        }),
      ],
    });

    this.acknowledgeFindings(props.stageName);
  }

  /** The stage URL's `/v1` base, e.g. `https://abc.execute-api.eu-west-1.amazonaws.com/dev/v1`. */
  public get v1Url(): string {
    return this.api.urlForPath(V1_PREFIX);
  }

  /** The Request URL to enter in the Slack app's Interactivity settings. */
  public get slackInteractionsUrl(): string {
    return this.api.urlForPath(SLACK_ROUTE.path);
  }

  private acknowledgeFindings(stageName: string): void {
    // cdk-nag names the finding after the resource string, with the API's logical id in it.
    const apiId = Stack.of(this).resolve(
      (this.api.node.defaultChild as apigateway.CfnRestApi).logicalId,
    );
    // IAM addresses a path parameter with `*`: each route with one is a wildcard resource.
    for (const r of VALIDATION_ROUTES.filter((v) => paramNames(v.path).length > 0)) {
      const arn =
        `arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${apiId}>/` +
        `${stageName}/${r.method}${arnPathOf(r)}`;
      const params = paramNames(r.path)
        .map((name) => `{${name}}`)
        .join(', ');
      Validations.of(this.invokePolicy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${arn}]`,
        reason:
          `The only wildcard is the ${params} path parameter of ${r.name}: ` +
          'IAM addresses a path parameter with *. The other routes are exact ARNs.',
      });
    }
    for (const method of this.methods) {
      Validations.of(method).acknowledge({
        id: 'AwsSolutions-COG4',
        reason:
          'The method uses IAM (SigV4) authorization: the caller is the agent backend, an AWS ' +
          'principal, not an end user; a Cognito user pool would add a second identity store ' +
          'and long-lived client secrets.',
      });
    }
    const slackReason =
      'Slack calls this route and cannot sign with SigV4 nor use a Cognito token: the function ' +
      "authenticates every request itself with Slack's HMAC signature (signing secret, " +
      'timestamp within 5 minutes), then checks the workspace and the approver allowlist, and ' +
      'can only record a decision for a pending approval. The route has its own small throttle.';
    for (const id of ['AwsSolutions-COG4', 'AwsSolutions-APIG4']) {
      Validations.of(this.slackInteractionsMethod).acknowledge({ id, reason: slackReason });
    }
    Validations.of(this.api.deploymentStage).acknowledge({
      id: 'AwsSolutions-APIG3',
      reason:
        'No WAF web ACL: every /v1 method requires IAM-signed requests (unsigned traffic is ' +
        'refused before any integration runs); the one open route, POST /slack/interactions, ' +
        "has its own 5 req/s throttle and its function refuses requests without Slack's HMAC " +
        'signature; the stage is throttled and the envelope is validated. A ' +
        "web ACL's fixed monthly cost is not justified for a small business's agent backend; " +
        'associate one if the API is ever exposed to untrusted callers.',
    });
    const cloudWatchRole = this.api.node.tryFindChild('CloudWatchRole');
    if (cloudWatchRole) {
      Validations.of(cloudWatchRole).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason:
          "API Gateway's account-wide logging role, assumable only by apigateway.amazonaws.com. " +
          'It serves every REST API of the account and region, so it cannot be scoped to this ' +
          "API's log groups; the AWS-managed policy is the documented one for it.",
      });
    }
  }
}

/**
 * The access log line: one JSON object per request, no bodies, no headers. Every value is quoted
 * so the line stays valid JSON when API Gateway writes `-` for an empty value.
 */
const ACCESS_LOG_FORMAT = JSON.stringify({
  requestId: '$context.requestId',
  extendedRequestId: '$context.extendedRequestId',
  requestTimeEpoch: '$context.requestTimeEpoch',
  caller: '$context.identity.caller',
  userArn: '$context.identity.userArn',
  accountId: '$context.identity.accountId',
  ip: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
  method: '$context.httpMethod',
  path: '$context.path',
  resourcePath: '$context.resourcePath',
  protocol: '$context.protocol',
  status: '$context.status',
  latency: '$context.responseLatency',
  integrationLatency: '$context.integration.latency',
  integrationStatus: '$context.integration.status',
  responseLength: '$context.responseLength',
  errorType: '$context.error.responseType',
  xrayTraceId: '$context.xrayTraceId',
});

/**
 * Answers API Gateway produces itself, before the function runs, shaped like the gateway's own
 * errors (`lambdas/core/errors.ts`). Messages are static: API Gateway's own messages can contain
 * the caller's ARN or echo the request body.
 */
const GATEWAY_RESPONSES: {
  type: apigateway.ResponseType;
  status: string;
  code: string;
  message: string;
  headers?: Record<string, string>;
}[] = [
  {
    type: apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN,
    status: '401',
    code: 'unauthorized',
    message:
      'The request is not signed, or the route does not exist. Sign it with AWS Signature ' +
      `Version 4 (service execute-api) and call ${listRoutes(VALIDATION_ROUTES, ' or ')}.`,
  },
  {
    type: apigateway.ResponseType.INVALID_SIGNATURE,
    status: '401',
    code: 'unauthorized',
    message:
      'The AWS Signature Version 4 of the request is invalid; sign it again with service ' +
      'execute-api and the region of this API.',
  },
  {
    type: apigateway.ResponseType.EXPIRED_TOKEN,
    status: '401',
    code: 'unauthorized',
    message: 'The AWS credentials that signed the request have expired; refresh them and retry.',
  },
  {
    type: apigateway.ResponseType.ACCESS_DENIED,
    status: '401',
    code: 'unauthorized',
    message:
      "The caller's AWS credentials are not allowed to call this route; attach the stack's " +
      'InvokePolicy to the calling role.',
  },
  {
    type: apigateway.ResponseType.UNAUTHORIZED,
    status: '401',
    code: 'unauthorized',
    message: 'The request could not be authenticated; sign it with AWS Signature Version 4.',
  },
  {
    type: apigateway.ResponseType.REQUEST_TOO_LARGE,
    status: '413',
    code: 'payload_too_large',
    message: 'The request body is too large; send at most 64 KB.',
  },
  {
    type: apigateway.ResponseType.UNSUPPORTED_MEDIA_TYPE,
    status: '415',
    code: 'unsupported_media_type',
    message: 'Send the body as JSON with Content-Type: application/json.',
  },
  {
    type: apigateway.ResponseType.RESOURCE_NOT_FOUND,
    status: '404',
    code: 'not_found',
    message: `No such route; use ${listRoutes(VALIDATION_ROUTES, ' or ')}.`,
  },
  {
    type: apigateway.ResponseType.THROTTLED,
    status: '429',
    code: 'rate_limited',
    message: 'Too many requests to the gateway; retry after the number of seconds in Retry-After.',
    headers: { 'Retry-After': "'1'" },
  },
  {
    // Any other refusal API Gateway makes itself (e.g. a malformed Authorization header):
    // still our error format, with a request id, and API Gateway's own text never shown.
    type: apigateway.ResponseType.DEFAULT_4XX,
    status: '',
    code: 'validation_failed',
    message: 'The request was refused before reaching the gateway; check its signature and route.',
  },
  {
    type: apigateway.ResponseType.DEFAULT_5XX,
    status: '',
    code: 'internal_error',
    message: 'The gateway failed unexpectedly. The request was not completed; retry later.',
  },
];

/** The resource of a path template (`/v1/actions/{request_id}`), created on first use. */
function resourceFor(root: apigateway.IResource, path: string): apigateway.IResource {
  return path
    .split('/')
    .filter((part) => part !== '')
    .reduce((parent, part) => parent.getResource(part) ?? parent.addResource(part), root);
}

function addGatewayResponses(api: apigateway.RestApi): void {
  for (const r of GATEWAY_RESPONSES) {
    const body = { request_id: '$context.requestId', error: { code: r.code, message: r.message } };
    api.addGatewayResponse(`Response${r.type.responseType}`, {
      type: r.type,
      ...(r.status ? { statusCode: r.status } : {}),
      responseHeaders: { 'Content-Type': "'application/json'", ...r.headers },
      templates: { 'application/json': JSON.stringify(body) },
    });
  }
}
