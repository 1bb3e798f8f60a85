/**
 * Every generated block of the documents, and where it comes from: what code or
 * configuration can say is never written by hand (`npm run docs` writes them; a test holds
 * them equal).
 */
import { readServerless } from '../../cli/serverless-config.js';
import { packagedTemplate } from '../../test/infra/packaged.js';
import { DOCS_STAGE, permissionsTable } from '../../test/infra/permissions-table.js';
import { operatorStalePolicy } from '../../cli/operator-policy.js';
import { publishedEventsDoc } from './events-doc.js';
import { parametersDoc } from './parameters-doc.js';

export interface GeneratedBlock {
  file: string;
  name: string;
  render: () => Promise<string> | string;
}

export const GENERATED_BLOCKS: GeneratedBlock[] = [
  {
    file: 'docs/stale-images.md',
    name: 'operator-policy',
    render: () => `\`\`\`json\n${JSON.stringify(operatorStalePolicy('ami-lifecycle-prod'), null, 2)}\n\`\`\``,
  },
  { file: 'docs/events.md', name: 'published-events', render: () => publishedEventsDoc() },
  { file: 'docs/configuration.md', name: 'parameters', render: () => parametersDoc() },
  {
    file: 'docs/permissions.md',
    name: 'permissions',
    render: async () => {
      const wiring = readServerless({ stage: DOCS_STAGE });
      const { template } = await packagedTemplate({ stage: DOCS_STAGE });
      return permissionsTable(
        template,
        wiring.service,
        DOCS_STAGE,
        wiring.functions.map((f) => f.name),
      );
    },
  },
];
