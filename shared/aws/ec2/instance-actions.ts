/** Acting on an instance: stopping, terminating, rebooting it, its source/destination check, and waiting for its state. */
import {
  DescribeInstancesCommand,
  ModifyInstanceAttributeCommand,
  RebootInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { AwsCallError } from '../../use-cases/errors.js';
import { call } from '../errors.js';
import { INSTANCE_NOT_FOUND, callOr, type Ec2Context } from './common.js';

export async function disableSourceDestCheck(ec2: Ec2Context, instanceId: string): Promise<void> {
  await call('ModifyInstanceAttribute', () =>
    ec2.client.send(new ModifyInstanceAttributeCommand({ InstanceId: instanceId, SourceDestCheck: { Value: false } })),
  );
}

export async function waitUntilRunning(ec2: Ec2Context, instanceId: string, maxWaitSeconds: number): Promise<void> {
  await waitForState(ec2, instanceId, 'running', ['pending'], maxWaitSeconds);
}

export async function stopInstance(ec2: Ec2Context, instanceId: string): Promise<'stopping' | 'gone'> {
  // Never Force: a forced stop gives the instance no "opportunity to flush file system caches or
  // file system metadata" (API_StopInstances, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_StopInstances.html).
  const stop = async () => {
    await ec2.client.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    return 'stopping' as const;
  };
  return callOr('StopInstances', stop, INSTANCE_NOT_FOUND, 'gone' as const);
}

export async function waitUntilStopped(ec2: Ec2Context, instanceId: string, maxWaitSeconds: number): Promise<void> {
  // Just after StopInstances, DescribeInstances may still say running (eventual consistency).
  await waitForState(ec2, instanceId, 'stopped', ['running', 'stopping'], maxWaitSeconds);
}

/**
 * Not the SDK's waiters: they poll on through every error, a refused DescribeInstances
 * included, until their time is up. Here only an instance in a state on its way to `target`
 * (or one EC2 does not list yet, just after its launch) is polled again; a refusal, or any
 * other state, fails at once.
 */
async function waitForState(
  ec2: Ec2Context,
  instanceId: string,
  target: string,
  onTheWay: readonly string[],
  maxWaitSeconds: number,
): Promise<void> {
  const deadline = Date.now() + maxWaitSeconds * 1000;
  for (let delay = 2_000; ; delay = Math.min(delay * 2, 10_000)) {
    const describe = () => ec2.client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const out = await callOr('DescribeInstances', describe, INSTANCE_NOT_FOUND, undefined);
    const state = out?.Reservations?.[0]?.Instances?.[0]?.State?.Name;
    if (state === target) return;
    if (state !== undefined && !onTheWay.includes(state))
      throw new AwsCallError('IncorrectInstanceState', 'DescribeInstances', `${instanceId} is ${state}, not ${target}`, false);
    if (Date.now() + delay > deadline)
      throw new AwsCallError('TimeoutError', 'DescribeInstances', `${instanceId} is not ${target} after ${maxWaitSeconds} s`, true);
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

export async function terminateInstance(ec2: Ec2Context, instanceId: string): Promise<'terminated' | 'gone'> {
  const terminate = async () => {
    await ec2.client.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    return 'terminated' as const;
  };
  return callOr('TerminateInstances', terminate, INSTANCE_NOT_FOUND, 'gone' as const);
}

export async function rebootInstance(ec2: Ec2Context, instanceId: string): Promise<void> {
  // An instance that is gone has nothing to reboot: its state change is recovery's next signal.
  const reboot = async () => {
    await ec2.client.send(new RebootInstancesCommand({ InstanceIds: [instanceId] }));
  };
  await callOr('RebootInstances', reboot, INSTANCE_NOT_FOUND, undefined);
}
