/**
 * Rewrites test/fixtures/packaged-template.json: the canonical form of the template
 * `serverless package --stage ci --region us-east-1` builds now (test/infra/template-canonical.ts).
 * template-equivalence.test.ts fails while the packaged template differs from it.
 *
 * Run it only when a change of the template is intended, and commit the fixture with that change:
 * a change to the fixture is reviewed like code, since it is what will be deployed.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../cli/serverless-config.js';
import { packagedTemplate } from '../test/infra/packaged.js';
import { canonicalText, FIXTURE, FIXTURE_REGION, FIXTURE_STAGE } from '../test/infra/template-canonical.js';

const { template, packaged } = await packagedTemplate({ stage: FIXTURE_STAGE, region: FIXTURE_REGION });
writeFileSync(join(PROJECT_ROOT, FIXTURE), canonicalText(template));
console.info(
  `${FIXTURE} written from the ${packaged ? 'template just packaged' : 'cached packaged template'} (stage ${FIXTURE_STAGE}, ${FIXTURE_REGION})`,
);
