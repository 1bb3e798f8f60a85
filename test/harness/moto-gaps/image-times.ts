/**
 * Moto gaps about an image's times: EnableImageDeprecation is not implemented, and every image's
 * CreationDate is the real time of the call. Followed: the API reference of
 * EnableImageDeprecation (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EnableImageDeprecation.html)
 * and the Image data type, whose CreationDate and DeprecationTime DescribeImages reports
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Image.html).
 * TEST-ONLY.
 */
import { randomUUID } from 'node:crypto';
import type { Interceptor } from '../proxy/chain.js';
import { ec2ErrorResponse } from '../proxy/answers.js';
import { bufferBody, isEc2Action } from '../proxy/request.js';
import { imageExists } from './ec2.js';

/** How far ahead EnableImageDeprecation accepts a time: 10 years (see enableImageDeprecation). */
const DEPRECATION_HORIZON_MS = 10 * 365.25 * 86_400_000;

export interface ImageTimes {
  /** Image id -> simulated CreationDate. */
  created: Map<string, string>;
  /** Image id -> DeprecationTime set through EnableImageDeprecation. */
  deprecated: Map<string, string>;
}

/**
 * Moto gap: EnableImageDeprecation is not implemented. As AWS documents it: seconds are
 * rounded to the nearest minute, a time in the past is refused, and so is one more than
 * 10 years from now (API reference, EnableImageDeprecation, DeprecateAt:
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EnableImageDeprecation.html;
 * the error code is not documented: InvalidParameterValue, EC2's code for a bad value).
 * The time is remembered and reported as the image's DeprecationTime in DescribeImages
 * (see simulatedImageTimes).
 */
export function enableImageDeprecation(times: ImageTimes): Interceptor {
  return async (request, next, context) => {
    if (!isEc2Action(request, 'EnableImageDeprecation') || request.form === undefined) return next(request);
    const imageId = request.form.get('ImageId') ?? '';
    const requested = new Date(request.form.get('DeprecateAt') ?? '');
    const at = new Date(Math.round(requested.getTime() / 60_000) * 60_000);
    const now = Date.now();
    if (Number.isNaN(at.getTime()) || at.getTime() < now || at.getTime() > now + DEPRECATION_HORIZON_MS) {
      return ec2ErrorResponse(
        400,
        'InvalidParameterValue',
        `The deprecation time ${request.form.get('DeprecateAt')} must be in the future and at most 10 years from now.`,
      );
    }
    if (!(await imageExists(imageId, request, context))) {
      return ec2ErrorResponse(400, 'InvalidAMIID.NotFound', `The image id '[${imageId}]' does not exist`);
    }
    if (request.form.get('DryRun') === 'true')
      return ec2ErrorResponse(412, 'DryRunOperation', 'Request would have succeeded, but DryRun flag is set.');
    times.deprecated.set(imageId, at.toISOString());
    const body = `<?xml version="1.0" encoding="UTF-8"?><EnableImageDeprecationResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>${randomUUID()}</requestId><return>true</return></EnableImageDeprecationResponse>`;
    return { status: 200, headers: { 'content-type': 'text/xml;charset=UTF-8' }, body: Buffer.from(body, 'utf8') };
  };
}

/**
 * Moto gaps: every image's CreationDate is the real time of the call, and images
 * have no DeprecationTime. With a simulated clock, images created through the proxy
 * report its time; deprecations set through the proxy are reported.
 */
export function simulatedImageTimes(times: ImageTimes, clock: (() => Date) | undefined): Interceptor {
  return async (request, next) => {
    // A copy is created when CopyImage is called (issue 17): its CreationDate is that time.
    const create = isEc2Action(request, 'CreateImage') || isEc2Action(request, 'CopyImage');
    const describe = isEc2Action(request, 'DescribeImages');
    if (!create && !describe) return next(request);
    const response = await next(request);
    if (response.status !== 200) return response;
    let body = (await bufferBody(response.body)).toString('utf8');
    if (create && clock) {
      const imageId = /<imageId>\s*([^<\s]+)\s*<\/imageId>/i.exec(body)?.[1];
      if (imageId) times.created.set(imageId, clock().toISOString());
    }
    if (describe) {
      // In moto's answer, each image's imageId comes before its creationDate.
      body = body.replace(
        /<imageId>(ami-[0-9a-f]+)<\/imageId>([\s\S]*?)<creationDate>[^<]*<\/creationDate>/g,
        (whole, id: string, between: string) => {
          const created = times.created.get(id);
          const deprecated = times.deprecated.get(id);
          if (!created && !deprecated) return whole;
          const dep = deprecated ? `<deprecationTime>${deprecated}</deprecationTime>` : '';
          const date = created ?? /<creationDate>([^<]*)<\/creationDate>/.exec(whole)![1];
          return `<imageId>${id}</imageId>${dep}${between}<creationDate>${date}</creationDate>`;
        },
      );
    }
    const headers = { ...response.headers };
    delete headers['content-length'];
    return { ...response, headers, body: Buffer.from(body, 'utf8') };
  };
}
