/**
 * The environment of every AWS function: one zod schema per function, keyed by its handler
 * entry (the file the CDK app bundles), composed of the fragments in `shared.ts`. Each entry
 * file parses its own environment with its schema at cold start (`loadEnv`); the CDK app
 * writes those environments with the variable names typed from the same schemas
 * ({@link FunctionEnvironment}); and a CDK test parses every synthesized function's environment
 * with its function's schema (test/aws/env-contract.test.ts). Pure: zod and the core only (the
 * CDK app loads it). See docs/ARCHITECTURE.md, section "Configuration".
 */
import * as z from 'zod';
import { actionNames } from '../core/catalog';
import { userApproversSetting } from '../core/identity';
import {
  APPROVAL_TTL_SECONDS,
  AUDIT_PREFIX,
  actionListEnv,
  DEFAULT_STAGE,
  DIGEST_PREFIX,
  envInt,
  HUBSPOT_API,
  MAX_REQUIRED_APPROVALS,
  promptPolicyEnv,
  readLimitsEnv,
  requestDeadlineEnv,
  required,
} from './shared';

/**
 * The most a request may spend on HubSpot on AWS: the validation function's 15 s timeout
 * (`lib/airlock-stack.ts`) must leave room to write the audit record of a request that ran
 * into the deadline.
 */
export const AWS_REQUEST_DEADLINE_MAX_MS = 12_000;

/**
 * The shortest approval TTL on AWS: the state machine's task-token timeout, and Slack's round
 * trip, make anything under a minute useless.
 */
export const AWS_APPROVAL_TTL_MIN_SECONDS = 60;

/** How long a secret's value is cached (seconds); a rotation shows within it. */
export const SECRET_TTL_SECONDS = { default: 60, min: 1, max: 60 } as const;

/** A `true`/`false` environment variable, false when unset. */
export const envFlag = z
  .enum(['true', 'false'])
  .default('false')
  .transform((v) => v === 'true');

/** A comma list of ids (blanks dropped). */
const idList = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
);

/** The `Stage` dimension of the metrics a function emits (EMF lines in its log). */
const stageEnv = { AIRLOCK_STAGE: z.string().min(1).default(DEFAULT_STAGE) };

/**
 * The kill switch and read-only mode: the control table the operator sets at run time
 * (`CONTROL_TABLE_NAME`), and the deploy-time override (`-c contained=true`, `-c readOnly=true`),
 * which holds whatever the table says.
 */
export const controlEnv = {
  CONTROL_TABLE_NAME: required,
  AIRLOCK_CONTAINED: envFlag,
  AIRLOCK_READ_ONLY: envFlag,
};

/** Where a function writes audit records: the Object Lock bucket, under the audit prefix. */
const auditEnv = {
  AUDIT_BUCKET_NAME: required,
  AUDIT_PREFIX: z.string().min(1).default(AUDIT_PREFIX),
  ...stageEnv,
};

const approvalTableEnv = { APPROVAL_TABLE_NAME: required };

/** A HubSpot token's secret, and HubSpot's address (tests point it at the emulator). */
const hubspotEnv = {
  HUBSPOT_BASE_URL: z.url().default(HUBSPOT_API),
  SECRET_TTL_SECONDS: envInt(SECRET_TTL_SECONDS),
};

/**
 * A Slack id the deployment may leave empty until Slack is set up (`lib/config.ts` checks its
 * shape): the function starts, and refuses what needs it with a clear error.
 */
const optionalSlackId = z.string().default('');

export const validationEnv = z.object({
  HUBSPOT_CALL_FUNCTION_NAME: required,
  ...auditEnv,
  AIRLOCK_PROMPT_POLICY: promptPolicyEnv,
  AIRLOCK_REQUEST_DEADLINE_MS: requestDeadlineEnv(AWS_REQUEST_DEADLINE_MAX_MS),
  ...approvalTableEnv,
  STATE_MACHINE_ARN: required,
  AIRLOCK_APPROVAL_TTL_SECONDS: envInt({
    ...APPROVAL_TTL_SECONDS,
    min: AWS_APPROVAL_TTL_MIN_SECONDS,
  }),
  AIRLOCK_REQUIRED_APPROVALS: z
    .string()
    .default('{}')
    .transform((s) => JSON.parse(s) as unknown)
    .pipe(z.record(z.string(), z.number().int().min(1).max(MAX_REQUIRED_APPROVALS))),
  AIRLOCK_ALLOWED_ACTIONS: actionListEnv.default(actionNames()),
  ...controlEnv,
  RATE_LIMIT_TABLE_NAME: required,
  ...readLimitsEnv,
});

export const hubspotCallEnv = z.object({
  HUBSPOT_READ_SECRET_ARN: required,
  ...hubspotEnv,
  ...stageEnv,
});

export const hubspotWriteEnv = z.object({
  ...controlEnv,
  ...approvalTableEnv,
  HUBSPOT_WRITE_SECRET_ARN: required,
  ...hubspotEnv,
  ...stageEnv,
});

export const approvalNotifyEnv = z.object({
  ...approvalTableEnv,
  SLACK_BOT_TOKEN_SECRET_ARN: required,
  SLACK_CHANNEL_ID: optionalSlackId,
  HUBSPOT_CALL_FUNCTION_NAME: required,
  ...stageEnv,
});

export const approvalFinishEnv = z.object({
  ...approvalTableEnv,
  ...auditEnv,
  SLACK_BOT_TOKEN_SECRET_ARN: required,
});

export const slackInteractionsEnv = z.object({
  ...controlEnv,
  ...approvalTableEnv,
  SLACK_SIGNING_SECRET_ARN: required,
  SLACK_TEAM_ID: optionalSlackId,
  SLACK_APPROVER_IDS: idList.default([]),
  ...auditEnv,
  AIRLOCK_USER_APPROVERS: userApproversSetting,
});

export const approvalsWatchEnv = z.object({
  ...approvalTableEnv,
  // Required: the watch's metric is the one an alarm reads, under this stage's dimension.
  AIRLOCK_STAGE: required,
});

export const auditDigestEnv = z.object({
  AUDIT_BUCKET_NAME: required,
  AUDIT_PREFIX: z.string().min(1).default(AUDIT_PREFIX),
  DIGEST_PREFIX: z.string().min(1).default(DIGEST_PREFIX),
  ...stageEnv,
});

export const opsEnv = z.object({
  ...controlEnv,
  ...approvalTableEnv,
  HUBSPOT_CALL_FUNCTION_NAME: required,
  ...auditEnv,
});

/** Every function's environment schema, by the handler entry the CDK app bundles. */
export const FUNCTION_ENVIRONMENTS = {
  'lambdas/aws/validation.ts': validationEnv,
  'lambdas/aws/hubspot-call.ts': hubspotCallEnv,
  'lambdas/aws/hubspot-write.ts': hubspotWriteEnv,
  'lambdas/aws/approval-notify.ts': approvalNotifyEnv,
  'lambdas/aws/approval-finish.ts': approvalFinishEnv,
  'lambdas/aws/slack-interactions.ts': slackInteractionsEnv,
  'lambdas/aws/approvals-watch.ts': approvalsWatchEnv,
  'lambdas/aws/audit-digest.ts': auditDigestEnv,
  'lambdas/aws/ops.ts': opsEnv,
} as const;

/** A function's handler entry, relative to the repository root. */
export type FunctionEntry = keyof typeof FUNCTION_ENVIRONMENTS;

/**
 * The environment the CDK app writes for the function of `entry`: the variable names of its
 * schema, each a string (or a CloudFormation token). Every key may be given apart (a construct
 * adds its part); that the whole is complete is checked by the environment-contract test.
 */
export type FunctionEnvironment<E extends FunctionEntry = FunctionEntry> = {
  [K in keyof z.input<(typeof FUNCTION_ENVIRONMENTS)[E]>]?: string;
};

/** Every environment variable name some function reads. */
export type AwsEnvName = {
  [E in FunctionEntry]: keyof z.input<(typeof FUNCTION_ENVIRONMENTS)[E]>;
}[FunctionEntry];
