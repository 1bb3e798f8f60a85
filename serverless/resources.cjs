'use strict';
// The `resources` of serverless.yml: every resource osls does not generate from `functions`,
// each shape written once and applied to each function of FUNCTIONS below. The CLI and the
// test harness read it through the same include (cli/serverless-config.ts). The packaged
// template is held equal to test/fixtures/packaged-template.json (template-equivalence.test.ts).

const { defined, ref, getAtt, arnOf, MANAGED_BY, arn, allow, deny, policy, role } = require('./cfn.cjs');
const { statements, conditionalPolicies } = require('./roles.cjs');

const BUS = '${self:custom.eventBusName}';
/** A rule of custom.ruleNames, on the default bus (AWS's events) or on the stack's own bus. */
const rule = (name) => arn.rule(`\${self:custom.ruleNames.${name}}`);
const busRule = (name) => arn.rule(`\${self:custom.ruleNames.${name}}`, BUS);

// How long EventBridge (a rule's target or a schedule) keeps trying to hand an event on.
const SIX_HOURS = { MaximumEventAgeInSeconds: 21600, MaximumRetryAttempts: 20 };
// Hourly: a delivery older than the next run is worth nothing.
const UNTIL_NEXT_HOUR = { MaximumEventAgeInSeconds: 3000, MaximumRetryAttempts: 10 };
// Every 15 minutes: a sweep older than the next is worth nothing.
const UNTIL_NEXT_SWEEP = { MaximumEventAgeInSeconds: 600, MaximumRetryAttempts: 5 };

/**
 * The functions of serverless.yml, by key, and what their shared resources say of them: what each
 * `does` (its role's description) and what its dead-letter queue holds (`dlqHolds`, for its alarm);
 * the EventBridge `rules` whose undelivered events that queue admits (aws:SourceArn); `scheduler`:
 * its schedules, one retry policy per schedule event in order; `queue`: fed by an SQS queue, whose
 * redrive policy moves failures, so its role sends nothing to the dead-letter queue;
 * `publishes: false`: puts nothing on the stack's bus.
 */
const FUNCTIONS = {
  schedule: {
    does: 'settles pending images, fans out bake requests',
    dlqHolds: 'Nightly/weekly schedule runs that failed',
    scheduler: { describes: 'nightly and weekly schedules', retry: [SIX_HOURS, SIX_HOURS] },
  },
  bake: {
    does: 'creates the AMI of one opted-in instance, captures its launch configuration',
    dlqHolds: 'Bake requests that failed three times',
    rules: [busRule('bake')],
    queue: true,
  },
  imageState: {
    does: 'marks managed images good or failed',
    dlqHolds: 'AMI state changes that failed three times',
    rules: [rule('imageState')],
    queue: true,
  },
  promote: {
    does: 'promotes good images into SSM parameters, launch templates and Auto Scaling groups',
    dlqHolds: 'Promotions that failed',
    rules: [busRule('promote')],
    scheduler: { describes: 'daily promotion catch-up', retry: [SIX_HOURS] },
  },
  rotate: {
    does: 'deletes managed images and snapshots beyond retention',
    dlqHolds: 'Daily rotations that failed',
    scheduler: { describes: 'daily rotation', retry: [SIX_HOURS] },
  },
  recover: {
    does: 'relaunches a failed opted-in instance from its last good AMI',
    dlqHolds: 'Recovery triggers that failed',
    rules: [rule('recoverStateChange'), rule('recoverStatusAlarm'), rule('recoverHealth')],
    // No schedule of its own: the role runs the one-time rechecks the function schedules itself.
    // By name: the function's environment names the role, so Fn::GetAtt of the function would be a cycle.
    scheduler: { describes: 'one-time rechecks of deferred recoveries', retry: [], byName: true },
  },
  statusAlarms: {
    does: 'keeps the status-check alarms of opted-in instances',
    dlqHolds: 'Status-check alarm synchronisations that failed',
    scheduler: { describes: 'hourly status-check alarm sync', retry: [UNTIL_NEXT_HOUR] },
    publishes: false,
  },
  copy: {
    does: 'copies good images to the disaster-recovery regions, settles the copies',
    dlqHolds: 'Copy passes that failed',
    rules: [busRule('copy'), rule('copySweep')],
    queue: true,
  },
  verify: {
    does: 'boots a test instance from each image to verify, ends it',
    dlqHolds: 'Verification steps that failed',
    rules: [busRule('verify')],
    // The sweep, and the one-time schedules the function makes itself (by name, as recover's).
    scheduler: { describes: 'verification sweep and one-time checks', retry: [UNTIL_NEXT_SWEEP], byName: true },
  },
};
// Each with the prefix of its logical ids, as osls writes it (imageState: ImageState), and its key in names (image-state).
const pascal = (key) => key[0].toUpperCase() + key.slice(1);
const kebab = (key) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const FNS = Object.entries(FUNCTIONS).map(([key, fn]) => ({ key, id: pascal(key), kebab: kebab(key), ...fn }));
const fnOf = (key) => FNS.find((f) => f.key === key);
/** The resources `build` returns for each function (or for each scheduled one), merged. */
const each = (build, fns = FNS) => Object.assign({}, ...fns.map(build));
const scheduled = FNS.filter((f) => f.scheduler);

// ---- alarms -----------------------------------------------------------------------------------
// Each notifies params.alarmTopicArn of ALARM and OK, when there is one.
const ACTIONS = { 'Fn::If': ['HasAlarmTopic', [ref('AlarmTopicArn')], ref('AWS::NoValue')] };

/** An alarm when what it watches goes above 0 (or its Threshold); missing data is not breaching. */
const alarm = (name, AlarmDescription, watch) => ({
  Type: 'AWS::CloudWatch::Alarm',
  Properties: {
    AlarmName: `${MANAGED_BY}-${name}`,
    AlarmDescription,
    EvaluationPeriods: 1,
    Threshold: 0,
    ComparisonOperator: 'GreaterThanThreshold',
    TreatMissingData: 'notBreaching',
    ...watch,
    AlarmActions: ACTIONS,
    OKActions: ACTIONS,
  },
});

/** The maximum over five minutes of a queue's metric. */
const onQueue = (queueId, MetricName, Threshold = 0) => ({
  Namespace: 'AWS/SQS',
  MetricName,
  Dimensions: [{ Name: 'QueueName', Value: getAtt(queueId, 'QueueName') }],
  Statistic: 'Maximum',
  Period: 300,
  Threshold,
});

// The service's own metrics (Powertools, EMF): namespace AmiLifecycle, dimension service=<managed-by>.
const Namespace = 'AmiLifecycle';
const Dimensions = [{ Name: 'service', Value: MANAGED_BY }];
const onMetric = (MetricName, Period, Statistic = 'Sum') => ({ Namespace, MetricName, Dimensions, Statistic, Period });
const hourlySum = (Id, MetricName) => ({
  Id,
  MetricStat: { Metric: { Namespace, MetricName, Dimensions }, Period: 3600, Stat: 'Sum' },
  ReturnData: false,
});

// ---- queues -----------------------------------------------------------------------------------

const EVENTBRIDGE = { Service: 'events.amazonaws.com' };
/** TLS only; and, when rules are given, what EventBridge sends from exactly those rules. */
const queuePolicy = (queueId, allowSid, ruleArns) => ({
  Type: 'AWS::SQS::QueuePolicy',
  Properties: {
    Queues: [ref(queueId)],
    PolicyDocument: policy([
      deny('DenyUnencryptedTransport', 'sqs:*', arnOf(queueId), { Bool: { 'aws:SecureTransport': 'false' } }, '*'),
      ...(ruleArns ? [allow(allowSid, 'sqs:SendMessage', arnOf(queueId), { ArnEquals: { 'aws:SourceArn': ruleArns } }, EVENTBRIDGE)] : []),
    ]),
  },
});

// Dead-letter queues, one per function, each with an alarm: what a function's scheduler or rule
// could not deliver, and the invocation records of what failed after Lambda's retries
// (on-failure destination). 14 days to look, SSE (SQS-managed keys); TLS only. docs/operations.md "When a
// dead-letter queue alarm fires" says how to inspect and redrive.
const deadLetterQueue = (f) => ({
  [`${f.id}Dlq`]: {
    Type: 'AWS::SQS::Queue',
    Properties: { QueueName: `${MANAGED_BY}-${f.key}-dlq`, MessageRetentionPeriod: 1209600, SqsManagedSseEnabled: true },
  },
  [`${f.id}DlqPolicy`]: queuePolicy(`${f.id}Dlq`, 'AcceptUndeliveredEventsOfOwnRules', f.rules),
  [`${f.id}DlqAlarm`]: alarm(
    `${f.key}-dlq`,
    `${f.dlqHolds} or could not be delivered are waiting in ${MANAGED_BY}-${f.key}-dlq (docs/operations.md, "When a dead-letter queue alarm fires")`,
    onQueue(`${f.id}Dlq`, 'ApproximateNumberOfMessagesVisible'),
  ),
});

// ---- roles ------------------------------------------------------------------------------------

// One role per function: only the actions its code sends (roles.cjs). Each role writes only its
// own log group and sends failed invocations only to its own dead-letter queue.
const functionRole = (f) => ({
  [`${f.id}Role`]: role(`ami-lifecycle \${sls:stage} ${f.key} function (${f.does})`, 'lambda.amazonaws.com', undefined, f.kebab, [
    allow('WriteOwnLogs', ['logs:CreateLogStream', 'logs:PutLogEvents'], arnOf(`${f.id}LogGroup`)),
    // A queue's event source mapping polls with the role ("Lambda execution role permissions", Using Lambda with Amazon SQS).
    ...(f.queue
      ? [allow('ReceiveFromOwnQueue', ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'], arnOf(`${f.id}Queue`))]
      : [allow('SendFailedInvocationsToOwnDlq', 'sqs:SendMessage', arnOf(`${f.id}Dlq`))]),
    ...statements[f.key],
    ...(f.publishes === false ? [] : [allow('PublishToOwnBus', 'events:PutEvents', arnOf('EventBus'))]),
  ]),
});

// EventBridge Scheduler: one execution role per scheduled function. The scheduler assumes it
// (only for schedules of this account's default group) to invoke that one function, and to put
// what it could not deliver in that function's dead-letter queue. The schedules osls generates
// from the functions' schedule events are completed with what its schedule event cannot say: a
// retry policy and a dead-letter queue (merged into the generated resources of the same logical id).
const fromDefaultScheduleGroup = {
  StringEquals: { 'aws:SourceAccount': ref('AWS::AccountId'), 'aws:SourceArn': arn.inRegion('scheduler', 'schedule-group/default') },
};
const scheduler = (f) => ({
  [`${f.id}SchedulerRole`]: role(
    `ami-lifecycle \${sls:stage} scheduler, ${f.scheduler.describes} -> ${f.key} function`,
    'scheduler.amazonaws.com',
    fromDefaultScheduleGroup,
    `invoke-${f.kebab}`,
    [
      allow(
        'InvokeTheFunction',
        'lambda:InvokeFunction',
        f.scheduler.byName ? arn.inRegion('lambda', `function:\${self:service}-\${sls:stage}-${f.key}`) : arnOf(`${f.id}LambdaFunction`),
      ),
      allow('SendUndeliveredToItsDlq', 'sqs:SendMessage', arnOf(`${f.id}Dlq`)),
    ],
  ),
  ...Object.fromEntries(
    f.scheduler.retry.map((RetryPolicy, i) => [
      `${f.id}SchedulerSchedule${i + 1}`,
      { Type: 'AWS::Scheduler::Schedule', Properties: { Target: { RetryPolicy, DeadLetterConfig: { Arn: arnOf(`${f.id}Dlq`) } } } },
    ]),
  ),
});

/**
 * A queue between an EventBridge rule (default bus, or `EventBusName`) and the function polling it
 * (`queue: true`): only the rule may send (aws:SourceArn); what the rule cannot hand on in six hours,
 * or a record received three times, goes to the function's DLQ. Four days: more than any backlog.
 *
 * `fifo` (the copy function, issue 17): a FIFO queue with one message group, so that Lambda hands
 * the function one batch at a time ("Messages within the same message group are always processed
 * one at a time, in strict order", "Using the message group ID with Amazon SQS FIFO Queues",
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/using-messagegroupid-property.html).
 * Each rule's target names the group (SqsParameters.MessageGroupId), and the queue deduplicates by
 * content, as a FIFO target requires ("If you specify an SQS FIFO queue as a target, the queue must
 * have content-based deduplication enabled", EventBridge API reference, SqsParameters,
 * https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_SqsParameters.html). A FIFO
 * queue's dead-letter queue is a FIFO queue too ("if the dead-letter queue is a FIFO queue, the
 * redrive destination queue must be a FIFO queue as well", "Learn how to configure a dead-letter
 * queue redrive in Amazon SQS", https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-dead-letter-queue-redrive.html),
 * while a rule's dead-letter queue must be a standard one ("EventBridge DLQs are standard Amazon SQS
 * queues", "Using dead-letter queues to process undelivered events in EventBridge",
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html): the records go to
 * `<function>QueueDlq`, the rules' undelivered events to the function's own DLQ. `more`: other
 * rules into the same queue, each `{ id, name, ruleArn, RetryPolicy, properties }`.
 */
const ruleQueue = (f, VisibilityTimeout, sid, ruleArn, { EventBusName, EventPattern }, { fifo, more = [] } = {}) => {
  const target = (RetryPolicy) =>
    defined({
      Id: `${f.kebab}-queue`,
      Arn: arnOf(`${f.id}Queue`),
      RetryPolicy,
      DeadLetterConfig: { Arn: arnOf(`${f.id}Dlq`) },
      SqsParameters: fifo ? { MessageGroupId: fifo.groupId } : undefined,
    });
  const redriveTo = fifo ? `${f.id}QueueDlq` : `${f.id}Dlq`;
  return {
    [`${f.id}Rule`]: {
      Type: 'AWS::Events::Rule',
      Properties: defined({ Name: `\${self:custom.ruleNames.${f.key}}`, EventBusName, EventPattern, Targets: [target(SIX_HOURS)] }),
    },
    ...Object.fromEntries(
      more.map((r) => [
        r.id,
        { Type: 'AWS::Events::Rule', Properties: defined({ Name: r.name, ...r.properties, Targets: [target(r.RetryPolicy)] }) },
      ]),
    ),
    [`${f.id}Queue`]: {
      Type: 'AWS::SQS::Queue',
      Properties: defined({
        QueueName: `${MANAGED_BY}-${f.key}${fifo ? '.fifo' : ''}`,
        FifoQueue: fifo ? true : undefined,
        ContentBasedDeduplication: fifo ? true : undefined,
        VisibilityTimeout,
        MessageRetentionPeriod: 345600,
        SqsManagedSseEnabled: true,
        RedrivePolicy: { deadLetterTargetArn: arnOf(redriveTo), maxReceiveCount: 3 },
      }),
    },
    [`${f.id}QueuePolicy`]: queuePolicy(`${f.id}Queue`, sid, [ruleArn, ...more.map((r) => r.ruleArn)]),
    ...(fifo
      ? {
          [`${f.id}QueueDlq`]: {
            Type: 'AWS::SQS::Queue',
            Properties: {
              QueueName: `${MANAGED_BY}-${f.key}-queue-dlq.fifo`,
              FifoQueue: true,
              MessageRetentionPeriod: 1209600,
              SqsManagedSseEnabled: true,
            },
          },
          [`${f.id}QueueDlqPolicy`]: queuePolicy(`${f.id}QueueDlq`),
          [`${f.id}QueueDlqAlarm`]: alarm(
            `${f.key}-queue-dlq`,
            `${f.dlqHolds} three times are waiting in ${MANAGED_BY}-${f.key}-queue-dlq.fifo (docs/operations.md, "When a dead-letter queue alarm fires")`,
            onQueue(`${f.id}QueueDlq`, 'ApproximateNumberOfMessagesVisible'),
          ),
        }
      : {}),
  };
};

/** From params (set per stage there). */
const param = (name, Description, Type = 'String', AllowedValues) =>
  defined({ Type, Default: `\${param:${name}}`, AllowedValues, Description });

module.exports = {
  // CloudFormation parameters, so that the conditions below compare a parameter rather than two constants.
  Parameters: {
    AlarmTopicArn: param('alarmTopicArn', "SNS topic for the alarms' ALARM and OK notifications ('' for none)"),
    TerminateReplaced: param(
      'terminateReplaced',
      'Whether recovery may terminate the instance it replaced (params.terminateReplaced)',
      'String',
      ['true', 'false'],
    ),
    KmsKeyArns: param(
      'kmsKeyArns',
      "Customer-managed KMS keys of the fleet's EBS volumes (params.kmsKeyArns; '' for none)",
      'CommaDelimitedList',
    ),
    AdoptFilters: param('adoptFilters', "The daily run's adoption filters (params.adoptFilters, JSON; '[]' for none)"),
  },

  Conditions: {
    // Issue 19: the rotate role reads what uses any image, and tags unmanaged ones, only where adoptFilters lists any.
    AdoptsImages: {
      'Fn::Not': [{ 'Fn::Or': [{ 'Fn::Equals': [ref('AdoptFilters'), '[]'] }, { 'Fn::Equals': [ref('AdoptFilters'), ''] }] }],
    },
    HasAlarmTopic: { 'Fn::Not': [{ 'Fn::Equals': [ref('AlarmTopicArn'), ''] }] },
    TerminatesReplaced: { 'Fn::Equals': [ref('TerminateReplaced'), 'true'] },
    UsesKmsKeys: { 'Fn::Not': [{ 'Fn::Equals': [{ 'Fn::Join': ['', ref('KmsKeyArns')] }, ''] }] },
  },

  Resources: {
    EventBus: { Type: 'AWS::Events::EventBus', Properties: { Name: BUS } },
    ...each(functionRole),
    ...conditionalPolicies,
    ...each(scheduler, scheduled),
    ...each(deadLetterQueue),

    // ---- the queues of bake and imageState. Visibility timeout: six times the function's timeout, as
    // Lambda asks of a queue it polls (plus the batching window); at least the timeout, or Lambda
    // refuses the mapping ("Creating and configuring an Amazon SQS event source mapping",
    // https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html).
    // BakeRequested waits here until a bake is free: 6 x 60 s.
    ...ruleQueue(fnOf('bake'), 360, 'AcceptBakeRequestsOfOwnRule', busRule('bake'), {
      EventBusName: getAtt('EventBus', 'Name'),
      EventPattern: { source: ['ami-lifecycle'], 'detail-type': ['BakeRequested'], detail: { managedBy: [MANAGED_BY] } },
    }),
    // EC2's AMI state changes wait here to be settled a batch at a time: 6 x 120 s + 60 s.
    ...ruleQueue(fnOf('imageState'), 780, 'AcceptAmiStateChangesOfOwnRule', rule('imageState'), {
      EventPattern: { source: ['aws.ec2'], 'detail-type': ['EC2 AMI State Change'], detail: { State: ['available', 'failed'] } },
    }),
    // Issue 17: ImageBaked of an image with copy-to (`copies`, issue 18) and a 15-minute sweep wait here
    // for the copy reconcile, one batch at a time (FIFO, one message group): a pass that ran alongside
    // another could start copies past the bound. Any batch runs one full pass. 6 x 300 s.
    ...ruleQueue(
      fnOf('copy'),
      1800,
      'AcceptCopyTriggersOfOwnRules',
      busRule('copy'),
      {
        EventBusName: getAtt('EventBus', 'Name'),
        EventPattern: { source: ['ami-lifecycle'], 'detail-type': ['ImageBaked'], detail: { managedBy: [MANAGED_BY], copies: [true] } },
      },
      {
        fifo: { groupId: 'copies' },
        more: [
          {
            id: 'CopySweepRule',
            name: '${self:custom.ruleNames.copySweep}',
            ruleArn: rule('copySweep'),
            RetryPolicy: UNTIL_NEXT_SWEEP,
            // A rule's schedule runs on the default bus only ("Creating a rule that runs on a schedule in
            // Amazon EventBridge", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-rule-schedule.html).
            properties: { ScheduleExpression: 'rate(15 minutes)' },
          },
        ],
      },
    ),
    // A backlog older than six hours: bakes are not keeping up (raise params.bakeConcurrency with
    // an EC2 API rate increase), or the function fails before it reports (see its logs).
    BakeQueueAgeAlarm: alarm(
      'bake-backlog',
      `The oldest bake request in ${MANAGED_BY}-bake has waited more than six hours (docs/operations.md, "Bounding the bake")`,
      onQueue('BakeQueue', 'ApproximateAgeOfOldestMessage', 21600),
    ),

    // ---- alarms on the service's own metrics. Missing data is not breaching: a quiet hour is a good hour.

    // Hourly: a failed bake is reported within the hour (each is also an ImageBakeFailed event on
    // the bus), and the alarm returns to OK the next hour without one, ready for the next failure.
    BakeFailuresAlarm: alarm(
      'bake-failures',
      "A bake failed within the hour, refused by EC2 (ImageBakesFailed) or an AMI that turned failed (ImagesFailed); see the ImageBakeFailed events and the bake function's log",
      {
        Metrics: [
          { Id: 'failures', Label: 'Bakes refused or images failed', Expression: 'FILL(refused, 0) + FILL(failed, 0)', ReturnData: true },
          hourlySum('refused', 'ImageBakesFailed'),
          hourlySum('failed', 'ImagesFailed'),
        ],
      },
    ),
    // Five minutes: an instance that was not relaunched is down now.
    RecoveryFailedAlarm: alarm(
      'recovery-failed',
      "A recovery failed (RecoveriesFailed); the instance was not relaunched. See the RecoveryFailed event and the recover function's log",
      onMetric('RecoveriesFailed', 300),
    ),
    RecoveryGaveUpAlarm: alarm(
      'recovery-gave-up',
      'Recovery gave up on a lineage (RecoveriesGaveUp, too many relaunches within an hour); it stays down until an operator acts. See the RecoveryGaveUp event',
      onMetric('RecoveriesGaveUp', 300),
    ),
    // A day, as rotation runs: a step it skipped (an image not deregistered, a snapshot left)
    // costs storage until the next run retries it, and repeats if the cause is permanent.
    RotationFailuresAlarm: alarm(
      'rotation-failures',
      "A rotation step failed and was skipped (RotationFailures), deregistration, deprecation or snapshot deletion; see the ImagesRotated event's failures and the rotate function's log",
      onMetric('RotationFailures', 86400),
    ),
    // A day, as rotation runs: images the reference check could not clear are kept, not deleted.
    // One day's storage is cheap; every day's is not: the cause (a permission the check lacks, the
    // call not offered) does not go away by itself.
    ImagesKeptUnverifiedAlarm: alarm(
      'images-kept-unverified',
      "Rotation kept delete candidates because DescribeImageReferences could not clear them (ImagesKeptUnverified), for example a permission of the reference check missing; see the ImagesRotated event's keptUnverified and the rotate function's log",
      onMetric('ImagesKeptUnverified', 86400),
    ),
    // A day: each scheduled run reports the count of its schedule's lineages once. The alarm holds
    // for a day after a run found one, so nightly lineages keep it in ALARM until a run finds none
    // (a weekly one alarms for the day after each weekly run that finds it).
    LineageWithoutGoodImageAlarm: alarm(
      'lineage-without-good-image',
      "At least one lineage's newest good image is older than twice its schedule's period (LineagesWithoutGoodImage); see `ami-lifecycle status`",
      onMetric('LineagesWithoutGoodImage', 86400, 'Maximum'),
    ),
  },

  Outputs: {
    EventBusName: {
      Description: 'The bus ami-lifecycle publishes its events to (ImageBaked, ImageBakeFailed, PolicyInvalid, ...)',
      Value: ref('EventBus'),
    },
    EventBusArn: { Value: arnOf('EventBus') },
    ...each((f) => ({ [`${f.id}DlqUrl`]: { Description: `Dead-letter queue of the ${f.id} function`, Value: ref(`${f.id}Dlq`) } })),
  },
};
