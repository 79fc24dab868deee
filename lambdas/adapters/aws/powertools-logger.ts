/**
 * The Logger port on Lambda, backed by Powertools for AWS Lambda (TypeScript) Logger, and the one
 * wrapper of every entry point's handler (middy with Powertools' `injectLambdaContext`).
 *
 * A line is one JSON object: `level` (`INFO`, `WARN`, `ERROR`), `message`, `timestamp`,
 * `service`, `cold_start`, `function_name`, `function_arn`, `function_memory_size`,
 * `function_request_id` (the Lambda request id), `xray_trace_id`, `correlation_id` (the audit
 * record's request id, from the first line of the invocation that names one) and the caller's
 * fields. The level threshold is `POWERTOOLS_LOG_LEVEL` or `LOG_LEVEL` (default `INFO`; Lambda's
 * own log-level control, when set, wins). Metrics are not logged here: they are the audit records
 * counted (`lambdas/core/metrics.ts`).
 */
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { Logger } from '../../core/ports';
import { redactSecrets } from '../../core/redact';
import { scrubbed } from '../json-logger';

/** The `service` of every line (the function is in `function_name`). */
export const LOG_SERVICE = 'crm-airlock';

/** The Logger port, and the Powertools logger behind it that the handler wrapper fills. */
export interface LambdaLogger extends Logger {
  readonly powertools: PowertoolsLogger;
}

export interface LambdaLoggerOptions {
  /** Known secret values to cut out of every line (besides the shapes of `SECRET_PATTERNS`). */
  secrets?: () => readonly string[];
  /** Overrides `POWERTOOLS_LOG_LEVEL` / `LOG_LEVEL` (tests). */
  logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
}

/**
 * A Powertools-backed {@link Logger}. Every line goes through our redaction twice: the caller's
 * message and fields ({@link scrubbed}: known values and credential shapes, member names
 * included), and every string of the printed line, Powertools' own keys and formatted
 * errors included, as it is serialized. A `request_id` field (the audit record's) becomes the
 * invocation's `correlation_id`, so the lines after it carry it too.
 */
export function lambdaLogger(options: LambdaLoggerOptions = {}): LambdaLogger {
  const secrets = options.secrets ?? (() => []);
  const powertools = new PowertoolsLogger({
    serviceName: LOG_SERVICE,
    ...(options.logLevel ? { logLevel: options.logLevel } : {}),
    jsonReplacerFn: (_key, value) =>
      typeof value === 'string' ? redactSecrets(value, secrets()) : value,
  });
  const emit = (
    level: 'info' | 'warn' | 'error',
    message: string,
    fields?: Record<string, unknown>,
  ) => {
    const line = scrubbed(message, fields, secrets());
    const requestId = line.fields.request_id;
    if (typeof requestId === 'string' && requestId !== '') {
      powertools.appendKeys({ correlation_id: requestId });
    }
    powertools[level](line.message, line.fields);
  };
  return {
    powertools,
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

/**
 * An entry point's handler as Lambda calls it: middy with Powertools' `injectLambdaContext`
 * (request id, cold start, function), its keys reset after each invocation so one request's
 * `correlation_id` never labels the next.
 */
export function lambdaHandler<TEvent, TResult>(
  handler: (event: TEvent, context: Context) => Promise<TResult>,
  log: LambdaLogger,
) {
  return middy<TEvent, TResult>(handler).use(
    injectLambdaContext(log.powertools, { resetKeys: true }),
  );
}
