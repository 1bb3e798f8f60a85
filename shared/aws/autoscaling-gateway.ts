/**
 * EC2 Auto Scaling: the groups promotion refreshes once their launch template holds the new image.
 * Only promotion uses it, so only the promote function's (and the CLI's) bundle carries its client.
 */
import {
  DescribeAutoScalingGroupsCommand,
  paginateDescribeAutoScalingGroups,
  paginateDescribeLaunchConfigurations,
  StartInstanceRefreshCommand,
  type AutoScalingClient,
} from '@aws-sdk/client-auto-scaling';
import { tagRecord } from '../domain/tags.js';
import type { GroupPort, GroupView, LaunchConfigurationImage, RefreshPreferences, StaleGroupsPort } from '../use-cases/ports.js';
import { call, pages, toAwsCallError } from './errors.js';

/**
 * Page size of DescribeLaunchConfigurations and DescribeAutoScalingGroups: "The default value is 50
 * and the maximum value is 100." (API reference, DescribeLaunchConfigurations, MaxRecords,
 * https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeLaunchConfigurations.html).
 */
const MAX_RECORDS = 100;

export class AutoScalingGateway implements GroupPort, StaleGroupsPort {
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

  listLaunchConfigurationImages(): AsyncIterable<LaunchConfigurationImage[]> {
    return pages(
      'DescribeLaunchConfigurations',
      paginateDescribeLaunchConfigurations({ client: this.client, pageSize: MAX_RECORDS }, {}),
      (page) =>
        (page.LaunchConfigurations ?? []).flatMap((c) =>
          c.LaunchConfigurationName && c.ImageId ? [{ name: c.LaunchConfigurationName, imageId: c.ImageId }] : [],
        ),
    );
  }

  listGroupLaunchConfigurations(): AsyncIterable<Array<{ name: string; launchConfigurationName?: string | undefined }>> {
    return pages(
      'DescribeAutoScalingGroups',
      // IncludeInstances false: only the group's launch source is read, not its instances (EC2's own listing has them).
      paginateDescribeAutoScalingGroups({ client: this.client, pageSize: MAX_RECORDS }, { IncludeInstances: false }),
      (page) =>
        (page.AutoScalingGroups ?? []).flatMap((g) =>
          g.AutoScalingGroupName ? [{ name: g.AutoScalingGroupName, launchConfigurationName: g.LaunchConfigurationName }] : [],
        ),
    );
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
