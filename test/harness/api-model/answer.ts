/**
 * A refused request answered as AWS answers it, per protocol and service family. TEST-ONLY.
 *
 * - EC2 (HTTP 400, its XML `<Response><Errors>`): `UnknownParameter` "The parameter ImageType is
 *   not recognized" (https://github.com/appoxy/aws/issues/32, a raw EC2 answer);
 *   `MissingParameter` "The request must contain the parameter SpotInstanceRequestId" (the AWS
 *   CLI's answer to an empty id list, as quoted in public tests); `InvalidParameterValue` for a bad value, as
 *   "Value ( 1 ) for parameter maxResults is invalid. Expecting a value greater than 5."
 *   (https://github.com/aws/aws-sdk-ruby/pull/2575) and "instance-ids cannot contain over 100
 *   values." for too long a list (https://github.com/aws-samples/ec2-topology-aware-for-slurm/issues/4).
 *   The codes: "Error codes for the Amazon EC2 API",
 *   https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html.
 * - JSON protocols (EventBridge, SSM, Scheduler, Lambda): HTTP 400 `ValidationException`, with
 *   the Coral message "1 validation error detected: Value '[PutEventsRequestEntry]' at 'entries'
 *   failed to satisfy constraint: Member must have length less than or equal to 10" (moto and
 *   LocalStack copy AWS's text: https://github.com/localstack/localstack/pull/11047); a value of
 *   the wrong JSON type is a `SerializationException`
 *   (https://github.com/faiscadev/fakecloud/pull/1431, a conformance run against AWS's models).
 * - Query protocols (IAM, CloudFormation, STS): HTTP 400 `<ErrorResponse>` `ValidationError`
 *   with the same Coral message, e.g. "Value '...' at 'roleName' failed to satisfy constraint:
 *   Member must have length less than or equal to 64" (https://github.com/NixOS/nixops/issues/328).
 * - JSON services that keep their query-era errors (CloudWatch): the codes the model declares,
 *   `InvalidParameterValue` "The collection MetricData must not have a size greater than 20."
 *   (https://github.com/aws/aws-sdk-go/issues/2019) and `MissingParameter`, with the
 *   `x-amzn-query-error` header the SDK reads them from.
 */
import { randomUUID } from 'node:crypto';
import type { ProxiedResponse } from '../proxy/chain.js';
import { ec2ErrorResponse } from '../proxy/answers.js';
import type { ServiceModel } from './botocore.js';
import { Blob } from './deserialize.js';
import type { Failure, Step } from './validate.js';

export interface Answer {
  response: ProxiedResponse;
  code: string;
  message: string;
}

export type WireProtocol = 'ec2' | 'query' | 'json' | 'rest-json';

/** `TagSpecifications.1.Tags.2.Key`: the member as the SDK user names it. */
export function modelPath(path: Step[]): string {
  return path.map((s) => ('member' in s ? s.member : 'index' in s ? String(s.index) : s.key)).join('.') || '(request)';
}

const lowerFirst = (name: string) => (name ? name[0]!.toLowerCase() + name.slice(1) : name);

/** Coral's path: `entries.1.member.detail`. */
function coralPath(path: Step[]): string {
  return path.map((s) => ('member' in s ? lowerFirst(s.member) : 'index' in s ? `${s.index}.member` : s.key)).join('.');
}

/** The query protocol's parameter name: `MetricData.member.1.Value`. */
function queryPath(path: Step[]): string {
  return path.map((s) => ('member' in s ? s.member : 'index' in s ? `member.${s.index}` : s.key)).join('.');
}

/** A value as a Java service prints it in a message (toString), shortened. */
function render(value: unknown, shapeName?: string): string {
  const text = renderValue(value, shapeName);
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

function renderValue(value: unknown, shapeName?: string): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map((v) => renderValue(v)).join(', ')}]`;
  if (value instanceof Map) return `{${[...value].map(([k, v]) => `${k}=${renderValue(v)}`).join(', ')}}`;
  if (value instanceof Blob) return `java.nio.HeapByteBuffer[pos=0 lim=${value.bytes.length} cap=${value.bytes.length}]`;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') return shapeName ?? 'structure';
  return String(value);
}

/** A list of structures prints as `[PutEventsRequestEntry, ...]`: name the element shape. */
function failureValue(model: ServiceModel, f: Failure): string {
  if (Array.isArray(f.value) && f.shapeName) {
    const member = model.shapes[f.shapeName]?.member?.shape;
    const memberShape = member ? model.shapes[member] : undefined;
    if (memberShape?.type === 'structure')
      return render(
        f.value.map(() => member),
        undefined,
      ).replaceAll('"', '');
  }
  return render(f.value, f.shapeName);
}

/** Coral's constraint sentence. */
function coralConstraint(f: Failure): string {
  switch (f.rule) {
    case 'required':
      return 'Member must not be null';
    case 'length':
      return `Member must have length ${f.bound!.side === 'max' ? 'less' : 'greater'} than or equal to ${f.bound!.limit}`;
    case 'range':
      return `Member must have value ${f.bound!.side === 'max' ? 'less' : 'greater'} than or equal to ${f.bound!.limit}`;
    case 'enum':
      return `Member must satisfy enum value set: [${f.enumValues!.join(', ')}]`;
    case 'pattern':
      return `Member must satisfy regular expression pattern: ${f.pattern}`;
    default:
      return `Member must be of type ${f.expectedType}`;
  }
}

/** "1 validation error detected: Value '…' at 'entries' failed to satisfy constraint: …" */
export function coralMessage(model: ServiceModel, failures: Failure[]): string {
  const parts = failures.map((f) => {
    const at = coralPath(f.path);
    if (f.rule === 'required') return `Value null at '${at}' failed to satisfy constraint: ${coralConstraint(f)}`;
    // A sensitive member's value is left out ("Value at 'value' failed to satisfy constraint").
    const value = f.sensitive ? 'Value' : `Value '${failureValue(model, f)}'`;
    return `${value} at '${at}' failed to satisfy constraint: ${coralConstraint(f)}`;
  });
  return `${parts.length} validation error${parts.length === 1 ? '' : 's'} detected: ${parts.join('; ')}`;
}

/** EC2's reason sentence for a bad value. */
function ec2Reason(f: Failure): string {
  const b = f.bound;
  switch (f.rule) {
    case 'length':
      if (b!.of === 'list' || b!.of === 'map') {
        const given = Array.isArray(f.value) ? f.value.length : (f.value as Map<string, unknown>).size;
        return `Expecting ${b!.side === 'max' ? 'at most' : 'at least'} ${b!.limit} values, not ${given}.`;
      }
      return `Expecting a length of ${b!.side === 'max' ? 'at most' : 'at least'} ${b!.limit} ${b!.of === 'blob' ? 'bytes' : 'characters'}.`;
    case 'range':
      return `Expecting a value ${b!.side === 'max' ? 'less' : 'greater'} than or equal to ${b!.limit}.`;
    case 'enum': {
      const shown = f.enumValues!.slice(0, 30).join(', ');
      return `Expecting one of: ${shown}${f.enumValues!.length > 30 ? ', ...' : ''}.`;
    }
    case 'pattern':
      return `Expecting a value that matches the pattern ${f.pattern}.`;
    default:
      return `Expecting a value of type ${f.expectedType}.`;
  }
}

/** The failure EC2 reports first: unknown parameters, then missing ones, then bad values. */
export function firstForEc2(failures: Failure[]): Failure {
  const order: Record<string, number> = { unknown: 0, required: 1 };
  return [...failures].sort((a, b) => (order[a.rule] ?? 2) - (order[b.rule] ?? 2))[0]!;
}

export function ec2Answer(model: ServiceModel, failures: Failure[]): Answer {
  const f = firstForEc2(failures);
  let code: string;
  let message: string;
  if (f.rule === 'unknown') {
    code = 'UnknownParameter';
    message = `The parameter ${f.wire} is not recognized`;
  } else if (f.rule === 'required') {
    code = 'MissingParameter';
    message = `The request must contain the parameter ${modelPath(f.path)}`;
  } else {
    code = 'InvalidParameterValue';
    const value = f.sensitive ? '***' : failureValue(model, f);
    message = `Value (${value}) for parameter ${modelPath(f.path)} is invalid. ${ec2Reason(f)}`;
  }
  return { response: ec2ErrorResponse(400, code, message), code, message };
}

export function queryAnswer(model: ServiceModel, failures: Failure[]): Answer {
  const code = 'ValidationError';
  const message = coralMessage(model, failures);
  const ns = `https://${model.metadata.endpointPrefix}.amazonaws.com/doc/${model.metadata.apiVersion}/`;
  const body =
    `<ErrorResponse xmlns="${ns}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error>` +
    `<RequestId>${randomUUID()}</RequestId></ErrorResponse>`;
  return { response: { status: 400, headers: { 'content-type': 'text/xml' }, body: Buffer.from(body, 'utf8') }, code, message };
}

/** The code a query-compatible JSON service declares for this kind of failure, if it declares one. */
function declaredCode(model: ServiceModel, wanted: string): { shape: string; code: string } | undefined {
  for (const [name, shape] of Object.entries(model.shapes)) {
    if (shape.error?.code === wanted) return { shape: name, code: wanted };
  }
  return undefined;
}

export function jsonAnswer(model: ServiceModel, failures: Failure[], rest: boolean): Answer {
  const first = failures[0]!;
  // Query-era services on JSON (CloudWatch) keep their query error codes and messages.
  if (model.metadata.awsQueryCompatible !== undefined && first.rule !== 'type') {
    const missing = first.rule === 'required' ? declaredCode(model, 'MissingParameter') : undefined;
    const invalid = declaredCode(model, 'InvalidParameterValue');
    const chosen = missing ?? invalid;
    if (chosen) {
      const at = queryPath(first.path);
      const message =
        first.rule === 'required'
          ? `The parameter ${at} is required.`
          : first.rule === 'length' && (first.bound!.of === 'list' || first.bound!.of === 'map')
            ? `The collection ${at} must not have a size ${first.bound!.side === 'max' ? 'greater' : 'less'} than ${first.bound!.limit}.`
            : `The parameter ${at} failed to satisfy constraint: ${coralConstraint(first)}.`;
      return jsonError(model, 400, chosen.shape, chosen.code, message, rest);
    }
  }
  if (failures.some((f) => f.rule === 'type')) {
    const f = failures.find((x) => x.rule === 'type')!;
    const message = `Unexpected value type at '${coralPath(f.path) || 'body'}': expected ${f.expectedType}`;
    return jsonError(model, 400, 'SerializationException', 'SerializationException', message, rest);
  }
  return jsonError(model, 400, 'ValidationException', 'ValidationException', coralMessage(model, failures), rest);
}

function jsonError(model: ServiceModel, status: number, type: string, code: string, message: string, rest: boolean): Answer {
  const headers: Record<string, string> = { 'x-amzn-requestid': randomUUID() };
  let body: string;
  if (rest) {
    headers['content-type'] = 'application/json';
    headers['x-amzn-errortype'] = code;
    body = JSON.stringify({ message });
  } else {
    headers['content-type'] = `application/x-amz-json-${model.metadata.jsonVersion ?? '1.0'}`;
    body = JSON.stringify({ __type: type, message });
    if (model.metadata.awsQueryCompatible !== undefined) headers['x-amzn-query-error'] = `${code};Sender`;
  }
  return { response: { status, headers, body: Buffer.from(body, 'utf8') }, code, message };
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}
