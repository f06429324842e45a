/**
 * escapeText and the table: forged names, commands, hosts and reasons with
 * terminal escapes, carriage returns, newlines, bidi overrides and one-byte
 * CSIs come out as visible escapes; no cell can break a row; our own colours
 * still work and widths count what is shown.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import pc from 'picocolors';
import { escapeText } from '../../src/cli/escape.js';
import { displayCommand } from '../../src/cli/format.js';
import { alignRows, styled, table, visibleWidth } from '../../src/cli/table.js';

/** Everything that must never reach a terminal raw (a line break only where the layout puts one). */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]|\p{Cs}/u;
/** Our own colours: SGR sequences only. */
const SGR = /\x1b\[[0-9;]*m/g;

test('escapeText: C0 (tab, newline, carriage return included), DEL, C1, bidi controls, U+2028/9, lone surrogates', () => {
  assert.equal(escapeText('a\tb\nc\rd'), 'a\\tb\\nc\\rd');
  assert.equal(escapeText('\x00\x07\x1b[2J\x7f'), '\\x00\\x07\\x1b[2J\\x7f');
  assert.equal(escapeText('\x9b31m\x85\x80\x9f'), '\\x9b31m\\x85\\x80\\x9f');
  assert.equal(escapeText('txt.\u202eexe'), 'txt.\\u{202e}exe');
  for (const bidi of ['\u061c', '\u200e', '\u200f', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069']) {
    assert.equal(escapeText(bidi), `\\u{${bidi.codePointAt(0)!.toString(16)}}`);
  }
  assert.equal(escapeText('a\u2028b\u2029'), 'a\\u{2028}b\\u{2029}');
  assert.equal(escapeText('x\ud800y\udfff'), 'x\\u{d800}y\\u{dfff}');
  for (let c = 0; c <= 0x9f; c++) {
    const char = String.fromCharCode(c);
    const unsafe = c < 0x20 || c >= 0x7f;
    assert.equal(escapeText(char) !== char, unsafe, `U+${c.toString(16)}`);
  }
});

test('escapeText leaves printable text alone, a backslash included, and is idempotent', () => {
  for (const text of ['nightly-report', 'café ☕ 🔒 日本語', 'C:\\dir\\x1b', 'a"b\'c', 'Ünïcödé – dash', '']) {
    assert.equal(escapeText(text), text);
  }
  fc.assert(
    fc.property(fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 40 }), (text) => {
      const once = escapeText(text);
      assert.doesNotMatch(once, UNSAFE);
      assert.equal(escapeText(once), once);
    }),
  );
});

const FORGED = {
  name: 'jobs\x1b[2J\x1b[H',
  command: 'node /srv/x.js\n  fake  exclusive  1  forged-row\r',
  host: 'web-1\u202e1-bew',
  reason: 'stuck\x9b2J\u2028next line',
  id: 'id\x1b]0;pwned\x07',
};

test('a table of forged cells: every row one line, nothing raw, aligned on the escaped form', () => {
  const rows = [
    [FORGED.name, FORGED.command, FORGED.host, FORGED.id],
    ['ok', 'node /srv/ok.js', 'web-2', 'a1'],
  ];
  const text = table([{ header: 'NAME' }, { header: 'COMMAND' }, { header: 'HOST' }, { header: 'ID' }], rows);
  const lines = text.split('\n');
  assert.equal(lines.length, 3, text);
  assert.doesNotMatch(text.replaceAll('\n', ''), UNSAFE);
  assert.ok(lines[1]!.startsWith(`${escapeText(FORGED.name)}  `));
  // Each cell starts in the same column on every line: widths count the escaped form.
  const hostColumn = lines[0]!.indexOf('HOST');
  assert.equal(lines[1]!.indexOf(escapeText(FORGED.host)), hostColumn);
  assert.equal(lines[2]!.indexOf('web-2'), hostColumn);
});

test('our colours still work, around escaped text, and take no width', () => {
  const c = pc.createColors(true);
  const text = table([{ header: 'STATE' }, { header: 'NAME' }], [[styled('leftover', c.red), FORGED.name], [styled('free', c.green), 'b']], c.bold);
  assert.ok(text.includes(c.red('leftover')), 'the red of a cell');
  assert.ok(text.includes(c.bold('STATE')), 'the bold of the header');
  const plain = text.replace(SGR, '');
  assert.doesNotMatch(plain.replaceAll('\n', ''), UNSAFE, 'no ESC but in our colours');
  assert.deepEqual(
    plain.split('\n').map((l) => l.indexOf(l.trim().split(/ {2,}/)[1]!)),
    [10, 10, 10],
    'aligned as if uncoloured',
  );
  // A forged colour sequence is escaped like any other: it is not ours.
  const forgedRed = alignRows([['\x1b[31mred']]);
  assert.equal(forgedRed, '\\x1b[31mred');
  assert.equal(visibleWidth(escapeText('\x1b[31m')), 8);
});

test('a shortened command is shortened after escaping, so the limit holds for what is shown', () => {
  const shown = displayCommand(escapeText(FORGED.command), 20);
  assert.equal([...shown].length, 20);
  assert.doesNotMatch(shown, UNSAFE);
});
