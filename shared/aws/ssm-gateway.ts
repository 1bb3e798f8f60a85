/**
 * Systems Manager Parameter Store: the parameters promotion writes an image id into. Only
 * promotion uses it, so only the promote function's (and the CLI's) bundle carries its client.
 */
import { GetParameterCommand, PutParameterCommand, paginateGetParameterHistory, type SSMClient } from '@aws-sdk/client-ssm';
import type { TargetRevision } from '../domain/promotion.js';
import type { ParameterPort, ParameterValue } from '../use-cases/ports.js';
import { call, toAwsCallError } from './errors.js';

/**
 * The data type of the parameters promotion writes. "If you call PutParameter with aws:ec2:image
 * data type, a successful HTTP 200 response does not guarantee that your parameter was
 * successfully created or updated. The aws:ec2:image value is validated asynchronously"
 * (PutParameter, DataType: https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html):
 * promotion writes only images it has just read as available in this account, and reads the
 * parameter back on its next delivery, so a refused value is written again rather than lost.
 */
export const IMAGE_DATA_TYPE = 'aws:ec2:image';

export class SsmGateway implements ParameterPort {
  constructor(private readonly client: SSMClient) {}

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
