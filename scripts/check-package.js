#!/usr/bin/env node
// Checks the package a user would install (`npm run check:package`; CI runs it after
// scripts/prebuild.sh): packs it, checks its file list, lints it with publint and
// @arethetypeswrong/cli, then installs the tarball into scratch projects and runs
// the consumers in test/package-consumers/ on every Node given:
//   - ESM (import) and CommonJS (require of an ES module) applications, each using
//     in-process locks, a lock directory (the prebuilt addon, no compiler involved)
//     and a coordinator; TypeScript ESM and CommonJS consumers type-checked against
//     the packed declarations;
//   - an install with --ignore-scripts and no prebuild for the platform, where only
//     lock directories fail, with an error that says what works and how to fix it.
//
//   node scripts/check-package.js [--node PATH]...     (default: the running node)
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const consumers = join(root, 'test/package-consumers');
const { values } = parseArgs({ options: { node: { type: 'string', multiple: true } } });
const nodes = (values.node ?? [process.execPath]).map((node) => resolve(node));

/** What users need, and nothing else: compiled code and types, the addon (prebuilt and its sources), docs. */
const ALLOWED = [/^package\.json$/, /^README\.md$/, /^LICENSE$/, /^binding\.gyp$/, /^native\/[\w.]+\.(cc|h)$/, /^dist\/.+\.(js|d\.ts)$/, /^docs\/.+\.md$/, /^prebuilds\/linux-(x64|arm64)\/deadbolt\.napi\.glibc\.node$/];
const REQUIRED = ['LICENSE', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'prebuilds/linux-x64/deadbolt.napi.glibc.node', 'prebuilds/linux-arm64/deadbolt.napi.glibc.node'];

const run = (command, args, options = {}) => execFileSync(command, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...options });
const step = (what) => console.log(`check-package: ${what}`);

const scratch = mkdtempSync(join(tmpdir(), 'deadbolt-package-'));
try {
  step('npm pack');
  const [packed] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', scratch]));
  const tarball = join(scratch, packed.filename);
  const files = packed.files.map((f) => f.path);
  const unexpected = files.filter((f) => !ALLOWED.some((pattern) => pattern.test(f)));
  const missing = REQUIRED.filter((f) => !files.includes(f));
  if (unexpected.length > 0 || missing.length > 0) {
    throw new Error(`the tarball is wrong: unexpected ${JSON.stringify(unexpected)}, missing ${JSON.stringify(missing)} (prebuilds come from scripts/prebuild.sh)`);
  }
  step(`${files.length} files, ${(packed.size / 1e6).toFixed(2)} MB packed`);

  step('publint');
  run(process.execPath, [join(root, 'node_modules/publint/src/cli.js'), 'run', tarball, '--strict'], { stdio: 'inherit' });
  step('@arethetypeswrong/cli');
  // node10 resolution (TypeScript's legacy "node") has no exports map: not supported. CommonJS
  // consumers require() the ES module (Node 20.19+ / 22.12+), which attw's node16 CJS check predates.
  run(process.execPath, [join(root, 'node_modules/@arethetypeswrong/cli/dist/index.js'), tarball, '--profile', 'node16', '--ignore-rules', 'cjs-resolves-to-esm'], { stdio: 'inherit' });

  const app = install(join(scratch, 'app'), tarball, []);
  if (existsSync(join(app, 'node_modules/deadbolt/build'))) throw new Error('installing compiled the addon although a prebuild ships for this platform');
  step('TypeScript consumers (ESM and CommonJS) against the packed declarations');
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', target: 'es2022', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [join(root, 'node_modules/@types')] }, files: ['consumer.mts', 'consumer.cts'] }));
  run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', app], { stdio: 'inherit' });

  const bare = install(join(scratch, 'no-addon'), tarball, ['--ignore-scripts']);
  rmSync(join(bare, 'node_modules/deadbolt/prebuilds'), { recursive: true }); // a platform without a prebuild

  for (const node of nodes) {
    for (const consumer of ['consumer.mjs', 'consumer.cjs']) console.log(run(node, [consumer], { cwd: app }).trim());
    console.log(run(node, ['no-addon.mjs'], { cwd: bare }).trim());
  }
  step('OK');
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

/** A scratch project with the consumers and the tarball installed. */
function install(dir, tarball, flags) {
  mkdirSync(dir);
  cpSync(consumers, dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'deadbolt-consumer', private: true }));
  step(`npm install ${['the tarball', ...flags].join(' ')}`);
  run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...flags, tarball], { cwd: dir, stdio: 'inherit' });
  return dir;
}
