/**
 * The page's document (src/serve/page/html.ts): the style and script inlined
 * under their CSP hashes, and the first rows as a data block no lock name can
 * break out of.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { classicScript, dataBlock, pageShell } from '../../src/serve/page/html.js';
import { rowsHtml } from '../../src/serve/page/row-html.js';

const sha = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

test('the script and style are inlined and allowed by their hashes only', () => {
  const shell = pageShell('body{margin:0}', 'console.log(1)');
  const script = classicScript('console.log(1)');
  // by hash only: no 'self' either, nothing is served as a script or style sheet
  assert.match(shell.csp, new RegExp(`script-src ${sha(script).replace(/[+/]/g, '\\$&')};`));
  assert.match(shell.csp, new RegExp(`style-src ${sha('body{margin:0}').replace(/[+/]/g, '\\$&')};`));
  assert.doesNotMatch(shell.csp, /unsafe-inline/);
  const html = shell.html({ locks: [] });
  assert.ok(html.includes('<style>body{margin:0}</style>'));
  assert.ok(html.includes(`<script>${script}</script>\n</body>`), 'a classic script, the body\'s last element');
  assert.ok(html.includes('<script type="application/json" id="first">{"locks":[]}</script>'));
});

test('a lock name cannot end the data block or be read as markup; the JSON reads back exactly', () => {
  const name = '</script><script>alert(1)</script>&amp;\u2028<!--';
  const block = dataBlock({ locks: [{ name }] });
  assert.doesNotMatch(block, /[<>&\u2028\u2029]/);
  assert.deepEqual(JSON.parse(block), { locks: [{ name }] });
  const html = pageShell('', '').html({ locks: [{ name }] });
  assert.equal(html.match(/<\/script>/g)?.length, 2, 'only the data block and the page script close');
});

test('the compiled module becomes a strict classic script; other module syntax is refused', () => {
  const script = classicScript("const a = 1;\nexport {};\n");
  assert.doesNotMatch(script, /export/);
  assert.throws(() => new Function(script.replace('const a = 1;', 'undeclared = 1;'))(), ReferenceError, 'strict: no implicit global');
  assert.throws(() => classicScript("import x from './x.js';\nexport {};"), /module syntax/);
  assert.throws(() => classicScript('export const b = 2;'), /module syntax/);
});

test('a script or style that would end its own element is refused', () => {
  assert.throws(() => pageShell('', 'const s = "</script>";'), /closing tag/);
});

test('library modules are inlined ahead of the script, their import line dropped; anything else is refused', () => {
  const lib = { specifier: './row-view.js', code: 'export function twice(n) {\n    return 2 * n;\n}\nexport const ONE = 1;\n' };
  const script = classicScript("import { ONE, twice } from './row-view.js';\nglobalThis.out = twice(ONE);\nexport {};\n", [lib]);
  assert.doesNotMatch(script, /\b(import|export)\b/);
  const scope: { out?: number } = {};
  new Function('globalThis', script)(scope);
  assert.equal(scope.out, 2);
  assert.throws(() => classicScript("import { twice as t } from './row-view.js';", [lib]), /does not import/);
  assert.throws(() => classicScript("import { ONE } from './row-view.js';", [{ specifier: './row-view.js', code: 'export default 1;' }]), /module syntax/);
});

test('the first rows are written into the table body; the data block stays', () => {
  const html = pageShell('', '').html({ locks: [] }, rowsHtml([], 0, 1000));
  assert.ok(html.includes('<tbody></tbody>'), 'no rows: an empty body');
  const row = { backend: 'file', name: 'a', mode: 'exclusive' as const, holders: [], waiters: null };
  const withRow = pageShell('', '').html({ locks: [row] }, rowsHtml([row], 0, 1000));
  assert.match(withRow, /<tbody><tr class="trouble"|<tbody><tr class="">/);
  assert.ok(withRow.includes('<script type="application/json" id="first">'));
});
