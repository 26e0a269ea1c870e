#!/usr/bin/env node
// Runs the TypeScript sources through tsx so that `npx gatehouse` works straight after `npm install`,
// with no build step to remember.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv);
