/**
 * The only code that talks to SSM: the Run Command a verification sends to its test instance
 * once the status checks passed (docs/verification.md), and its result there.
 *
 * As SSM documents them: SendCommand's Comment is at most 100 characters (API reference,
 * SendCommand, https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_SendCommand.html);
 * ListCommands takes an InstanceId and a DocumentName filter (API reference, ListCommands,
 * https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_ListCommands.html); and
 * GetCommandInvocation answers InvocationDoesNotExist until the invocation is registered, a
 * moment after SendCommand (API reference, GetCommandInvocation,
 * https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetCommandInvocation.html).
 */
import { GetCommandInvocationCommand, ListCommandsCommand, SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { CommandResult } from '../domain/verification.js';
import type { CommandPort } from '../use-cases/ports.js';
import { call, toAwsCallError } from './errors.js';

const MAX_COMMENT = 100;

export class SsmGateway implements CommandPort {
  constructor(private readonly client: SSMClient) {}

  async sendCommand(instanceId: string, document: string, parameters: Record<string, string[]>, comment: string): Promise<string> {
    const out = await call('SendCommand', () =>
      this.client.send(
        new SendCommandCommand({
          InstanceIds: [instanceId],
          DocumentName: document,
          Parameters: parameters,
          Comment: comment.slice(0, MAX_COMMENT),
        }),
      ),
    );
    const id = out.Command?.CommandId;
    if (!id) throw new Error('SendCommand answered without a command');
    return id;
  }

  async findCommand(instanceId: string, document: string): Promise<CommandResult | undefined> {
    const out = await call('ListCommands', () =>
      this.client.send(new ListCommandsCommand({ InstanceId: instanceId, Filters: [{ key: 'DocumentName', value: document }] })),
    );
    const newest = (out.Commands ?? [])
      .filter((c) => c.DocumentName === document && c.CommandId)
      .sort((a, b) => (b.RequestedDateTime?.getTime() ?? 0) - (a.RequestedDateTime?.getTime() ?? 0))[0];
    if (!newest) return undefined;
    const commandId = newest.CommandId!;
    try {
      const invocation = await this.client.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }));
      const lastError = invocation.StandardErrorContent?.trim().split('\n').pop();
      return {
        commandId,
        status: invocation.Status ?? 'Pending',
        detail: [invocation.StatusDetails, invocation.ResponseCode !== undefined ? `exit ${invocation.ResponseCode}` : undefined, lastError]
          .filter(Boolean)
          .join(', '),
      };
    } catch (error) {
      const refused = toAwsCallError('GetCommandInvocation', error);
      if (refused.code === 'InvocationDoesNotExist') return { commandId, status: 'Pending' };
      throw refused;
    }
  }
}
