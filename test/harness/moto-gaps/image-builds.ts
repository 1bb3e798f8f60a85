/**
 * Moto gap: an image is `available` the moment CreateImage answers. AWS builds it first: the
 * image is `pending` until it is ready (API reference, Image, ImageState: pending | available |
 * failed ...: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Image.html).
 * TEST-ONLY.
 */
import type { Interceptor } from '../proxy/chain.js';
import { bufferBody, isEc2Action } from '../proxy/request.js';

/** How long new images stay `pending` (see FidelityProxy.setImagePending). */
export interface ImagePendingOptions {
  forMs: number;
  /** 'real' (default): wall-clock time; 'manual': time moves only by advanceImageClock. */
  clock?: 'real' | 'manual';
}

/**
 * Moto gap: images are `available` the moment CreateImage answers. AWS builds them
 * for minutes first. With ImagePendingOptions, DescribeImages reports each image
 * created through the proxy `pending` until its build time has passed on the
 * chosen clock. (moto's `state` filter still sees moto's own state.)
 */
export class ImageBuilds {
  private options: ImagePendingOptions | undefined;
  private manualNow = 0;
  /** Image id -> time (on the build clock) it was created. */
  private readonly created = new Map<string, number>();
  /** Image id -> why its build failed: moto never fails one. */
  private readonly failedBuilds = new Map<string, { code: string; message: string }>();

  constructor(options: ImagePendingOptions | undefined) {
    this.configure(options);
  }

  configure(options: ImagePendingOptions | undefined): void {
    this.options = options;
  }

  advance(ms: number): void {
    this.manualNow += ms;
  }

  clear(): void {
    this.created.clear();
    this.failedBuilds.clear();
  }

  /**
   * The image's build fails: DescribeImages reports it `failed`, with its StateReason, as EC2
   * does for an image it could not build (API reference, Image: State, StateReason).
   */
  fail(imageId: string, reason: { code: string; message: string }): void {
    this.failedBuilds.set(imageId, reason);
  }

  private now(): number {
    return this.options?.clock === 'manual' ? this.manualNow : Date.now();
  }

  /** Whether its build was staged to fail (fail()). */
  isFailed(imageId: string): boolean {
    return this.failedBuilds.has(imageId);
  }

  isPending(imageId: string): boolean {
    if (this.options === undefined) return false;
    const at = this.created.get(imageId);
    return at !== undefined && this.now() - at < this.options.forMs;
  }

  readonly interceptor: Interceptor = async (request, next) => {
    // A copy (issue 17) is built as a bake is: pending for the same time on the same clock, in its own region.
    const create = (isEc2Action(request, 'CreateImage') || isEc2Action(request, 'CopyImage')) && request.form?.get('DryRun') !== 'true';
    const describe = isEc2Action(request, 'DescribeImages');
    const rewrites = (this.created.size > 0 && this.options !== undefined) || this.failedBuilds.size > 0;
    if (!create && !(describe && rewrites)) return next(request);
    const response = await next(request);
    if (response.status !== 200) return response;
    let body = (await bufferBody(response.body)).toString('utf8');
    if (create) {
      const imageId = /<imageId>\s*([^<\s]+)\s*<\/imageId>/i.exec(body)?.[1];
      if (imageId) this.created.set(imageId, this.now());
      return { ...response, body: Buffer.from(body, 'utf8') };
    }
    // In moto's answer, each image's imageId comes before its imageState.
    body = body.replace(
      /<imageId>(ami-[0-9a-f]+)<\/imageId>((?:(?!<imageId>)[\s\S])*?)<imageState>available<\/imageState>/g,
      (whole, id: string, between: string) => {
        const failed = this.failedBuilds.get(id);
        if (failed) {
          const reason = `<stateReason><code>${failed.code}</code><message>${failed.message}</message></stateReason>`;
          return `<imageId>${id}</imageId>${between}<imageState>failed</imageState>${reason}`;
        }
        return this.isPending(id) ? `<imageId>${id}</imageId>${between}<imageState>pending</imageState>` : whole;
      },
    );
    const headers = { ...response.headers };
    delete headers['content-length'];
    return { ...response, headers, body: Buffer.from(body, 'utf8') };
  };
}
