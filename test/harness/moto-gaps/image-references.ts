/**
 * Moto gap: DescribeImageReferences is not implemented (moto answers HTTP 500). This
 * interceptor answers it as AWS documents it, reading moto's state:
 *
 * - API reference "DescribeImageReferences"
 *   (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeImageReferences.html) and
 *   botocore's model (ec2 2016-11-15): ImageId.N, 1 to 10 ids ("Array Members: Minimum number of 1
 *   item. Maximum number of 10 items."); either IncludeAllResourceTypes or ResourceTypes; MaxResults
 *   at least 5 (no maximum in the model); NextToken; DryRun. The answer is
 *   `imageReferenceSet/item{imageId, resourceType, arn}` and `nextToken` (the model's locationNames).
 * - User guide "Identify your resources referencing specified AMIs", section "How AMI reference
 *   checks work" (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-ami-references.html): it
 *   scans your own resources for the ids, whoever owns the images; IncludeAllResourceTypes uses the
 *   default options (`state-name`: every instance state; `version-depth`: the 10 most recent
 *   versions of each launch template) and ResourceTypes' options take precedence over them. The
 *   model documents `version-depth` as an integer from 1 to 10000, `state-name` values as pending,
 *   running, shutting-down, terminated, stopping, stopped; both valid only for their own type.
 * - Same page, "Required IAM permissions", and the managed policy AmazonEC2ImageReferencesAccessPolicy
 *   (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonEC2ImageReferencesAccessPolicy.html):
 *   EC2 reads the resources with the caller's permissions, called via ec2-images.amazonaws.com
 *   (see REFERENCE_CHECK_PERMISSIONS). Neither page says what happens when one is missing. This
 *   harness refuses the whole call with UnauthorizedOperation naming the resource type (the
 *   answer that is never mistaken for "no references"); a real account may instead answer
 *   without that type's references. The product must hold every permission either way.
 *
 * Resource types: `ec2:Instance` (DescribeInstances), `ec2:LaunchTemplate` (each template's
 * versions), `ssm:Parameter` (parameters of data type aws:ec2:image whose value is the image;
 * moto keeps DataType on PutParameter). moto has no Image Builder at all (every call answers
 * 404), so `imagebuilder:ImageRecipe` and `imagebuilder:ContainerRecipe` find no recipe here.
 * moto's state is read through the proxy's own clients (straight to moto, not counted).
 *
 * Test code only.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  paginateDescribeInstances,
  type EC2Client,
  type LaunchTemplate,
} from '@aws-sdk/client-ec2';
import { GetParametersCommand, paginateDescribeParameters, type SSMClient } from '@aws-sdk/client-ssm';
import { ec2ErrorResponse } from '../proxy/answers.js';
import { isEc2Request } from '../proxy/request.js';
import type { Interceptor, ProxiedRequest, ProxiedResponse, ProxyContext } from '../proxy/chain.js';

export const REFERENCE_RESOURCE_TYPES = [
  'ec2:Instance',
  'ec2:LaunchTemplate',
  'ssm:Parameter',
  'imagebuilder:ImageRecipe',
  'imagebuilder:ContainerRecipe',
] as const;
export type ReferenceResourceType = (typeof REFERENCE_RESOURCE_TYPES)[number];

/**
 * What EC2 needs from the caller to look at each resource type: the actions the user guide's
 * "Required IAM permissions" and AmazonEC2ImageReferencesAccessPolicy list (there as one list,
 * with `aws:CalledVia` = ec2-images.amazonaws.com; the split by type is read from the actions'
 * own services). The caller also needs ec2:DescribeImageReferences itself.
 */
export const REFERENCE_CHECK_PERMISSIONS: Readonly<Record<ReferenceResourceType, readonly string[]>> = {
  'ec2:Instance': ['ec2:DescribeInstances'],
  'ec2:LaunchTemplate': ['ec2:DescribeLaunchTemplates', 'ec2:DescribeLaunchTemplateVersions'],
  'ssm:Parameter': ['ssm:DescribeParameters', 'ssm:GetParameters'],
  'imagebuilder:ImageRecipe': ['imagebuilder:ListImageRecipes'],
  'imagebuilder:ContainerRecipe': ['imagebuilder:ListContainerRecipes', 'imagebuilder:GetContainerRecipe'],
};

/**
 * Whether the caller of this request may have EC2 look at this resource type on its behalf.
 * A plain function, so that a test can stage a missing permission and the IAM evaluation can
 * answer it from the caller's role.
 */
export type ReferenceAccess = (resourceType: ReferenceResourceType, request: ProxiedRequest) => boolean | Promise<boolean>;

const INSTANCE_STATES = ['pending', 'running', 'shutting-down', 'terminated', 'stopping', 'stopped'] as const;
/** The model's range and the user guide's default for `version-depth`. */
const VERSION_DEPTH = { min: 1, max: 10_000, default: 10 } as const;
const MAX_IDS = 10;
const MIN_MAX_RESULTS = 5;
/** Launch template versions read from moto per call (DescribeLaunchTemplateVersions accepts up to 200). */
const VERSION_WINDOW = 200;

interface Reference {
  imageId: string;
  resourceType: ReferenceResourceType;
  arn: string;
}

interface Scope {
  imageIds: string[];
  /** Resource type -> its options (state names, or the version depth). */
  types: Map<ReferenceResourceType, { states?: Set<string>; depth?: number }>;
  maxResults: number | undefined;
  nextToken: string | null;
  dryRun: boolean;
}

class Refusal {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly message: string,
  ) {}
}

const invalid = (message: string) => new Refusal(400, 'InvalidParameterValue', message);

/** The request's parameters as EC2's Query protocol spells them (ImageId.N, ResourceType.N.ResourceTypeOption.M.OptionValue.K). */
function parse(form: URLSearchParams): Scope {
  const imageIds = numbered(form, 'ImageId');
  if (imageIds.length === 0) throw new Refusal(400, 'MissingParameter', 'The request must contain the parameter ImageId');
  if (imageIds.length > MAX_IDS) throw invalid(`ImageId has ${imageIds.length} items; it takes ${1} to ${MAX_IDS}.`);

  const types: Scope['types'] = new Map();
  if (form.get('IncludeAllResourceTypes') === 'true') for (const t of REFERENCE_RESOURCE_TYPES) types.set(t, {});
  const requested = new Map<number, ReferenceResourceType>();
  for (const [key, value] of form) {
    const m = /^ResourceType\.(\d+)\.ResourceType$/.exec(key);
    if (!m) continue;
    if (!(REFERENCE_RESOURCE_TYPES as readonly string[]).includes(value)) {
      throw invalid(`Value (${value}) for parameter ResourceType is invalid. Valid values: ${REFERENCE_RESOURCE_TYPES.join(', ')}.`);
    }
    requested.set(Number(m[1]), value as ReferenceResourceType);
  }
  for (const [n, type] of [...requested].sort(([a], [b]) => a - b)) {
    // ResourceTypes' options take precedence over the defaults IncludeAllResourceTypes applies.
    const options: { states?: Set<string>; depth?: number } = {};
    for (const [m, name] of numberedEntries(form, `ResourceType.${n}.ResourceTypeOption`, 'OptionName')) {
      const values = numbered(form, `ResourceType.${n}.ResourceTypeOption.${m}.OptionValue`);
      if (name === 'state-name' && type === 'ec2:Instance') {
        const wrong = values.filter((v) => !(INSTANCE_STATES as readonly string[]).includes(v));
        if (values.length === 0 || wrong.length > 0)
          throw invalid(`Value (${wrong.join(',')}) for option state-name is invalid. Valid values: ${INSTANCE_STATES.join(', ')}.`);
        options.states = new Set(values);
      } else if (name === 'version-depth' && type === 'ec2:LaunchTemplate') {
        const depth = Number(values[0]);
        if (values.length !== 1 || !Number.isInteger(depth) || depth < VERSION_DEPTH.min || depth > VERSION_DEPTH.max) {
          throw invalid(
            `Value (${values.join(',')}) for option version-depth is invalid. It must be an integer between ${VERSION_DEPTH.min} and ${VERSION_DEPTH.max}.`,
          );
        }
        options.depth = depth;
      } else {
        throw invalid(
          `The option ${name} is not valid for resource type ${type}: state-name is for ec2:Instance, version-depth for ec2:LaunchTemplate.`,
        );
      }
    }
    types.set(type, options);
  }
  if (types.size === 0) throw new Refusal(400, 'MissingParameter', 'Either IncludeAllResourceTypes or ResourceTypes must be specified.');

  const max = form.get('MaxResults');
  const maxResults = max === null ? undefined : Number(max);
  if (maxResults !== undefined && (!Number.isInteger(maxResults) || maxResults < MIN_MAX_RESULTS)) {
    throw invalid(`Value (${max}) for parameter MaxResults is invalid. It must be at least ${MIN_MAX_RESULTS}.`);
  }
  return { imageIds, types, maxResults, nextToken: form.get('NextToken'), dryRun: form.get('DryRun') === 'true' };
}

/** `prefix.1`, `prefix.2`, ... in index order. */
function numbered(form: URLSearchParams, prefix: string): string[] {
  return numberedEntries(form, prefix).map(([, v]) => v);
}

function numberedEntries(form: URLSearchParams, prefix: string, suffix?: string): Array<[number, string]> {
  const pattern = new RegExp(`^${prefix.replaceAll('.', '\\.')}\\.(\\d+)${suffix ? `\\.${suffix}` : ''}$`);
  const found: Array<[number, string]> = [];
  for (const [key, value] of form) {
    const m = pattern.exec(key);
    if (m) found.push([Number(m[1]), value]);
  }
  return found.sort(([a], [b]) => a - b);
}

/** The request's scope, NextToken, MaxResults and DryRun aside: what a token must belong to. */
function digestOf(form: URLSearchParams): string {
  const kept = [...form]
    .filter(([k]) => !['NextToken', 'MaxResults', 'DryRun', 'Action', 'Version'].includes(k))
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return createHash('sha256').update(JSON.stringify(kept)).digest('hex').slice(0, 16);
}

function tokenFor(offset: number, digest: string): string {
  return Buffer.from(JSON.stringify({ offset, digest })).toString('base64url');
}

function offsetOf(token: string | null, digest: string): number {
  if (token === null || token === '') return 0;
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { offset?: unknown; digest?: unknown };
    if (parsed.digest === digest && typeof parsed.offset === 'number' && Number.isInteger(parsed.offset) && parsed.offset >= 0)
      return parsed.offset;
  } catch {
    // falls through to the refusal
  }
  throw invalid(`The NextToken ${token} is not valid for this request.`);
}

function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

async function instanceReferences(ec2: EC2Client, ids: ReadonlySet<string>, states: ReadonlySet<string>): Promise<Reference[]> {
  const region = await ec2.config.region();
  const found: Reference[] = [];
  for await (const page of paginateDescribeInstances({ client: ec2, pageSize: 1000 }, {})) {
    for (const reservation of page.Reservations ?? []) {
      for (const i of reservation.Instances ?? []) {
        if (!i.ImageId || !ids.has(i.ImageId) || !states.has(i.State?.Name ?? '')) continue;
        const arn = `arn:${partitionOf(region)}:ec2:${region}:${reservation.OwnerId ?? ''}:instance/${i.InstanceId ?? ''}`;
        found.push({ imageId: i.ImageId, resourceType: 'ec2:Instance', arn });
      }
    }
  }
  return found;
}

/**
 * The `depth` most recent versions of every launch template. moto answers at most MaxResults
 * templates and versions without a NextToken, so versions are read in windows of version numbers.
 */
async function launchTemplateReferences(ec2: EC2Client, ids: ReadonlySet<string>, depth: number): Promise<Reference[]> {
  const region = await ec2.config.region();
  const templates: LaunchTemplate[] = [];
  let NextToken: string | undefined;
  do {
    const out = await ec2.send(new DescribeLaunchTemplatesCommand({ MaxResults: 200, NextToken }));
    templates.push(...(out.LaunchTemplates ?? []));
    NextToken = out.NextToken;
  } while (NextToken);
  const found: Reference[] = [];
  for (const t of templates) {
    const latest = t.LatestVersionNumber ?? 1;
    const versions: Array<{ number: number; imageId: string | undefined }> = [];
    for (let low = 1; low <= latest; low += VERSION_WINDOW) {
      const high = Math.min(latest, low + VERSION_WINDOW - 1);
      const out = await ec2.send(
        new DescribeLaunchTemplateVersionsCommand({
          LaunchTemplateId: t.LaunchTemplateId,
          MinVersion: String(low),
          MaxVersion: String(high),
          MaxResults: VERSION_WINDOW,
        }),
      );
      for (const v of out.LaunchTemplateVersions ?? [])
        versions.push({ number: v.VersionNumber ?? 0, imageId: v.LaunchTemplateData?.ImageId });
    }
    const account = /^arn:[^:]+:iam::(\d+):/.exec(t.CreatedBy ?? '')?.[1] ?? '';
    const arn = `arn:${partitionOf(region)}:ec2:${region}:${account}:launch-template/${t.LaunchTemplateId ?? ''}`;
    // Counted from the most recent version; one reference per template and image, however many versions name it.
    const seen = new Set<string>();
    for (const v of versions.sort((a, b) => b.number - a.number).slice(0, depth)) {
      if (!v.imageId || !ids.has(v.imageId) || seen.has(v.imageId)) continue;
      seen.add(v.imageId);
      found.push({ imageId: v.imageId, resourceType: 'ec2:LaunchTemplate', arn });
    }
  }
  return found;
}

/** Parameters of data type aws:ec2:image whose value is one of the images. AWS's public /aws/ parameters are nobody's resources. */
async function parameterReferences(ssm: SSMClient, ids: ReadonlySet<string>): Promise<Reference[]> {
  const names: string[] = [];
  for await (const page of paginateDescribeParameters({ client: ssm, pageSize: 50 }, {})) {
    for (const p of page.Parameters ?? []) {
      if (p.DataType === 'aws:ec2:image' && p.Name && !p.Name.startsWith('/aws/')) names.push(p.Name);
    }
  }
  const region = await ssm.config.region();
  const found: Reference[] = [];
  for (let i = 0; i < names.length; i += 10) {
    const out = await ssm.send(new GetParametersCommand({ Names: names.slice(i, i + 10) }));
    for (const p of out.Parameters ?? []) {
      if (!p.Value || !ids.has(p.Value)) continue;
      const arn = p.ARN ?? `arn:${partitionOf(region)}:ssm:${region}::parameter/${(p.Name ?? '').replace(/^\//, '')}`;
      found.push({ imageId: p.Value, resourceType: 'ssm:Parameter', arn });
    }
  }
  return found;
}

async function referencesOf(scope: Scope, request: ProxiedRequest, context: ProxyContext): Promise<Reference[]> {
  const ids = new Set(scope.imageIds);
  const found: Reference[] = [];
  for (const [type, options] of scope.types) {
    switch (type) {
      case 'ec2:Instance':
        found.push(...(await instanceReferences(context.ec2For(request), ids, options.states ?? new Set(INSTANCE_STATES))));
        break;
      case 'ec2:LaunchTemplate':
        found.push(...(await launchTemplateReferences(context.ec2For(request), ids, options.depth ?? VERSION_DEPTH.default)));
        break;
      case 'ssm:Parameter':
        found.push(...(await parameterReferences(context.ssmFor(request), ids)));
        break;
      case 'imagebuilder:ImageRecipe':
      case 'imagebuilder:ContainerRecipe':
        // moto has no Image Builder: there are no recipes to reference anything.
        break;
    }
  }
  return found;
}

function answer(references: Reference[], nextToken: string | undefined): ProxiedResponse {
  const items = references
    .map((r) => `<item><imageId>${r.imageId}</imageId><resourceType>${r.resourceType}</resourceType><arn>${escapeXml(r.arn)}</arn></item>`)
    .join('');
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>' +
    `<DescribeImageReferencesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>${randomUUID()}</requestId>` +
    `<imageReferenceSet>${items}</imageReferenceSet>${nextToken ? `<nextToken>${nextToken}</nextToken>` : ''}</DescribeImageReferencesResponse>`;
  return { status: 200, headers: { 'content-type': 'text/xml;charset=UTF-8' }, body: Buffer.from(body, 'utf8') };
}

function escapeXml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** DescribeImageReferences, answered from moto's state (see the file's comment). */
export class ImageReferences {
  private access: ReferenceAccess | undefined;

  /** Who may have EC2 look at what on their behalf; undefined: every caller may look at every type. */
  setAccess(access: ReferenceAccess | undefined): void {
    this.access = access;
  }

  readonly interceptor: Interceptor = async (request, next, context) => {
    if (request.action !== 'DescribeImageReferences' || !isEc2Request(request) || request.form === undefined) return next(request);
    try {
      const scope = parse(request.form);
      const access = this.access;
      const types = [...scope.types.keys()];
      const allowed = access ? await Promise.all(types.map((t) => access(t, request))) : types.map(() => true);
      const denied = types.filter((_, i) => !allowed[i]);
      if (denied.length > 0) {
        const actions = denied.flatMap((t) => REFERENCE_CHECK_PERMISSIONS[t]);
        throw new Refusal(
          403,
          'UnauthorizedOperation',
          `You are not authorized to perform this operation. DescribeImageReferences cannot check ${denied.join(', ')}: ` +
            `the caller lacks ${actions.join(', ')} (called via ec2-images.amazonaws.com).`,
        );
      }
      if (scope.dryRun) throw new Refusal(412, 'DryRunOperation', 'Request would have succeeded, but DryRun flag is set.');
      const digest = digestOf(request.form);
      const offset = offsetOf(scope.nextToken, digest);
      const all = await referencesOf(scope, request, context);
      const end = scope.maxResults === undefined ? all.length : offset + scope.maxResults;
      return answer(all.slice(offset, end), end < all.length ? tokenFor(end, digest) : undefined);
    } catch (error) {
      if (error instanceof Refusal) return ec2ErrorResponse(error.status, error.code, error.message);
      throw error;
    }
  };
}
