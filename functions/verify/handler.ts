/**
 * Verifying images (docs/verification.md): VerificationRequested from the service's bus starts
 * one, its one-time schedule looks again when due, and a recurring sweep finds what was lost.
 */
import { schedulerClient, ssmClient } from '../../shared/aws/clients.js';
import { SchedulerGateway } from '../../shared/aws/scheduler-gateway.js';
import { SsmGateway } from '../../shared/aws/ssm-gateway.js';
import { verifyEc2 } from '../../shared/aws/ec2/gateways.js';
import { VerifyInput } from '../../shared/domain/incoming.js';
import { loadRecheckTarget, loadVerifySettings } from '../../shared/runtime/config.js';
import { productionDeps } from '../../shared/runtime/deps.js';
import { ConfigError } from '../../shared/runtime/errors.js';
import { eventHandler } from '../../shared/runtime/middleware.js';
import { sweepVerifications, verifyImage } from '../../shared/use-cases/verify-image.js';

const settings = loadVerifySettings();
const base = productionDeps(verifyEc2);
const deps =
  'notConfigured' in settings
    ? undefined
    : {
        ...base,
        verify: settings,
        rechecks: new SchedulerGateway(
          schedulerClient(),
          loadRecheckTarget(process.env, 'VERIFY_CHECK'),
          'ami-lifecycle: a verification looks again (docs/verification.md)',
        ),
        ...(settings.command ? { commands: new SsmGateway(ssmClient()) } : {}),
      };

export const handler = eventHandler('verify', VerifyInput, async (input) => {
  if (!deps) {
    // A stage that does not verify: the sweep has nothing to do; a verification asked for fails loudly.
    if (input['detail-type'] === 'Verification Sweep') return { skipped: (settings as { notConfigured: string }).notConfigured };
    throw new ConfigError((settings as { notConfigured: string }).notConfigured);
  }
  switch (input['detail-type']) {
    case 'VerificationRequested':
      return verifyImage(input.detail.imageId, deps);
    case 'Verification Check':
      return verifyImage(input.imageId, deps, new Date(input.scheduledTime));
    case 'Verification Sweep':
      return sweepVerifications(deps, input.scheduledTime ? new Date(input.scheduledTime) : undefined);
  }
});
