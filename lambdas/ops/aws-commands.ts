/**
 * The CLI's AWS side: the stack's outputs name everything; the ops function runs the switch
 * (so its audit record is written by the stack's own role); the audit bucket is read
 * directly for `verify` and `export`; rotation checks a value before it stores it.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { LambdaClient } from '@aws-sdk/client-lambda';
import type { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { STSClient } from '@aws-sdk/client-sts';
import { auditArchiveClient, S3AuditArchive } from '../adapters/aws/s3-audit-archive';
import { presignedIdentityUrl } from '../adapters/aws/sts-identity';
import { verifyArchiveWindow } from '../core/evidence/digest';
import { observe } from '../core/metrics';
import type { ControlCommand, ControlResult, OperatorStatus } from '../core/operator';
import {
  alarmStates,
  callerIdentity,
  invokeOps,
  resolveStack,
  type StackOutputs,
} from './aws-stack';
import type { Evidence, StatusView } from './results';
import { type RotateWhich, type RotationResult, rotateAws } from './rotate';
import type { TimeWindow } from './time-window';

/**
 * How far before a window `verify` looks, by default, for what the window's records depend on
 * (the request and approval of a write completed in the window, a `contain` still in force):
 * a day covers the default approval expiry (1 h) many times over; `--lookback` widens it.
 */
export const DEFAULT_LOOKBACK_MS = 24 * 3_600_000;

export interface AwsOps {
  status(nowMs: number): Promise<StatusView>;
  control(command: ControlCommand, reason: string | null): Promise<ControlResult>;
  rotate(which: RotateWhich, token: string, hubspotBaseUrl: string): Promise<RotationResult>;
  evidence(window: TimeWindow, nowMs: number, lookbackMs?: number): Promise<Evidence>;
}

export interface AwsClients {
  cfn: CloudFormationClient;
  lambda: LambdaClient;
  cw: CloudWatchClient;
  s3: S3Client;
  secrets: SecretsManagerClient;
  sts: STSClient;
}

export function awsOps(
  options: { stack: string; region?: string },
  clients: AwsClients = defaultClients(options.region),
): AwsOps {
  let outputs: Promise<StackOutputs> | undefined;
  const stack = () => {
    outputs ??= resolveStack(clients.cfn, options.stack);
    return outputs;
  };
  const archive = async () => new S3AuditArchive(clients.s3, (await stack()).auditBucketName);
  /**
   * Who calls the ops function: the ARN STS reports, and a presigned GetCallerIdentity
   * request (valid 60 s) with which the function proves it rather than taking our word.
   */
  const identity = async () =>
    presignedIdentityUrl({
      region: await clients.sts.config.region(),
      credentials: clients.sts.config.credentials,
    });
  const who = async () => ({ by: await callerIdentity(clients.sts), identity: await identity() });

  return {
    async status(nowMs) {
      const o = await stack();
      const caller = await who();
      const [ops, alarms, lastHour] = await Promise.all([
        invokeOps(clients.lambda, o.opsFunctionName, { command: 'status', ...caller }),
        alarmStates(clients.cw, o.alarmPrefix),
        verifyArchiveWindow(await archive(), {
          since: new Date(nowMs - 3_600_000).toISOString(),
          until: new Date(nowMs).toISOString(),
          now: nowMs,
        }),
      ]);
      const status = ops as unknown as OperatorStatus;
      return {
        where: `AWS stack ${options.stack}`,
        control: status.control,
        pending: status.pending,
        alarms: alarms.map((a) => ({
          id: a.name,
          state: a.state,
          detail: a.state === 'OK' ? undefined : `${a.reason} (since ${a.since})`,
        })),
        last_hour: trafficOf(lastHour.records.map((r) => r.record)),
      };
    },

    async control(command, reason) {
      const o = await stack();
      const result = await invokeOps(clients.lambda, o.opsFunctionName, {
        command,
        ...(await who()),
        ...(reason ? { reason } : {}),
      });
      return result as unknown as ControlResult;
    },

    async rotate(which, token, hubspotBaseUrl) {
      const o = await stack();
      const secretId = {
        read: o.hubspotReadSecretArn,
        write: o.hubspotWriteSecretArn,
        'slack-bot': o.slackBotTokenSecretArn,
        'slack-signing': o.slackSigningSecretArn,
      }[which];
      const by = await callerIdentity(clients.sts);
      const result = await rotateAws({
        which,
        token,
        secretId,
        secrets: clients.secrets,
        lambda: clients.lambda,
        hubspotBaseUrl,
        opsFunctionName: o.opsFunctionName,
        by,
        identity,
        slackInteractionsFunctionName: o.slackInteractionsFunctionName,
      });
      // The audit record of the rotation (the steps and their outcome, never the value), written
      // by the ops function's role like every other command's. A failure to record it must not
      // hide what the rotation did: the result is still shown, with the failure added.
      try {
        await invokeOps(clients.lambda, o.opsFunctionName, {
          command: 'record_rotation',
          by,
          identity: await identity(),
          rotation: {
            which,
            ok: result.ok,
            steps: result.steps.map((s) => ({ step: s.step, ok: s.ok })),
          },
        });
        return result;
      } catch (err) {
        return {
          ...result,
          ok: false,
          message: `${result.message} WARNING: the rotation's audit record could not be written (${err instanceof Error ? err.message : String(err)}); note what was done in the incident log.`,
        };
      }
    },

    async evidence(window, nowMs, lookbackMs = DEFAULT_LOOKBACK_MS) {
      const a = await archive();
      const main = await verifyArchiveWindow(a, { ...window, now: nowMs });
      const since = Date.parse(window.since);
      const before = await verifyArchiveWindow(a, {
        since: new Date(since - lookbackMs).toISOString(),
        until: window.since,
        now: nowMs,
      });
      return {
        integrity: main.integrity,
        records: main.records,
        context: before.records.map((r) => r.record),
        material: main.material,
      };
    },
  };
}

function defaultClients(region?: string): AwsClients {
  const config = region ? { region } : {};
  return {
    cfn: new CloudFormationClient(config),
    lambda: new LambdaClient(config),
    cw: new CloudWatchClient(config),
    // Checksums are checked by the verifier, so a mismatch is reported rather than thrown.
    s3: auditArchiveClient(config),
    secrets: new SecretsManagerClient(config),
    sts: new STSClient(config),
  };
}

/** The last hour's traffic, counted from the audit records exactly as the metrics count them. */
export function trafficOf(records: Parameters<typeof observe>[0][]): StatusView['last_hour'] {
  const out = {
    requests: 0,
    rejections: 0,
    records_returned: 0,
    rejections_by_reason: {} as Record<string, number>,
  };
  const readers = new Map<string, number>();
  for (const r of records) {
    const o = observe(r);
    out.requests += o.values.Requests ?? 0;
    out.rejections += o.values.Rejections ?? 0;
    out.records_returned += o.values.RecordsReturned ?? 0;
    if (o.values.Rejections && o.reason) {
      out.rejections_by_reason[o.reason] = (out.rejections_by_reason[o.reason] ?? 0) + 1;
    }
    if (o.values.RecordsReturned && o.userId) {
      readers.set(o.userId, (readers.get(o.userId) ?? 0) + o.values.RecordsReturned);
    }
  }
  const top_readers = [...readers.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([user_id, n]) => ({ user_id, records: n }));
  return { ...out, top_readers };
}
