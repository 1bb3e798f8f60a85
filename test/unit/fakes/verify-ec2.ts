/** The in-memory verify slice (verifyImage, sweepVerifications), and SSM's Run Command on a test instance. */
import type { ImageView } from '../../../shared/domain/image-status.js';
import { TAG } from '../../../shared/domain/tags.js';
import type { CommandResult } from '../../../shared/domain/verification.js';
import type { TestLaunchSpec, VerifyEc2 } from '../../../shared/use-cases/ec2-ports.js';
import type { CommandPort } from '../../../shared/use-cases/ports.js';
import type { FakeEc2Account } from './ec2-account.js';
import { ec2Tagging } from './ec2-shared.js';
import { recoveryEc2 } from './recovery-ec2.js';

/** Test launches by client token: EC2 answers a repeated token with the instance it launched first. */
const testLaunches = new WeakMap<
  FakeEc2Account,
  { byToken: Map<string, string>; specs: TestLaunchSpec[]; consoles: Map<string, string> }
>();
export const testLaunchesOf = (a: FakeEc2Account) => {
  let state = testLaunches.get(a);
  if (!state) testLaunches.set(a, (state = { byToken: new Map(), specs: [], consoles: new Map() }));
  return state;
};

export const verifyEc2 = (a: FakeEc2Account): VerifyEc2 => {
  const recovery = recoveryEc2(a);
  return {
    ...ec2Tagging(a),
    async describeImages(imageIds: readonly string[]) {
      a.recoveryCall('DescribeImages');
      const found = new Map<string, ImageView>();
      for (const id of imageIds) {
        const image = a.images.get(id);
        if (image) found.set(id, { ...a.view(image), ebsDevices: ['/dev/xvda'] });
      }
      return found;
    },
    async *listImagesByStatus(managedBy: string, status: string) {
      a.recoveryCall('DescribeImages');
      yield* a.pages(
        [...a.images.values()]
          .filter((i) => i.tags[TAG.managedBy] === managedBy && i.tags[TAG.status] === status)
          .map((i) => ({ ...a.view(i), ebsDevices: ['/dev/xvda'] })),
      );
    },
    async listTestInstances(managedBy: string, imageId?: string) {
      a.recoveryCall('DescribeInstances');
      return [...a.instances.values()]
        .filter((i) => i.tags[TAG.managedBy] === managedBy && i.tags[TAG.role] === 'verification')
        .filter((i) => imageId === undefined || i.tags[TAG.verifies] === imageId)
        .map((i) => ({
          instanceId: i.instanceId,
          state: i.state,
          launchTime: i.launchTime ?? a.clock(),
          imageId: i.tags[TAG.verifies],
          instanceType: i.launch?.instanceType,
        }));
    },
    readLaunchConfig: recovery.readLaunchConfig,
    async runTestInstance(spec: TestLaunchSpec) {
      a.recoveryCall('RunInstances');
      const state = testLaunchesOf(a);
      state.specs.push(structuredClone(spec));
      const earlier = state.byToken.get(spec.clientToken);
      if (earlier) return earlier;
      const instanceId = a.newId('i');
      a.instances.set(instanceId, {
        instanceId,
        state: 'running',
        tags: { ...spec.tags },
        volumes: 1,
        imageId: spec.imageId,
        launchTime: a.clock(),
        launch: { instanceType: spec.instanceType, securityGroupIds: [spec.securityGroupId], ebsOptimized: false, monitoring: false },
        statusChecks: { system: 'initializing', instance: 'initializing' },
      });
      state.byToken.set(spec.clientToken, instanceId);
      return instanceId;
    },
    describeStatusChecks: recovery.describeStatusChecks,
    async consoleOutput(instanceId: string) {
      a.recoveryCall('GetConsoleOutput');
      return testLaunchesOf(a).consoles.get(instanceId);
    },
    terminateInstance: recovery.terminateInstance,
  };
};

/** SSM Run Command: each command's status is what the test sets (default InProgress). */
export class InMemoryCommands implements CommandPort {
  readonly sent: Array<{ commandId: string; instanceId: string; document: string; parameters: Record<string, string[]> }> = [];
  readonly results = new Map<string, CommandResult>();
  private next = 1;

  async sendCommand(instanceId: string, document: string, parameters: Record<string, string[]>): Promise<string> {
    const commandId = `cmd-${this.next++}`;
    this.sent.push({ commandId, instanceId, document, parameters });
    this.results.set(commandId, { commandId, status: 'InProgress' });
    return commandId;
  }

  async findCommand(instanceId: string, document: string): Promise<CommandResult | undefined> {
    const newest = this.sent.filter((c) => c.instanceId === instanceId && c.document === document).at(-1);
    return newest ? this.results.get(newest.commandId) : undefined;
  }

  /** The newest command sent to the instance ends with `status`. */
  finish(instanceId: string, status: string, detail?: string): void {
    const newest = this.sent.filter((c) => c.instanceId === instanceId).at(-1)!;
    this.results.set(newest.commandId, { commandId: newest.commandId, status, ...(detail ? { detail } : {}) });
  }
}
