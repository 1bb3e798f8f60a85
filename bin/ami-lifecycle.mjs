#!/usr/bin/env node
// The operator CLI (cli/main.ts), run from TypeScript through tsx: nothing to build first.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv);
