/**
 * The holder record format is defined once, in JavaScript (holder-record.ts:
 * recordParts, encodeRecord, decodeRecord); the native grant (native/grant.cc)
 * only fills in the token and the time. This golden test proves the two agree
 * byte for byte: a record the addon writes, with a known token, equals what
 * encodeRecord() makes of the same fields (the time read back from what was
 * written), and decodeRecord() reads it back. Fields are chosen to exercise
 * JSON escaping and the checksum over UTF-8 bytes (quotes, backslashes,
 * U+2028, non-BMP characters).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { grantRequest, tryLockFile, unlockFile } from '../../src/file/grant.js';
import { decodeRecord, encodeRecord, recordParts, type HolderRecord } from '../../src/file/holder-record.js';
import { TOKEN_FILE } from '../../src/file/lock-name.js';

import { tempDir } from './helpers.js';
import { CLEANUP, closeFd, openDir, openLockFd, tryLock, unlock } from './native-helpers.js';

const tmp = tempDir('record-format');
after(() => tmp.remove());
let seq = 0;

const owner = { id: 'c0ffee-ü', host: 'host "quoted" \\ back', pid: 4242, command: 'node /srv/app/wörker.js \u2028 😀' };
const NAME = 'nightly "report" \\ ü 😀';
/** What Date#toISOString() writes, which the addon imitates. */
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** A fresh lock directory whose counter says `last`, so the next token is `last + 1`. */
function directory(last: bigint) {
  const path = join(tmp.path, `d${seq++}`);
  mkdirSync(path, { mode: 0o700 });
  writeFileSync(join(path, TOKEN_FILE), `${String(last).padStart(20, '0')}\n`, { mode: 0o600 });
  const handle = openDir(path, CLEANUP);
  handle.raw.openCounter();
  return { path, handle };
}

/** The record encodeRecord() would write for what the addon wrote into `text`; asserts the time's shape first. */
function expectedFor(text: string, fields: Omit<HolderRecord, 'since'>): { expected: string; since: Date } {
  const sinceText = /"since":"([^"]*)"\}\n/.exec(text)?.[1];
  assert.ok(sinceText !== undefined && ISO.test(sinceText), `a grant time in toISOString() form: ${text}`);
  const since = new Date(sinceText);
  assert.ok(Math.abs(since.getTime() - Date.now()) < 60_000, 'the time of the grant');
  return { expected: encodeRecord({ ...fields, since }), since };
}

for (const mode of ['exclusive', 'shared'] as const) {
  test(`a ${mode} grant's record is byte-identical to encodeRecord(), and decodeRecord() reads it`, () => {
    const { path, handle } = directory(41n);
    try {
      const grant = tryLockFile(handle, grantRequest('golden', mode, recordParts(NAME, mode, owner)));
      assert.ok(grant);
      assert.equal(grant.token, 42n);
      const text = readFileSync(join(path, 'golden'), 'utf8');
      const { expected, since } = expectedFor(text, { name: NAME, mode, token: 42n, ...owner });
      assert.equal(text, expected, 'one line, exactly as JavaScript encodes it');
      assert.deepEqual(decodeRecord(text), { name: NAME, mode, token: 42n, ...owner, since });
      assert.equal(unlockFile(handle, grant.fd, 'golden', mode === 'exclusive'), 'same');
    } finally {
      handle.close();
    }
  });
}

test('a record written by the token step after a busy counter (tokenNow) is byte-identical too', () => {
  const { path, handle } = directory(99n);
  const record = recordParts(NAME, 'exclusive', owner);
  const blocker = openLockFd(handle, TOKEN_FILE);
  try {
    assert.equal(tryLock(blocker, 'exclusive'), true);
    const grant = tryLockFile(handle, grantRequest('golden', 'exclusive', record));
    assert.ok(grant);
    assert.equal(grant.token, undefined, 'the counter was busy: no token, no record yet');
    assert.equal(readFileSync(join(path, 'golden'), 'utf8'), '');
    unlock(blocker);
    assert.equal(handle.raw.tokenNow(grant.fd, record.head, record.tail), 100n);
    const text = readFileSync(join(path, 'golden'), 'utf8');
    const { expected } = expectedFor(text, { name: NAME, mode: 'exclusive', token: 100n, ...owner });
    assert.equal(text, expected);
    assert.equal(unlockFile(handle, grant.fd, 'golden', true), 'same');
  } finally {
    closeFd(blocker);
    handle.close();
  }
});

test('over a longer old record, the new line is written at offset 0 without truncating; readers take the first line', () => {
  const { path, handle } = directory(6n);
  const old = encodeRecord({ name: NAME, mode: 'exclusive', token: 6n, id: 'old', host: 'old', pid: 1, command: 'x'.repeat(400), since: new Date(0) });
  writeFileSync(join(path, 'golden'), old, { mode: 0o600 });
  try {
    const grant = tryLockFile(handle, grantRequest('golden', 'exclusive', recordParts(NAME, 'exclusive', owner)));
    assert.ok(grant);
    assert.equal(grant.token, 7n);
    // Bytes, not characters: the records hold multi-byte UTF-8.
    const bytes = readFileSync(join(path, 'golden'));
    const firstLine = bytes.subarray(0, bytes.indexOf(0x0a) + 1);
    const { expected } = expectedFor(firstLine.toString('utf8'), { name: NAME, mode: 'exclusive', token: 7n, ...owner });
    assert.equal(firstLine.toString('utf8'), expected);
    assert.ok(bytes.subarray(firstLine.length).equals(Buffer.from(old).subarray(firstLine.length)), "the old record's tail is left after the newline");
    assert.equal(decodeRecord(bytes.toString('utf8'))?.token, 7n);
    assert.equal(unlockFile(handle, grant.fd, 'golden', true), 'same');
  } finally {
    handle.close();
  }
});
