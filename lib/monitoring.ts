import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { APPROVAL_TABLE } from '../lambdas/config/tables';
import { type AlarmRule, type AlarmThresholds, alarmRules } from '../lambdas/core/alarms';
import { NAMESPACE } from '../lambdas/core/metrics';
import { AirlockFunction } from './function-factory';

/**
 * The Logs Insights query of the dashboard's "top readers" table: the users who received the
 * most records, from the EMF lines of the validation function (one per request, with `UserId`
 * and, for completed reads, `RecordsReturned`).
 */
export const TOP_READERS_QUERY =
  'fields UserId, RecordsReturned | filter ispresent(RecordsReturned) | stats sum(RecordsReturned) as records by UserId | sort records desc | limit 10';

/** How often the approvals watch counts the pending writes (the alarm reads 5-minute periods). */
export const APPROVALS_WATCH_RATE = Duration.minutes(5);

const COMPARISON: Record<AlarmRule['comparison'], cloudwatch.ComparisonOperator> = {
  GreaterThanThreshold: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
  GreaterThanOrEqualToThreshold: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
};

export interface AirlockMonitoringProps {
  /**
   * The deployment stage: the `Stage` dimension every function emits, and the prefix of the
   * alarm and dashboard names (`CrmAirlock-<stage>-…`).
   * @default none, required
   */
  readonly stage: string;
  /**
   * Thresholds of the business alarms (`alarmRules` in `lambdas/core/alarms.ts`).
   * @default none, required
   */
  readonly thresholds: AlarmThresholds;
  /**
   * Address subscribed to the alarm topic (AWS asks it to confirm first).
   * @default no subscription
   */
  readonly alarmEmail?: string;
  /**
   * The gateway's functions, by a short label (`Validation`, `HubSpotCall`, …): each gets an
   * alarm on its `Errors` and a line on the dashboard. The approvals watch built here is added.
   * @default none, required
   */
  readonly functions: Readonly<Record<string, AirlockFunction>>;
  /**
   * The API stage whose `5XXError` and `Latency` are watched (dimensions ApiName and Stage).
   * @default none, required
   */
  readonly apiStage: apigateway.Stage;
  /**
   * The validation function's log group: the "top readers" query runs over it.
   * @default none, required
   */
  readonly validationLogGroup: logs.ILogGroup;
  /**
   * The approvals table; the watch queries its `by_status` index for pending approvals.
   * @default none, required
   */
  readonly approvalTable: dynamodb.ITable;
  /**
   * Retention of the watch function's log group.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * Watching the gateway: the alarm topic, the alarms, the dashboard, and the approvals watch that
 * turns "how long has a write been waiting" into a metric.
 *
 * - Topic: every alarm sends both its ALARM and its OK transitions to it, so a recipient knows
 *   when a problem ended. Publishing requires TLS (`enforceSSL`). Its policy replaces SNS's
 *   default policy, so it also allows CloudWatch to publish, for this stack's alarms only
 *   (`aws:SourceArn` on the `CrmAirlock-<stage>-` alarm names, `aws:SourceAccount`).
 * - Alarms: one per rule of `alarmRules(thresholds)` (declared once in `lambdas/core/alarms.ts`,
 *   also used by the local dashboard) on namespace `CrmAirlock` with `Stage=<stage>`; one per
 *   function on `AWS/Lambda` `Errors`; one on the API stage's `5XXError`. Missing data is not
 *   breaching: the gateway emits nothing while nobody uses it.
 * - The approvals watch: a function run every 5 minutes that emits `ApprovalsPending` and
 *   `OldestPendingMinutes`; it may only query the approvals table's `by_status` index.
 */
export class AirlockMonitoring extends Construct {
  public readonly topic: sns.Topic;
  /** Alarms by construct id (rule ids, `<label>Errors`, `Api5xx`). */
  public readonly alarms: Readonly<Record<string, cloudwatch.Alarm>>;
  public readonly dashboard: cloudwatch.Dashboard;
  /** Counts the pending approvals every 5 minutes (EMF metrics, no CloudWatch API call). */
  public readonly approvalsWatch: AirlockFunction;
  public readonly approvalsWatchSchedule: events.Rule;

  private readonly stage: string;

  constructor(scope: Construct, id: string, props: AirlockMonitoringProps) {
    super(scope, id);
    this.stage = props.stage;
    const alarmPrefix = `CrmAirlock-${props.stage}-`;

    this.topic = this.alarmTopic(alarmPrefix, props.alarmEmail);
    const watch = this.watch(props);
    this.approvalsWatch = watch.fn;
    this.approvalsWatchSchedule = watch.schedule;

    const functions: Record<string, AirlockFunction> = {
      ...props.functions,
      ApprovalsWatch: this.approvalsWatch,
    };
    const alarms: Record<string, cloudwatch.Alarm> = {};
    const action = new cloudwatchActions.SnsAction(this.topic);
    const addAlarm = (alarmId: string, alarmProps: cloudwatch.AlarmProps) => {
      const alarm = new cloudwatch.Alarm(this, alarmId, {
        alarmName: `${alarmPrefix}${alarmId}`,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        ...alarmProps,
      });
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
      alarms[alarmId] = alarm;
    };

    for (const rule of alarmRules(props.thresholds)) {
      addAlarm(rule.id, {
        metric: this.metric(rule.metric, rule.statistic, rule.periodSeconds, rule.dimensions),
        threshold: rule.threshold,
        evaluationPeriods: rule.evaluationPeriods,
        comparisonOperator: COMPARISON[rule.comparison],
        alarmDescription: rule.description,
      });
    }
    for (const [label, f] of Object.entries(functions)) {
      addAlarm(`${label}Errors`, {
        metric: f.function.metricErrors({ statistic: 'Sum', period: Duration.minutes(5) }),
        threshold: 0,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        alarmDescription:
          `The ${label} function failed (an exception, a timeout or out of memory) in the last ` +
          `5 minutes. Runbook: check its logs (log group ${f.logGroup.logGroupName}).`,
      });
    }
    addAlarm('Api5xx', {
      metric: props.apiStage.metricServerError({ statistic: 'Sum', period: Duration.minutes(5) }),
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      alarmDescription:
        'API Gateway answered 5xx in the last 5 minutes: an integration failed (a function ' +
        'crashed or timed out) before the gateway could answer itself. Runbook: status; check ' +
        'the API access log and the validation function logs.',
    });
    this.alarms = alarms;

    this.dashboard = this.buildDashboard(props, functions, Object.values(alarms));
  }

  /** A metric of the gateway (namespace `CrmAirlock`) for this stage. */
  private metric(
    name: string,
    statistic: string,
    periodSeconds: number,
    dimensions: Record<string, string> = {},
    label?: string,
  ): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: NAMESPACE,
      metricName: name,
      dimensionsMap: { ...dimensions, Stage: this.stage },
      statistic,
      period: Duration.seconds(periodSeconds),
      ...(label === undefined ? {} : { label }),
    });
  }

  private alarmTopic(alarmPrefix: string, alarmEmail: string | undefined): sns.Topic {
    const topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: `CRM Airlock (${this.stage}) alarms`,
      enforceSSL: true,
    });
    const stack = Stack.of(this);
    topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AlarmsOfThisStackPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: {
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: `${alarmPrefix}*`,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
          StringEquals: { 'aws:SourceAccount': stack.account },
        },
      }),
    );
    Validations.of(topic).acknowledge({
      id: 'AwsSolutions-SNS2',
      reason:
        'Alarm notifications carry alarm names, descriptions and metric values: no CRM data, no ' +
        'token. CloudWatch cannot publish to a topic encrypted with the AWS-managed aws/sns key ' +
        '(its key policy cannot grant CloudWatch), and a customer-managed key would add cost and ' +
        'a key policy for no confidentiality gain: the e-mails leave AWS in clear anyway.',
    });

    if (alarmEmail !== undefined) {
      const subscription = new sns.Subscription(this, 'AlarmEmail', {
        topic,
        protocol: sns.SubscriptionProtocol.EMAIL,
        endpoint: alarmEmail,
      });
      Validations.of(subscription).acknowledge({
        id: 'Serverless-SNSRedrivePolicy',
        reason:
          'An e-mail subscription: SNS retries delivery itself, and a dead-letter queue would ' +
          'hold alarm notifications nobody reads. The alarm states stay on the dashboard and in ' +
          'the CloudWatch console whatever the mail does.',
      });
    }
    return topic;
  }

  private watch(props: AirlockMonitoringProps): { fn: AirlockFunction; schedule: events.Rule } {
    const fn = new AirlockFunction(this, 'ApprovalsWatch', {
      entry: 'lambdas/aws/approvals-watch.ts',
      // 256 MB: one paginated DynamoDB query and one log line; small, but the SDK's cold start
      // is CPU-bound, and 288 runs a day cost next to nothing at any size.
      memorySize: 256,
      // A query of the few pending approvals takes well under a second; 30 s covers retries.
      timeout: Duration.seconds(30),
      invokedSynchronouslyBy: 'nobody (EventBridge schedule)',
      scheduledWithoutDlqBecause:
        'Invoked asynchronously by its EventBridge schedule every 5 minutes with an empty event: ' +
        'a failed run loses nothing worth a dead-letter queue; its Errors alarm reports it and ' +
        'the next run replaces it 5 minutes later.',
      ...(props.logRetention === undefined ? {} : { logRetention: props.logRetention }),
      environment: {
        APPROVAL_TABLE_NAME: props.approvalTable.tableName,
        AIRLOCK_STAGE: props.stage,
      },
    });
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${props.approvalTable.tableArn}/index/${APPROVAL_TABLE.byStatusIndex}`],
      }),
    );

    const schedule = new events.Rule(this, 'ApprovalsWatchSchedule', {
      description: `CRM Airlock (${props.stage}): count the pending approvals every 5 minutes`,
      schedule: events.Schedule.rate(APPROVALS_WATCH_RATE),
      targets: [
        new targets.LambdaFunction(fn.function, {
          // A run that could not start within its period is superseded by the next one.
          maxEventAge: APPROVALS_WATCH_RATE,
          retryAttempts: 2,
        }),
      ],
    });
    Validations.of(schedule).acknowledge({
      id: 'Serverless-EventBusDLQ',
      reason:
        'The scheduled event carries no data: an undelivered one only means one missing data ' +
        'point of ApprovalsPending, and the next run comes 5 minutes later. A dead-letter queue ' +
        'would collect empty timer events.',
    });
    return { fn, schedule };
  }

  private buildDashboard(
    props: AirlockMonitoringProps,
    functions: Record<string, AirlockFunction>,
    alarms: cloudwatch.Alarm[],
  ): cloudwatch.Dashboard {
    const fiveMin = 300;
    const sum = (name: string, label: string, period = fiveMin) =>
      this.metric(name, 'Sum', period, {}, label);
    const { thresholds, apiStage } = props;

    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `CrmAirlock-${props.stage}`,
      defaultInterval: Duration.hours(3),
    });
    dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms, width: 24, height: 4 }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Traffic (requests per 5 minutes)',
        width: 12,
        left: [
          sum('Requests', 'Requests'),
          sum('Rejections', 'Rejected'),
          sum('RateLimited', 'Rate limited'),
        ],
      }),
      new cloudwatch.GraphWidget({
        title: 'Latency (ms)',
        width: 12,
        left: [
          this.metric('HubSpotLatency', 'Average', fiveMin, {}, 'HubSpot, average'),
          this.metric('HubSpotLatency', 'p99', fiveMin, {}, 'HubSpot, p99'),
          apiStage.metricLatency({ statistic: 'Average', label: 'API Gateway, average' }),
          apiStage.metricLatency({ statistic: 'p99', label: 'API Gateway, p99' }),
        ],
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Errors (per 5 minutes)',
        width: 12,
        left: [
          sum('ServerErrors', 'Gateway 5xx answers'),
          apiStage.metricServerError({ statistic: 'Sum', label: 'API Gateway 5XXError' }),
          ...Object.entries(functions).map(([label, f]) =>
            f.function.metricErrors({ statistic: 'Sum', label: `${label} errors` }),
          ),
        ],
      }),
      new cloudwatch.GraphWidget({
        title: 'Reads per minute',
        width: 12,
        left: [
          sum('ContactReads', 'Contact records read', 60),
          sum('RecordsReturned', 'All records returned', 60),
        ],
        leftAnnotations: [
          {
            value: thresholds.contactReadsPerMinute,
            label: `ContactReadRate alarm: above ${thresholds.contactReadsPerMinute} contact reads per minute`,
            color: cloudwatch.Color.RED,
          },
        ],
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Rejections by reason (per 5 minutes)',
        width: 12,
        left: [
          new cloudwatch.MathExpression({
            expression: `SEARCH('{${NAMESPACE},Stage,Reason} Stage="${props.stage}" MetricName="Rejections"', 'Sum', ${fiveMin})`,
            usingMetrics: {},
            label: '',
            period: Duration.seconds(fiveMin),
          }),
        ],
      }),
      new cloudwatch.GraphWidget({
        title: 'Approvals',
        width: 12,
        left: [
          sum('ApprovalsRequested', 'Requested'),
          sum('ApprovalsApproved', 'Approved'),
          sum('ApprovalsDenied', 'Denied'),
          sum('ApprovalsExpired', 'Expired'),
          this.metric('ApprovalsPending', 'Maximum', fiveMin, {}, 'Pending'),
        ],
        right: [
          this.metric('OldestPendingMinutes', 'Maximum', fiveMin, {}, 'Oldest pending (minutes)'),
        ],
        rightAnnotations: [
          {
            value: thresholds.pendingMinutes,
            label: `ApprovalsPendingTooLong alarm: above ${thresholds.pendingMinutes} minutes`,
            color: cloudwatch.Color.ORANGE,
          },
        ],
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.LogQueryWidget({
        title: 'Users with the most records read (validation function logs)',
        width: 24,
        logGroupNames: [props.validationLogGroup.logGroupName],
        queryString: TOP_READERS_QUERY,
        view: cloudwatch.LogQueryVisualizationType.TABLE,
      }),
    );
    return dashboard;
  }
}
