/**
 * EC2 Auto Scaling: the groups promotion refreshes once their launch template holds the new image.
 * Only promotion uses it, so only the promote function's (and the CLI's) bundle carries its client.
 */
import { DescribeAutoScalingGroupsCommand, StartInstanceRefreshCommand, type AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { tagRecord } from '../domain/tags.js';
import type { GroupPort, GroupView, RefreshPreferences } from '../use-cases/ports.js';
import { call, toAwsCallError } from './errors.js';

export class AutoScalingGateway implements GroupPort {
  constructor(private readonly client: AutoScalingClient) {}

  async describeGroup(name: string): Promise<GroupView | undefined> {
    const out = await call('DescribeAutoScalingGroups', () =>
      this.client.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] })),
    );
    const g = out.AutoScalingGroups?.[0];
    if (!g?.AutoScalingGroupName) return undefined;
    const lt = g.LaunchTemplate;
    return {
      name: g.AutoScalingGroupName,
      tags: tagRecord((g.Tags ?? []).map((t) => ({ Key: t.Key, Value: t.Value }))),
      ...(lt
        ? {
            launchTemplate: {
              ...(lt.LaunchTemplateId ? { id: lt.LaunchTemplateId } : {}),
              ...(lt.LaunchTemplateName ? { name: lt.LaunchTemplateName } : {}),
              version: lt.Version ?? '$Default',
            },
          }
        : {}),
      mixedInstances: g.MixedInstancesPolicy !== undefined,
      ...(g.LaunchConfigurationName ? { launchConfigurationName: g.LaunchConfigurationName } : {}),
    };
  }

  /**
   * StartInstanceRefresh with the stage's preferences. "InstanceRefreshInProgress: The request
   * failed because an active instance refresh already exists for the specified Auto Scaling
   * group" (StartInstanceRefresh, Errors:
   * https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_StartInstanceRefresh.html):
   * answered, not thrown, so that the caller reports it once rather than retrying.
   */
  async startInstanceRefresh(name: string, preferences: RefreshPreferences): Promise<{ refreshId: string } | { inProgress: string }> {
    try {
      const out = await this.client.send(
        new StartInstanceRefreshCommand({
          AutoScalingGroupName: name,
          Strategy: 'Rolling',
          Preferences: {
            MinHealthyPercentage: preferences.minHealthyPercentage,
            SkipMatching: preferences.skipMatching,
            ...(preferences.checkpointPercentages.length > 0 ? { CheckpointPercentages: preferences.checkpointPercentages } : {}),
          },
        }),
      );
      return { refreshId: out.InstanceRefreshId ?? '' };
    } catch (error) {
      const mapped = toAwsCallError('StartInstanceRefresh', error);
      // The SDK names the error by its shape, InstanceRefreshInProgressFault; the wire code is InstanceRefreshInProgress.
      if (mapped.code === 'InstanceRefreshInProgressFault' || mapped.code === 'InstanceRefreshInProgress')
        return { inProgress: mapped.message };
      throw mapped;
    }
  }
}
