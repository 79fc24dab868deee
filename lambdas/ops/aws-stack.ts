/**
 * The deployed stack as the operator's CLI sees it: its outputs (which name every resource),
 * the ops function, the alarms, and who the caller is. Thin wrappers over the AWS SDK, each
 * failing with a message that says what is missing and what to do.
 */
import { type CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { type CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import type { OpsEvent, OpsResult } from '../aws/ops/contract';

/** The stack outputs the CLI reads, by the name it uses; `lib/airlock-stack.ts` declares them. */
export const STACK_OUTPUTS = {
  opsFunctionName: 'OpsFunctionName',
  auditBucketName: 'AuditBucketName',
  slackInteractionsFunctionName: 'SlackInteractionsFunctionName',
  alarmPrefix: 'AlarmNamePrefix',
  hubspotReadSecretArn: 'ReadTokenSecretArn',
  hubspotWriteSecretArn: 'WriteTokenSecretArn',
  slackBotTokenSecretArn: 'SlackBotTokenSecretArn',
  slackSigningSecretArn: 'SlackSigningSecretArn',
} as const;

export type StackOutputs = { readonly [K in keyof typeof STACK_OUTPUTS]: string };

/** What the ops function answered when it did not succeed. */
export class OpsCommandError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly requestId?: string,
  ) {
    super(message);
    this.name = 'OpsCommandError';
  }
}

/**
 * The stack's outputs, typed. Throws naming the stack when it does not exist (or the caller may
 * not describe it), and naming every missing output when it was deployed by an older version.
 */
export async function resolveStack(
  cfn: CloudFormationClient,
  stackName: string,
): Promise<StackOutputs> {
  let stacks: { Outputs?: { OutputKey?: string; OutputValue?: string }[] }[] | undefined;
  try {
    stacks = (await cfn.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks;
  } catch (err) {
    const e = err as { name?: string; message?: string };
    if (e.name === 'ValidationError' || /does not exist/i.test(e.message ?? '')) {
      throw new Error(
        `Stack ${stackName} was not found in this account and region (check --stack and --region, or AWS_REGION).`,
        { cause: err },
      );
    }
    throw new Error(`Describing stack ${stackName} failed: ${e.name ?? 'Error'}: ${e.message}`, {
      cause: err,
    });
  }
  const stack = stacks?.[0];
  if (!stack) throw new Error(`Stack ${stackName} was not found in this account and region.`);
  const byKey = new Map((stack.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
  const missing: string[] = [];
  const resolved: Record<string, string> = {};
  for (const [field, key] of Object.entries(STACK_OUTPUTS)) {
    const value = byKey.get(key);
    if (value) resolved[field] = value;
    else missing.push(key);
  }
  if (missing.length > 0) {
    throw new Error(
      `Stack ${stackName} has no output ${missing.join(', ')}: it was deployed by an older version of CRM Airlock. Deploy this version (npx cdk deploy) and try again.`,
    );
  }
  return resolved as StackOutputs;
}

/**
 * Runs one command in the ops function (a synchronous invocation) and returns its answer.
 * Throws when the function failed (its error type and message) and when it refused or could
 * not complete the command ({@link OpsCommandError} with the function's code and message).
 */
export async function invokeOps(
  lambda: LambdaClient,
  functionName: string,
  payload: OpsEvent,
): Promise<Extract<OpsResult, { ok: true }>> {
  const out = await lambda.send(
    new InvokeCommand({
      FunctionName: functionName,
      Payload: Buffer.from(JSON.stringify(payload)),
    }),
  );
  const text = Buffer.from(out.Payload ?? new Uint8Array()).toString('utf8');
  if (out.FunctionError) {
    let detail = out.FunctionError;
    try {
      const e = JSON.parse(text) as { errorType?: unknown; errorMessage?: unknown };
      if (typeof e.errorType === 'string' || typeof e.errorMessage === 'string') {
        detail = `${String(e.errorType ?? 'Error')}: ${String(e.errorMessage ?? '')}`;
      }
    } catch {
      // The payload is not JSON: the FunctionError kind is all there is.
    }
    throw new Error(
      `The ops function ${functionName} failed (${detail}); see its log group for details.`,
    );
  }
  let result: unknown;
  try {
    result = JSON.parse(text);
  } catch {
    throw new Error(`The ops function ${functionName} answered something that is not JSON.`);
  }
  if (
    result === null ||
    typeof result !== 'object' ||
    typeof (result as OpsResult).ok !== 'boolean'
  ) {
    throw new Error(`The ops function ${functionName} answered an unexpected shape.`);
  }
  const answer = result as OpsResult;
  if (!answer.ok) {
    throw new OpsCommandError(answer.error.code, answer.error.message, answer.request_id);
  }
  return answer;
}

export interface AlarmState {
  name: string;
  /** `OK`, `ALARM` or `INSUFFICIENT_DATA`. */
  state: string;
  reason: string;
  /** ISO 8601: when the alarm entered its state. */
  since: string;
}

/** The stack's metric alarms (names starting with `prefix`), every page of them. */
export async function alarmStates(cw: CloudWatchClient, prefix: string): Promise<AlarmState[]> {
  const alarms: AlarmState[] = [];
  let nextToken: string | undefined;
  do {
    const page = await cw.send(
      new DescribeAlarmsCommand({ AlarmNamePrefix: prefix, NextToken: nextToken, MaxRecords: 100 }),
    );
    for (const a of page.MetricAlarms ?? []) {
      alarms.push({
        name: a.AlarmName ?? '',
        state: a.StateValue ?? 'INSUFFICIENT_DATA',
        reason: a.StateReason ?? '',
        since: a.StateUpdatedTimestamp?.toISOString() ?? '',
      });
    }
    nextToken = page.NextToken;
  } while (nextToken);
  return alarms;
}

/** The caller's IAM identity (its ARN): who the audit records name as having run a command. */
export async function callerIdentity(sts: STSClient): Promise<string> {
  const out = await sts.send(new GetCallerIdentityCommand({}));
  if (!out.Arn)
    throw new Error('AWS did not say who the caller is (GetCallerIdentity had no ARN).');
  return out.Arn;
}
