/**
 * Moto gaps of CopyImage (issue 17, disaster-recovery copies). moto's CopyImage reads four
 * parameters (SourceImageId, SourceRegion, Name, Description) and makes an `available` image at
 * once; AWS does more, which this link does as AWS documents it:
 *
 * - TagSpecifications: "The tags to apply to the new AMI and new snapshots" (API reference,
 *   CopyImage, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CopyImage.html): moto
 *   drops them; here the image and its snapshots get their group's tags once moto made them.
 * - Encrypted, KmsKeyId: "If you specify a KMS key, you must also set the encrypted state to true"
 *   (same page): refused otherwise with InvalidParameterCombination (the error code is our
 *   reading); what the copy was encrypted with is kept (`copies()`), and DescribeImages reports
 *   its EBS mappings `encrypted` with that key. KMS key policies in the destination are not
 *   emulated: a key the role may use is a key that works.
 * - SourceImageId and SourceImageRegion on the copy: "The ID of the source AMI from which the AMI
 *   was created ... only appears if the AMI was created using CreateImage, CopyImage, or
 *   CreateRestoreImageTask", and "The Region of the source AMI" (API reference, Image,
 *   https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Image.html): moto reports neither;
 *   DescribeImages reports both for every copy made through the proxy.
 * - The bound on copies in flight: "Destination Regions are limited to 300 concurrent AMI copy
 *   operations" ("How Amazon EC2 AMI copy works",
 *   https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/how-ami-copy-works.html). A CopyImage into a
 *   region holding 300 copies still pending (image-builds.ts keeps copies pending as it keeps bakes,
 *   on the same clock, in every region) is refused with HTTP 400 ResourceLimitExceeded. AWS documents
 *   the limit, not the refusal: the code and message are our reading.
 * - DescribeImages' `state` filter (available | pending | failed, API reference, DescribeImages):
 *   moto filters on its own state, always `available`; where image-builds.ts reports another, the
 *   filter is applied to the answer as the service reads it.
 *
 * ClientToken is honoured by client-token.ts (per region, as AWS scopes it); a failed copy is
 * staged with `proxy.failImageBuild(copyId, reason)` (image-builds.ts). TEST-ONLY.
 */
import { CreateTagsCommand, DescribeImagesCommand, type Tag } from '@aws-sdk/client-ec2';
import type { Interceptor, ProxiedRequest } from '../proxy/chain.js';
import { ec2ErrorResponse } from '../proxy/answers.js';
import { bufferBody, isEc2Action, withForm, type Mutex } from '../proxy/request.js';
import { callerOf } from '../sigv4.js';
import type { ImageBuilds } from './image-builds.js';

/** AWS's limit of copies in flight into one destination region (see the header). */
export const CONCURRENT_COPIES_PER_REGION = 300;

/** What the proxy knows of a copy it saw made. */
export interface CopyRecord {
  imageId: string;
  region: string;
  sourceImageId: string;
  sourceRegion: string;
  encrypted: boolean;
  kmsKeyId?: string;
}

/** The TagSpecification groups of a Query request, by resource type. */
function tagSpecifications(form: URLSearchParams): Map<string, Tag[]> {
  const out = new Map<string, Tag[]>();
  for (let i = 1; form.has(`TagSpecification.${i}.ResourceType`); i++) {
    const type = form.get(`TagSpecification.${i}.ResourceType`)!;
    const tags: Tag[] = [];
    for (let j = 1; form.has(`TagSpecification.${i}.Tag.${j}.Key`); j++) {
      tags.push({ Key: form.get(`TagSpecification.${i}.Tag.${j}.Key`)!, Value: form.get(`TagSpecification.${i}.Tag.${j}.Value`) ?? '' });
    }
    out.set(type, [...(out.get(type) ?? []), ...tags]);
  }
  return out;
}

/** The values of the request's `state` filter, and the form without it; undefined when it has none. */
function stateFilter(form: URLSearchParams): { states: string[]; form: URLSearchParams } | undefined {
  let index: number | undefined;
  for (let i = 1; form.has(`Filter.${i}.Name`); i++) if (form.get(`Filter.${i}.Name`) === 'state') index = i;
  if (index === undefined) return undefined;
  const states: string[] = [];
  for (let j = 1; form.has(`Filter.${index}.Value.${j}`); j++) states.push(form.get(`Filter.${index}.Value.${j}`)!);
  const rest = new URLSearchParams();
  for (const [key, value] of form) {
    const m = /^Filter\.(\d+)\.(.+)$/.exec(key);
    if (!m) rest.append(key, value);
    else if (Number(m[1]) < index) rest.append(key, value);
    else if (Number(m[1]) > index) rest.append(`Filter.${Number(m[1]) - 1}.${m[2]}`, value);
  }
  return { states, form: rest };
}

/** The top-level `<item>`s of DescribeImages' `<imagesSet>`, as [start, end) offsets (nested item lists counted). */
function imageItems(body: string): Array<[number, number]> {
  const open = body.indexOf('<imagesSet>');
  const close = body.lastIndexOf('</imagesSet>');
  if (open < 0 || close < 0) return [];
  const items: Array<[number, number]> = [];
  const tag = /<(\/?)item>/g;
  tag.lastIndex = open;
  let depth = 0;
  let start = -1;
  for (let m = tag.exec(body); m && m.index < close; m = tag.exec(body)) {
    if (m[1] === '') {
      if (depth === 0) start = m.index;
      depth++;
    } else {
      depth--;
      if (depth === 0) items.push([start, m.index + m[0].length]);
    }
  }
  return items;
}

export class ImageCopies {
  private readonly copies = new Map<string, CopyRecord>();

  constructor(
    private readonly builds: ImageBuilds,
    private readonly lock: Mutex,
  ) {}

  clear(): void {
    this.copies.clear();
  }

  list(): CopyRecord[] {
    return [...this.copies.values()];
  }

  /** Copies into the region that image-builds.ts still reports pending. */
  inFlight(region: string): number {
    return this.list().filter((c) => c.region === region && this.builds.isPending(c.imageId) && !this.builds.isFailed(c.imageId)).length;
  }

  readonly interceptor: Interceptor = async (request, next, context) => {
    const dryRun = request.form?.get('DryRun') === 'true';
    if (isEc2Action(request, 'CopyImage') && !dryRun) return this.lock.run(() => this.copy(request, next, context));
    if (isEc2Action(request, 'DescribeImages') && request.form) return this.describe(request, next);
    return next(request);
  };

  private async copy(request: ProxiedRequest, next: Parameters<Interceptor>[1], context: Parameters<Interceptor>[2]) {
    const form = request.form!;
    const region = callerOf(request.headers).region;
    const kmsKeyId = form.get('KmsKeyId') ?? undefined;
    const encrypted = form.get('Encrypted') === 'true';
    if (kmsKeyId && !encrypted) {
      return ec2ErrorResponse(400, 'InvalidParameterCombination', 'KmsKeyId requires Encrypted set to true.');
    }
    if (this.inFlight(region) >= CONCURRENT_COPIES_PER_REGION) {
      return ec2ErrorResponse(
        400,
        'ResourceLimitExceeded',
        `You have reached the limit of ${CONCURRENT_COPIES_PER_REGION} concurrent AMI copy operations into ${region}.`,
      );
    }
    const response = await next(request);
    if (response.status !== 200) return response;
    const body = await bufferBody(response.body);
    const imageId = /<imageId>\s*([^<\s]+)\s*<\/imageId>/i.exec(body.toString('utf8'))?.[1];
    if (!imageId) throw new Error(`CopyImage answered 200 without an imageId: ${body.toString('utf8')}`);
    this.copies.set(imageId, {
      imageId,
      region,
      sourceImageId: form.get('SourceImageId') ?? '',
      sourceRegion: form.get('SourceRegion') ?? region,
      encrypted: encrypted || kmsKeyId !== undefined,
      ...(kmsKeyId ? { kmsKeyId } : {}),
    });
    const ec2 = context.ec2For(request);
    const specs = tagSpecifications(form);
    const { Images = [] } = await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
    const snapshotIds = Images.flatMap((i) => i.BlockDeviceMappings ?? []).flatMap((m) => (m.Ebs?.SnapshotId ? [m.Ebs.SnapshotId] : []));
    const imageTags = specs.get('image') ?? [];
    const snapshotTags = specs.get('snapshot') ?? [];
    if (imageTags.length > 0) await ec2.send(new CreateTagsCommand({ Resources: [imageId], Tags: imageTags }));
    if (snapshotTags.length > 0 && snapshotIds.length > 0)
      await ec2.send(new CreateTagsCommand({ Resources: snapshotIds, Tags: snapshotTags }));
    return { ...response, body };
  }

  private async describe(request: ProxiedRequest, next: Parameters<Interceptor>[1]) {
    const filter = stateFilter(request.form!);
    if (!filter && this.copies.size === 0) return next(request);
    const response = await next(filter ? withForm(request, filter.form) : request);
    if (response.status !== 200) return response;
    const original = (await bufferBody(response.body)).toString('utf8');
    let body = '';
    let at = 0;
    for (const [start, end] of imageItems(original)) {
      let item = original.slice(start, end);
      const id = /<imageId>(ami-[0-9a-z]+)<\/imageId>/.exec(item)?.[1];
      const state = /<imageState>([a-z]+)<\/imageState>/.exec(item)?.[1];
      const copy = id ? this.copies.get(id) : undefined;
      if (copy) {
        item = item.replace(
          `<imageId>${copy.imageId}</imageId>`,
          `<imageId>${copy.imageId}</imageId><sourceImageId>${copy.sourceImageId}</sourceImageId><sourceImageRegion>${copy.sourceRegion}</sourceImageRegion>`,
        );
        if (copy.encrypted) {
          item = item.replace(
            /<ebs>([\s\S]*?)<\/ebs>/g,
            (_whole, inner: string) =>
              `<ebs>${inner.replace(/<encrypted>[^<]*<\/encrypted>/, '').replace(/<kmsKeyId>[^<]*<\/kmsKeyId>/, '')}<encrypted>true</encrypted>${copy.kmsKeyId ? `<kmsKeyId>${copy.kmsKeyId}</kmsKeyId>` : ''}</ebs>`,
          );
        }
      }
      const kept = !filter || (state !== undefined && filter.states.includes(state));
      body += original.slice(at, start) + (kept ? item : '');
      at = end;
    }
    body += original.slice(at);
    const headers = { ...response.headers };
    delete headers['content-length'];
    return { ...response, headers, body: Buffer.from(body, 'utf8') };
  }
}
