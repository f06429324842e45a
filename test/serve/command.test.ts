/**
 * `deadbolt serve` as a command: its usage errors, the token file's checks
 * (never echoed), the Host check against DNS rebinding, and a clean stop.
 */
import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { cli, killHolders, startHolder } from '../cli/helpers.js';
import { startServe, stopServers, tempDir, tokenFile } from './helpers.js';

describe('deadbolt serve (command)', () => {
  const tmp = tempDir('command');
  const locks = join(tmp.path, 'locks');
  after(async () => {
    await stopServers();
    killHolders();
    tmp.remove();
  });

  test('--help shows the routes and examples', async () => {
    const r = await cli(['serve', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--allow-break/);
    assert.match(r.stdout, /\/metrics/);
    assert.match(r.stdout, /\$ deadbolt serve --lock-path/);
  });

  test('usage errors name what is wrong', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [[], 78, /no backend/],
      [['--lock-path', locks, '--allow-break'], 64, /--allow-break needs --token-file/],
      [['--lock-path', locks, '--token-file', '/nonexistent'], 64, /only for --allow-break/],
      [['--lock-path', locks, '--listen', 'nowhere'], 64, /--listen nowhere: expected HOST:PORT/],
      [['--backend', 'memory://'], 64, /memory:\/\/ lives inside one process/],
      [['--lock-path', locks, '--warn-after', 'soon'], 64, /warn-after/],
    ];
    for (const [args, code, message] of cases) {
      const r = await cli(['serve', ...args]);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });

  test('a token file others can read is refused, and the token is never printed', async () => {
    const { path, token } = tokenFile(tmp.path, 'secret-token-do-not-print-0123');
    chmodSync(path, 0o644);
    const r = await cli(['serve', '--lock-path', locks, '--allow-break', '--token-file', path]);
    assert.equal(r.code, 77);
    assert.match(r.stderr, /mode 0644: others may read it/);
    assert.match(r.stderr, /chmod 600/);
    assert.ok(!r.stdout.includes(token) && !r.stderr.includes(token));
    chmodSync(path, 0o600);
    const short = tokenFile(join(tmp.path), 'short');
    const s = await cli(['serve', '--lock-path', locks, '--allow-break', '--token-file', short.path]);
    assert.equal(s.code, 64);
    assert.match(s.stderr, /at least 16 characters/);
  });

  test('answers only to its own Host (DNS rebinding), and stops with 0 on SIGTERM', async () => {
    await startHolder(locks, 'job');
    const serve = await startServe(['--lock-path', locks]);
    const url = new URL(serve.url);
    const status = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request({ host: url.hostname, port: url.port, path: '/api/locks', headers: { Host: host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    assert.equal(await status(`evil.example:${url.port}`), 421);
    assert.equal(await status(`127.0.0.1:${url.port}`), 200);
    assert.equal(await status(`localhost:${url.port}`), 200);
    assert.equal(await serve.stop(), 0);
  });
});
