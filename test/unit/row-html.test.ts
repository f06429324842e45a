/**
 * The first screen of rows the server writes into the page
 * (src/serve/page/row-html.ts): hostile text escaped, never markup, and the
 * same text the page's script shows (row-view.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LockRow } from '../../src/serve/lock-row.js';
import { escapeHtml, rowsHtml } from '../../src/serve/page/row-html.js';
import { textCells, visible } from '../../src/serve/page/row-view.js';

const HOSTILE = `<img src=x onerror="alert(1)">'&amp;\u202e\u0000\r\n</td></tr><script>x</script>`;

/** Decode the character references escapeHtml writes (the only ones it writes). */
function decode(html: string): string {
  return html.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e]!);
}

function row(name: string, command = 'node worker.js'): LockRow {
  return {
    backend: 'redis',
    name,
    mode: 'exclusive',
    holders: [{ id: 'i', host: 'h"ost', pid: 7, command, token: '42', since: 0, expiresAt: 60_000, state: 'running', data: null }],
    waiters: 0,
  };
}

test('escapeHtml leaves no character that could open a tag, end an attribute or start a reference', () => {
  const out = escapeHtml(HOSTILE);
  assert.doesNotMatch(out, /[<>"']/);
  assert.doesNotMatch(out.replace(/&(amp|lt|gt|quot|#39);/g, ''), /&/);
  assert.doesNotMatch(out, /[\u0000-\u001f\u202e]/, 'control and bidi characters shown as escapes, as the page shows them');
  assert.equal(decode(out), visible(HOSTILE));
});

test('a written row holds exactly the script\'s cell texts, as text, and nothing else from the row', () => {
  const r = row(HOSTILE, `sh -c "echo '<b>'"`);
  const html = rowsHtml([r], 30_000, 600_000);
  const cells = [...html.matchAll(/<td(?: title="([^"]*)")?>(.*?)<\/td>/g)];
  assert.equal(cells.length, 9);
  const expected = textCells(r, 30_000);
  expected.forEach((cell, i) => {
    assert.equal(decode(cells[i]![2]!), visible(cell.text));
    assert.equal(cells[i]![1] === undefined ? undefined : decode(cells[i]![1]), cell.title === undefined ? undefined : visible(cell.title));
  });
  assert.equal(cells[8]![2], '<span class="badge ok">ok</span>');
  // Only this file's own tags: tr, td, span (and their closing tags).
  assert.deepEqual([...new Set([...html.matchAll(/<\/?([a-z]+)/g)].map((m) => m[1]))].sort(), ['span', 'td', 'tr']);
  assert.doesNotMatch(html, /data-/, 'the raw name goes into data attributes from the script, not the markup');
});

test('trouble and warnings: the row class and badges the script would draw', () => {
  const stopped: LockRow = { ...row('a'), holders: [{ ...row('a').holders[0]!, state: 'stopped', since: 0 }] };
  const html = rowsHtml([stopped], 700_000, 600_000);
  assert.match(html, /^<tr class="trouble">/);
  assert.match(html, /<span class="badge trouble" title="pid 7 is stopped">stopped<\/span> <span class="badge warn">held &gt; 10 min 0 s<\/span> <\/td><\/tr>$/);
});
