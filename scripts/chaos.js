#!/usr/bin/env node
// The long-run chaos entry point (`npm run chaos -- …`): compile src and test
// with tsc (as `npm test` does), then run the chaos CLI (test/chaos/cli.ts)
// with the arguments given. See docs/chaos.md.
//
//   npm run chaos -- --driver etcd --duration 10m --seed 42
//   npm run chaos -- --driver all --seed 1 --docs        refresh the table in docs/chaos.md
//   npm run chaos -- --no-build …                         skip the compile step
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const build = !args.includes('--no-build');

if (build) {
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.test.json'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (tsc.status !== 0) process.exit(tsc.status ?? 1);
}
const run = spawnSync(process.execPath, [join(root, 'dist-test/test/chaos/cli.js'), ...args.filter((a) => a !== '--no-build')], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(run.status ?? 1);
