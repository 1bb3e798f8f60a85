/**
 * `npm run readme:permissions`: writes the README's permissions table from the packaged
 * template (cached; see test/infra/packaged.ts). test/integration/readme-permissions.test.ts
 * fails when the README and the template differ.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT, readServerless } from '../cli/serverless-config.js';
import { packagedTemplate } from '../test/infra/packaged.js';
import { permissionsTable, README_STAGE, withTable } from '../test/infra/permissions-table.js';

const wiring = readServerless({ stage: README_STAGE });
const { template } = await packagedTemplate({ stage: README_STAGE });
const file = join(PROJECT_ROOT, 'README.md');
const table = permissionsTable(template, wiring.service, README_STAGE, wiring.functions.map((f) => f.name));
writeFileSync(file, withTable(readFileSync(file, 'utf8'), table));
console.log(table);
