/**
 * Moto gap: moto accepts a CreateImage whose Name another AMI of the account already uses. AWS
 * refuses it: the name must be unique for the account in the Region (API reference, CreateImage,
 * Name: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateImage.html), answered
 * InvalidAMIName.Duplicate ("Error codes for the Amazon EC2 API",
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
 * TEST-ONLY.
 */
import { DescribeImagesCommand } from '@aws-sdk/client-ec2';
import type { Interceptor, ProxiedRequest, ProxyContext } from '../proxy/chain.js';
import { ec2ErrorResponse } from '../proxy/answers.js';
import { bufferBody, isEc2Action, type Mutex } from '../proxy/request.js';
import { callerOf } from '../sigv4.js';
import { imageExists } from './ec2.js';

/**
 * Runs CreateImage calls one at a time, so that two concurrent CreateImage
 * calls with the same Name cannot both pass AmiNameIndex's check
 * before either image exists.
 */
export function serialiseCreateImage(lock: Mutex): Interceptor {
  return (request, next) => {
    if (!isEc2Action(request, 'CreateImage')) return next(request);
    return lock.run(() => next(request));
  };
}

/**
 * Moto gap: moto accepts CreateImage with a Name that an existing AMI of the
 * same account already uses. AWS rejects it with HTTP 400
 * InvalidAMIName.Duplicate. Requires `serialiseCreateImage` before it.
 *
 * The names are kept in an index per account (region and access key), read from
 * moto once and kept up to date by the CreateImage and DeregisterImage calls that
 * pass: listing every image on every CreateImage made a 1,000-instance night
 * quadratic in moto. A name found in the index is checked against moto before it
 * is refused (so an image deregistered behind the proxy's back, or a moto reset,
 * frees its name); an image created behind the proxy's back after the index was
 * read is not seen: resetState() drops the index.
 */
export class AmiNameIndex {
  private readonly accounts = new Map<string, Promise<Map<string, string>>>();

  clear(): void {
    this.accounts.clear();
  }

  private names(request: ProxiedRequest, context: ProxyContext): Promise<Map<string, string>> {
    const { region, accessKeyId } = callerOf(request.headers);
    const key = `${region}\u0000${accessKeyId}`;
    let names = this.accounts.get(key);
    if (names === undefined) {
      names = (async () => {
        // Owners=['self'] maps to the caller's account in moto; moto answers in one page.
        const { Images = [] } = await context.ec2For(request).send(new DescribeImagesCommand({ Owners: ['self'] }));
        return new Map(Images.flatMap((i) => (i.Name && i.ImageId && i.State !== 'deregistered' ? [[i.Name, i.ImageId] as const] : [])));
      })();
      names.catch(() => this.accounts.delete(key));
      this.accounts.set(key, names);
    }
    return names;
  }

  readonly interceptor: Interceptor = async (request, next, context) => {
    if (isEc2Action(request, 'DeregisterImage') && request.form?.get('DryRun') !== 'true') {
      const response = await next(request);
      const imageId = request.form!.get('ImageId');
      if (response.status === 200 && imageId) {
        const names = await this.names(request, context);
        for (const [name, id] of names) if (id === imageId) names.delete(name);
      }
      return response;
    }
    if (!isEc2Action(request, 'CreateImage') || request.form === undefined) return next(request);
    if (request.form.get('DryRun') === 'true') return next(request); // a dry run creates nothing
    const name = request.form.get('Name');
    if (name === null) return next(request);

    const names = await this.names(request, context);
    const existing = names.get(name);
    if (existing !== undefined) {
      if (await imageExists(existing, request, context)) {
        return ec2ErrorResponse(400, 'InvalidAMIName.Duplicate', `AMI name ${name} is already in use by AMI ${existing}`);
      }
      names.delete(name);
    }
    const response = await next(request);
    if (response.status !== 200) return response;
    const body = await bufferBody(response.body);
    const imageId = /<imageId>\s*([^<\s]+)\s*<\/imageId>/i.exec(body.toString('utf8'))?.[1];
    if (imageId !== undefined) names.set(name, imageId);
    return { ...response, body };
  };
}
