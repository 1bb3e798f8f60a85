/**
 * `npm run docs`: rewrites every generated block of the documents (scripts/docs/generated.ts)
 * from its source: the event schemas, serverless.yml's parameters, the packaged template.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../cli/serverless-config.js';
import { withBlock } from './docs/blocks.js';
import { GENERATED_BLOCKS } from './docs/generated.js';

for (const block of GENERATED_BLOCKS) {
  const file = join(PROJECT_ROOT, block.file);
  writeFileSync(file, withBlock(readFileSync(file, 'utf8'), block.name, await block.render()));
  console.log(`${block.file}: ${block.name}`);
}
