/**
 * Moto gap: DescribeImages never reports an image's LastLaunchedTime, and DescribeImageAttribute
 * with Attribute=lastLaunchedTime fails inside moto (AttributeError). As AWS documents them:
 *
 * - API reference, Image, LastLaunchedTime (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Image.html),
 *   and botocore's model (ec2 2016-11-15): "The date and time, in ISO 8601 date-time format, when the
 *   AMI was last used to launch an EC2 instance. When the AMI is used to launch an instance, there is
 *   a 24-hour delay before that usage is reported." DescribeImages reports it to the image's owner
 *   (aws-cli CHANGELOG 1.32.90: "enables the AMI owners to view the AMI 'LastLaunchedTime' in
 *   DescribeImages API").
 * - API reference, DescribeImageAttribute (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeImageAttribute.html):
 *   Attribute=lastLaunchedTime answers `lastLaunchedTime/value`.
 *
 * Each RunInstances through the proxy that succeeds records its ImageId at the harness's clock;
 * a launch is reported once 24 hours of that clock have passed since it. An image never launched
 * through the proxy reports no LastLaunchedTime (AWS: absent when never launched since April 2017;
 * the exact shape of "never" is undocumented, see shared/aws-facts/ec2-images.md section 8).
 *
 * Test code only.
 */
import { randomUUID } from 'node:crypto';
import type { Interceptor } from '../proxy/chain.js';
import { bufferBody, isEc2Action, withForm } from '../proxy/request.js';

/** "there is a 24-hour delay before that usage is reported" (see above). */
const REPORTING_DELAY_MS = 24 * 3_600_000;

export class LastLaunched {
  /** Image id -> the launches through the proxy, in ms of the harness's clock. */
  private readonly launches = new Map<string, number[]>();

  constructor(private readonly clock: () => Date) {}

  clear(): void {
    this.launches.clear();
  }

  /** The newest launch of the image that EC2 would report now. */
  reported(imageId: string): string | undefined {
    const now = this.clock().getTime();
    const due = (this.launches.get(imageId) ?? []).filter((t) => now - t >= REPORTING_DELAY_MS);
    return due.length > 0 ? new Date(Math.max(...due)).toISOString() : undefined;
  }

  readonly interceptor: Interceptor = async (request, next) => {
    const form = request.form;
    if (isEc2Action(request, 'RunInstances') && form) {
      const response = await next(request);
      const imageId = form.get('ImageId');
      if (response.status === 200 && imageId && form.get('DryRun') !== 'true') {
        const list = this.launches.get(imageId) ?? [];
        list.push(this.clock().getTime());
        this.launches.set(imageId, list);
      }
      return response;
    }
    if (isEc2Action(request, 'DescribeImageAttribute') && form?.get('Attribute') === 'lastLaunchedTime') {
      const imageId = form.get('ImageId') ?? '';
      // Asked of moto as another attribute it knows, so that a missing image is refused as moto refuses it.
      const asked = new URLSearchParams(form);
      asked.set('Attribute', 'description');
      const probe = await next(withForm(request, asked));
      if (probe.status !== 200) return probe;
      const at = this.reported(imageId);
      const body =
        '<?xml version="1.0" encoding="UTF-8"?><DescribeImageAttributeResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">' +
        `<requestId>${randomUUID()}</requestId><imageId>${imageId}</imageId>` +
        `${at ? `<lastLaunchedTime><value>${at}</value></lastLaunchedTime>` : ''}</DescribeImageAttributeResponse>`;
      return { status: 200, headers: { 'content-type': 'text/xml;charset=UTF-8' }, body: Buffer.from(body, 'utf8') };
    }
    if (!isEc2Action(request, 'DescribeImages')) return next(request);
    const response = await next(request);
    if (response.status !== 200 || this.launches.size === 0) return response;
    const body = (await bufferBody(response.body)).toString('utf8').replace(/<imageId>(ami-[0-9a-f]+)<\/imageId>/g, (whole, id: string) => {
      const at = this.reported(id);
      return at ? `${whole}<lastLaunchedTime>${at}</lastLaunchedTime>` : whole;
    });
    const headers = { ...response.headers };
    delete headers['content-length'];
    return { ...response, headers, body: Buffer.from(body, 'utf8') };
  };
}
