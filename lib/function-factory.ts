import * as path from 'node:path';
import { type Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { AwsEnvName, FunctionEntry, FunctionEnvironment } from '../lambdas/config/aws';

/** The repository root: entries are given relative to it (`lambdas/aws/validation.ts`). */
const PROJECT_ROOT = path.resolve(__dirname, '..');
/** Stands in for `form-data` in the bundles (esbuild runs in {@link PROJECT_ROOT}). */
export const FORM_DATA_SHIM = './lambdas/aws/shims/form-data.ts';

/** The one runtime of every function: the newest Node.js Lambda offers (the HubSpot client
 * needs Node 22 or later). Change it here, and `bundling.target` follows. */
export const RUNTIME = lambda.Runtime.NODEJS_24_X;
const ESBUILD_TARGET = 'node24';

export interface AirlockFunctionProps<E extends FunctionEntry = FunctionEntry> {
  /**
   * The handler file, relative to the repository root; it must export `handler`. It names the
   * function's environment schema (`FUNCTION_ENVIRONMENTS` in `lambdas/config/aws.ts`).
   * @default none, required
   */
  readonly entry: E;
  /**
   * Memory in MB. Lambda allots CPU in proportion to memory, and cold starts are CPU-bound
   * (module loading, TLS), so this is also the cold-start knob; tune it with the bench.
   * @default none, required: each function states its own
   */
  readonly memorySize: number;
  /**
   * Hard limit of one invocation. Keep it above the request deadline the code enforces, so the
   * code, not Lambda, decides what a slow request answers.
   * @default none, required
   */
  readonly timeout: Duration;
  /**
   * The environment contract of the handler (names and values, never secret values), with
   * the names its schema reads. `NODE_OPTIONS=--enable-source-maps` is always added.
   * @default {}
   */
  readonly environment?: FunctionEnvironment<E>;
  /**
   * Who invokes the function. Every Airlock function is invoked synchronously (API Gateway
   * proxy, `RequestResponse` from another function, a Step Functions task); this names the
   * caller in the acknowledgement of the dead-letter/failure-destination rules, which only
   * concern asynchronous invocations.
   * @default none, required
   */
  readonly invokedSynchronouslyBy: string;
  /**
   * Set for a function invoked asynchronously on a schedule (it has no caller to report to):
   * the reason it needs no dead-letter queue. Replaces the synchronous-caller wording.
   * @default undefined (invoked synchronously)
   */
  readonly scheduledWithoutDlqBecause?: string;
  /**
   * Retention of the function's log group.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * What happens to the log group when the stack is deleted.
   * @default RemovalPolicy.RETAIN (the retention still expires the events)
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * The one function factory: every Lambda of the gateway is built here, with the same pinned
 * runtime, architecture, tracing, logging and bundling, and its own role that starts with no
 * permission at all (not even the `AWSLambdaBasicExecutionRole` managed policy: the role may write
 * to its own log group and nothing else). Callers add exactly the grants a function needs.
 */
export class AirlockFunction<E extends FunctionEntry = FunctionEntry> extends Construct {
  /** The handler file: which schema in `lambdas/config/aws.ts` its environment must pass. */
  public readonly entry: E;
  public readonly function: nodejs.NodejsFunction;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: AirlockFunctionProps<E>) {
    super(scope, id);
    this.entry = props.entry;

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `CRM Airlock ${id} function: its log group, X-Ray, and its explicit grants only`,
    });
    // The log group already exists, so logs:CreateLogGroup is not needed.
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry: path.join(PROJECT_ROOT, props.entry),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      runtime: RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      tracing: lambda.Tracing.ACTIVE,
      role: this.role,
      logGroup: this.logGroup,
      awsSdkConnectionReuse: false, // a v2-SDK setting; SDK v3 keeps connections alive itself
      environment: { ...props.environment, NODE_OPTIONS: '--enable-source-maps' },
      bundling: {
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        target: ESBUILD_TARGET,
        format: nodejs.OutputFormat.CJS,
        // ESM builds first: esbuild tree-shakes the AWS SDK v3 clients much better from them.
        mainFields: ['module', 'main'],
        // @aws-sdk/* is bundled, not taken from the runtime: versions pinned by our lock file, and
        // the tree-shaken clients should load faster than the runtime's full SDK (the bench is to
        // confirm it).
        // @hubspot/api-client does not tree-shake; the adapter imports only its CRM codegen
        // modules (`@hubspot/api-client/lib/codegen/crm/...`), so only those are bundled.
        externalModules: [],
        // `form-data` is loaded by the client only for multipart bodies we never send; a
        // one-line stand-in keeps `mime-db` (~130 KB) out of the bundle.
        esbuildArgs: { '--alias:form-data': FORM_DATA_SHIM },
      },
    });

    const cfnFunction = this.function.node.defaultChild as lambda.CfnFunction;
    for (const rule of ['Serverless-LambdaDLQ', 'Serverless-LambdaAsyncFailureDestination']) {
      Validations.of(cfnFunction).acknowledge({
        id: rule,
        reason:
          props.scheduledWithoutDlqBecause ??
          `Invoked only synchronously (by ${props.invokedSynchronouslyBy}): the caller gets ` +
            'the error and the audit record says what happened; a dead-letter queue or failure ' +
            'destination only receives failed asynchronous invocations, which nothing in this ' +
            'stack makes.',
      });
    }
    const defaultPolicy = this.role.node.tryFindChild('DefaultPolicy');
    if (defaultPolicy) {
      Validations.of(defaultPolicy).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Only the X-Ray statement (xray:PutTraceSegments, xray:PutTelemetryRecords) has ' +
          'Resource "*": these actions support no resource-level permissions. A test asserts ' +
          'that no other statement uses Resource "*".',
      });
    }
  }

  /** Adds one variable to the environment, under a name some function's schema reads. */
  public addEnvironment(name: AwsEnvName, value: string): void {
    this.function.addEnvironment(name, value);
  }
}
