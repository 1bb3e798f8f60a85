/**
 * Moto gaps about what a launch names that no longer exists, answered as EC2 answers them
 * ("Error codes for the Amazon EC2 API",
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html):
 * - moto launches with a key pair that does not exist (its check is off unless
 *   MOTO_ENABLE_KEYPAIR_VALIDATION is set, and then it refuses launches without one): EC2
 *   refuses with InvalidKeyPair.NotFound, "The key pair '...' does not exist".
 * - moto refuses an instance profile that does not exist with IAM's NoSuchEntity: EC2 answers
 *   InvalidParameterValue, "Value (...) for parameter iamInstanceProfile.arn is invalid. Invalid
 *   IAM Instance Profile ARN" (as operators meet it, e.g.
 *   https://github.com/hashicorp/terraform-provider-aws/issues/27516 for the name form).
 * Missing security groups and subnets moto already refuses as EC2 does (InvalidGroup.NotFound,
 * InvalidSubnetID.NotFound).
 * TEST-ONLY.
 */
import { DescribeKeyPairsCommand } from '@aws-sdk/client-ec2';
import { ec2ErrorResponse } from '../proxy/answers.js';
import type { Interceptor } from '../proxy/chain.js';
import { bufferBody, isEc2Action } from '../proxy/request.js';

export const launchReferences: Interceptor = async (request, next, context) => {
  if (!isEc2Action(request, 'RunInstances') || request.form?.get('DryRun') === 'true') return next(request);
  const keyName = request.form?.get('KeyName');
  if (keyName) {
    try {
      await context.ec2For(request).send(new DescribeKeyPairsCommand({ KeyNames: [keyName] }));
    } catch (error) {
      if ((error as { name?: string }).name !== 'InvalidKeyPair.NotFound') throw error;
      return ec2ErrorResponse(400, 'InvalidKeyPair.NotFound', `The key pair '${keyName}' does not exist`);
    }
  }
  const response = await next(request);
  if (response.status < 400) return response;
  const body = await bufferBody(response.body);
  const profile = request.form?.get('IamInstanceProfile.Arn') ?? request.form?.get('IamInstanceProfile.Name');
  if (profile && /<Code>NoSuchEntity<\/Code>/.test(body.toString('utf8'))) {
    const field = request.form?.get('IamInstanceProfile.Arn') ? 'arn' : 'name';
    return ec2ErrorResponse(
      400,
      'InvalidParameterValue',
      `Value (${profile}) for parameter iamInstanceProfile.${field} is invalid. Invalid IAM Instance Profile ${field === 'arn' ? 'ARN' : 'name'}`,
    );
  }
  return { ...response, body };
};
