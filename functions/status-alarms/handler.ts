/** Hourly (when enabled per stage) or on demand: one status-check alarm per instance opted in to recovery. */
import { cloudWatchClient } from '../../shared/aws/clients.js';
import { CloudWatchGateway } from '../../shared/aws/cloudwatch-gateway.js';
import { statusAlarmsEc2 } from '../../shared/aws/ec2/gateways.js';
import { StatusAlarmsRequest } from '../../shared/domain/incoming.js';
import { quietDeps } from '../../shared/runtime/deps.js';
import { eventHandler } from '../../shared/runtime/middleware.js';
import { syncStatusAlarms } from '../../shared/use-cases/sync-status-alarms.js';

// It publishes nothing: no EventBridge client (quietDeps).
const deps = quietDeps(statusAlarmsEc2);
// Only this function talks to CloudWatch: the others' bundles stay without its client.
const alarms = new CloudWatchGateway(cloudWatchClient());

export const handler = eventHandler('statusAlarms', StatusAlarmsRequest, () => syncStatusAlarms(deps, alarms));
