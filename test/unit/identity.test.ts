/**
 * What a holder record says of its process: by default the program and the
 * script, never an argument; the whole command line only with recordArgs.
 * Each case runs in a Node process of its own, with a secret in its arguments.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clipCommand } from '../../src/internal/identity.js';

const IDENTITY = fileURLToPath(new URL('../../src/internal/identity.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'deadbolt-identity-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const PRINT = `import { processIdentity } from ${JSON.stringify(IDENTITY)};
const short = processIdentity(), full = processIdentity({ recordArgs: true });
console.log(JSON.stringify({ short: short.command, full: full.command, sameId: short.id === full.id, stable: processIdentity() === short }));`;

type Seen = { short: string; full: string; sameId: boolean; stable: boolean };

function identityOf(args: string[]): Seen {
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Seen;
}

test('a Node script records its program and script, not its arguments; recordArgs records them', () => {
  const script = join(dir, 'worker.mjs');
  writeFileSync(script, PRINT);
  const seen = identityOf(['--no-warnings', script, '--password=hunter2', 'queue']);
  assert.deepEqual(seen, { short: `${process.execPath} ${script}`, full: `${process.execPath} ${script} --password=hunter2 queue`, sameId: true, stable: true });
});

test('node -e: no script, so only the program (argv[1] is then the first argument)', () => {
  for (const eval_ of [['-e', PRINT], [`--eval=${PRINT}`]]) {
    const seen = identityOf(['--input-type=module', ...eval_, '--', '--password=hunter2']);
    assert.equal(seen.short, process.execPath, eval_[0]);
    assert.match(seen.full, /--password=hunter2$/);
  }
});

test('clipCommand keeps records small and marks the cut', () => {
  assert.equal(clipCommand('node /a.js'), 'node /a.js');
  const long = clipCommand('x'.repeat(600));
  assert.equal(long.length, 512);
  assert.ok(long.endsWith('...'));
});
