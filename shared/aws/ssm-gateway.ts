/**
 * The only code that talks to SSM: the Run Command a verification sends to its test instance once
 * the status checks passed (docs/verification.md), and its result there; and the Parameter Store
 * parameters promotion writes an image id into (docs/promotion.md).
 *
 * As SSM documents them: SendCommand's Comment is at most 100 characters (API reference,
 * SendCommand, https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_SendCommand.html);
 * ListCommands takes an InstanceId and a DocumentName filter (API reference, ListCommands,
 * https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_ListCommands.html); and
 * GetCommandInvocation answers InvocationDoesNotExist until the invocation is registered, a
 * moment after SendCommand (API reference, GetCommandInvocation,
 * https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetCommandInvocation.html).
 */
import {
  GetCommandInvocationCommand,
  GetParameterCommand,
  GetParametersCommand,
  paginateDescribeParameters,
  ListCommandsCommand,
  PutParameterCommand,
  paginateGetParameterHistory,
  SendCommandCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import type { TargetRevision } from '../domain/promotion.js';
import type { CommandResult } from '../domain/verification.js';
import type { CommandPort, ImageIdParameter, ImageParameterListing, ParameterPort, ParameterValue } from '../use-cases/ports.js';
import { call, toAwsCallError } from './errors.js';

const MAX_COMMENT = 100;

/**
 * The data type of the parameters promotion writes. "If you call PutParameter with aws:ec2:image
 * data type, a successful HTTP 200 response does not guarantee that your parameter was
 * successfully created or updated. The aws:ec2:image value is validated asynchronously"
 * (PutParameter, DataType: https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html):
 * promotion writes only images it has just read as available in this account, and reads the
 * parameter back on its next delivery, so a refused value is written again rather than lost.
 */
export const IMAGE_DATA_TYPE = 'aws:ec2:image';

/** An image id as EC2 writes it: ami- and 8 or 17 hex digits. */
const IMAGE_ID = /\bami-(?:[0-9a-f]{17}|[0-9a-f]{8})\b/g;
/** DescribeParameters' MaxResults is 1 to 50; GetParameters takes 1 to 10 names (botocore's model, ssm 2014-11-06). */
const DESCRIBE_PARAMETERS_PAGE = 50;
const GET_PARAMETERS_NAMES = 10;

export class SsmGateway implements CommandPort, ParameterPort, ImageParameterListing {
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

  async getParameter(name: string): Promise<ParameterValue | undefined> {
    try {
      const out = await this.client.send(new GetParameterCommand({ Name: name }));
      const p = out.Parameter;
      if (p?.Value === undefined) return undefined;
      return { value: p.Value, version: p.Version ?? 0, dataType: p.DataType ?? 'text' };
    } catch (error) {
      const mapped = toAwsCallError('GetParameter', error);
      if (mapped.code === 'ParameterNotFound') return undefined;
      throw mapped;
    }
  }

  async putImageParameter(name: string, imageId: string, description: string): Promise<number> {
    const out = await call('PutParameter', () =>
      this.client.send(
        new PutParameterCommand({
          Name: name,
          Value: imageId,
          Type: 'String',
          DataType: IMAGE_DATA_TYPE,
          Overwrite: true,
          Description: description.slice(0, 1024),
        }),
      ),
    );
    return out.Version ?? 0;
  }

  /**
   * Every String and StringList parameter whose value holds an image id: DescribeParameters (50 a
   * page, type filter), then their values with GetParameters, 10 names a call. Its cost follows the
   * parameters, not the images. Plain-text parameters are read too, not only those of data type
   * aws:ec2:image (which DescribeImageReferences also finds): pipelines write image ids as text and
   * CloudFormation resolves them (`AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>`). SecureString
   * parameters are not read (their values need kms:Decrypt, and an image id is no secret).
   */
  async listImageIdParameters(): Promise<ImageIdParameter[]> {
    const names: Array<{ name: string; dataType: string }> = [];
    const paginator = paginateDescribeParameters(
      { client: this.client, pageSize: DESCRIBE_PARAMETERS_PAGE },
      { ParameterFilters: [{ Key: 'Type', Option: 'Equals', Values: ['String', 'StringList'] }] },
    );
    const iterator = paginator[Symbol.asyncIterator]();
    while (true) {
      const next = await call('DescribeParameters', () => iterator.next());
      if (next.done) break;
      for (const p of next.value.Parameters ?? []) if (p.Name) names.push({ name: p.Name, dataType: p.DataType ?? 'text' });
    }
    const found: ImageIdParameter[] = [];
    for (let i = 0; i < names.length; i += GET_PARAMETERS_NAMES) {
      const slice = names.slice(i, i + GET_PARAMETERS_NAMES);
      const out = await call('GetParameters', () => this.client.send(new GetParametersCommand({ Names: slice.map((n) => n.name) })));
      for (const p of out.Parameters ?? []) {
        const imageIds = [...new Set(p.Value?.match(IMAGE_ID) ?? [])];
        if (p.Name && imageIds.length > 0) {
          found.push({ name: p.Name, dataType: p.DataType ?? slice.find((n) => n.name === p.Name)?.dataType ?? 'text', imageIds });
        }
      }
    }
    return found;
  }

  /**
   * Every version SSM still keeps: "Parameter Store retains the 100 most recently created versions
   * of a parameter" (ParameterMaxVersionLimitExceeded,
   * https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html#API_PutParameter_Errors).
   */
  async parameterHistory(name: string): Promise<TargetRevision[]> {
    const out: TargetRevision[] = [];
    try {
      for await (const page of paginateGetParameterHistory({ client: this.client, pageSize: 50 }, { Name: name })) {
        for (const p of page.Parameters ?? []) if (p.Value !== undefined) out.push({ version: p.Version ?? 0, imageId: p.Value });
      }
    } catch (error) {
      const mapped = toAwsCallError('GetParameterHistory', error);
      if (mapped.code === 'ParameterNotFound') return [];
      throw mapped;
    }
    return out;
  }
}
