/**
 * Runs the Web Locks conformance suite against Node 24's navigator.locks (the
 * platform this API copies), with the binary `.ci/install-node.sh 24` fetched
 * into .cache/node/x64-24 (.ci/run does that before `npm test`). Any
 * difference from the platform shows here: a test that fails on Node 24 fails
 * this suite, unless the reference file marks it as a known difference (a todo with its reason).
 *
 * Without the binary: skipped loudly outside CI, a failure under CI=true.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HANG_GUARD_MS } from '../harness/bounds.js';

const node24 = fileURLToPath(new URL('../../../.cache/node/x64-24/bin/node', import.meta.url));
const reference = fileURLToPath(new URL('./reference-node24.js', import.meta.url));
const inCi = !['', '0', 'false', undefined].includes(process.env.CI);

if (!existsSync(node24)) {
  const why = `Node 24 is not at ${node24}: run .ci/install-node.sh 24`;
  if (inCi) {
    test('web locks: reference run on Node 24', () => assert.fail(why));
  } else {
    process.stderr.write(`\n*** SKIPPED web locks reference run on Node 24: ${why} ***\n\n`);
    test('web locks: reference run on Node 24', { skip: why }, () => {});
  }
} else {
  test('web locks: the conformance suite passes on Node 24\'s navigator.locks, known differences aside', { timeout: HANG_GUARD_MS }, async () => {
    // Without NODE_TEST_CONTEXT, which would make the child think it is a file of this run.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const child = spawn(node24, ['--test', '--test-reporter=spec', reference], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    process.stdout.write(output.replace(/^/gm, '# node24 | '));
    assert.equal(code, 0, `the reference run failed:\n${output}`);
    assert.match(output, /ℹ todo 5\b/, 'the five known differences are todos (and still differ)');
  });
}
