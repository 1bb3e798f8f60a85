/**
 * Moto gap: moto's SSM Run Command never runs anything. Every invocation it records answers
 * GetCommandInvocation with Status `Success` at once, whatever the instance (moto has no SSM
 * agent, and no instance is a managed node). On AWS the result is what the document did on the
 * instance: Status `Pending | InProgress | Delayed | Success | Cancelled | TimedOut | Failed |
 * Cancelling`, with StatusDetails, ResponseCode ("the exit code", -1 while it has not run) and the
 * standard error's content (API reference, GetCommandInvocation,
 * https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetCommandInvocation.html).
 *
 * A test stages the result of the commands sent to an instance with
 * `proxy.setCommandResult(instanceId, { status, responseCode, stderr })`: GetCommandInvocation
 * then answers it for every command to that instance (ListCommands' own summary is left as moto
 * has it). What cannot be emulated is the agent itself: whether the image runs one that
 * registers, and what the document does on it. TEST-ONLY.
 */
import type { Interceptor } from '../proxy/chain.js';
import { bufferBody } from '../proxy/request.js';

export interface StagedCommandResult {
  status: 'Pending' | 'InProgress' | 'Delayed' | 'Success' | 'Cancelled' | 'TimedOut' | 'Failed' | 'Cancelling';
  /** StatusDetails; default: the status. */
  details?: string;
  /** The exit code; default 0 for Success, 1 for Failed, -1 otherwise. */
  responseCode?: number;
  stderr?: string;
}

export class CommandResults {
  private readonly staged = new Map<string, StagedCommandResult>();

  set(instanceId: string, result: StagedCommandResult): void {
    this.staged.set(instanceId, result);
  }

  clear(): void {
    this.staged.clear();
  }

  readonly interceptor: Interceptor = async (request, next) => {
    if (request.headers['x-amz-target'] !== 'AmazonSSM.GetCommandInvocation' || this.staged.size === 0) return next(request);
    const asked = JSON.parse(request.body.toString('utf8') || '{}') as { InstanceId?: string };
    const staged = asked.InstanceId ? this.staged.get(asked.InstanceId) : undefined;
    if (!staged) return next(request);
    const response = await next(request);
    if (response.status !== 200) return response;
    const answer = JSON.parse((await bufferBody(response.body)).toString('utf8')) as Record<string, unknown>;
    const code = staged.responseCode ?? (staged.status === 'Success' ? 0 : staged.status === 'Failed' ? 1 : -1);
    const body = JSON.stringify({
      ...answer,
      Status: staged.status,
      StatusDetails: staged.details ?? staged.status,
      ResponseCode: code,
      StandardErrorContent: staged.stderr ?? '',
    });
    const headers = { ...response.headers };
    delete headers['content-length'];
    return { ...response, headers, body: Buffer.from(body, 'utf8') };
  };
}
