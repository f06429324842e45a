/**
 * The page's HTML, built once per request from a static shell: the style and
 * the script inlined (allowed by their SHA-256 in the Content-Security-Policy,
 * no other inline script or style runs), the first page of rows as a JSON
 * data block (never executed), and the first screen of those rows as table
 * rows (row-html.ts, escaped there), so the first paint needs this one
 * request, no API round trip and no script, whatever the number of locks.
 * The data block is escaped so that no lock name can end it (`<`, `>`, `&`,
 * U+2028 and U+2029 as `\u` escapes).
 *
 * @module
 */
import { createHash } from 'node:crypto';
import type { SafeHtml } from './row-html.js';

/**
 * What the page is built from: its style and script, inlined.
 *
 * @example
 * ```ts
 * const shell = pageShell(PAGE_CSS, readFileSync(new URL('./page/app.js', import.meta.url), 'utf8'));
 * response.writeHead(200, { 'Content-Security-Policy': shell.csp }).end(shell.html({ locks: [] }));
 * ```
 */
export interface PageShell {
  /** The Content-Security-Policy of the document: the inlined style and script by hash, nothing else inline. */
  readonly csp: string;
  /**
   * The document, with `first` (the first page of rows and the config, as the
   * API gives them) as its data block and `rows` (the first of those rows, as
   * row-html.ts writes them) in the lock table.
   */
  html(first: unknown, rows?: SafeHtml): string;
}

/**
 * Build the shell once (hashes computed at start-up).
 *
 * @example
 * ```ts
 * const shell = pageShell('body{margin:0}', 'console.log(1)');
 * ```
 */
export function pageShell(css: string, moduleScript: string, libraries: readonly ScriptLibrary[] = []): PageShell {
  if (/<\/(script|style)/i.test(moduleScript + css + libraries.map((l) => l.code).join(''))) throw new Error('the page script or style contains a closing tag: it cannot be inlined');
  const script = classicScript(moduleScript, libraries);
  const hash = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
  const csp =
    `default-src 'none'; script-src ${hash(script)}; style-src ${hash(css)}; img-src 'self'; connect-src 'self'; ` +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
  const filled = PAGE_TEMPLATE.replace('<style></style>', () => `<style>${css}</style>`).replace('<script></script>', () => `<script>${script}</script>`);
  const [head, middle, tail] = filled.split(/@@FIRST@@|@@ROWS@@/) as [string, string, string];
  return { csp, html: (first, rows = '' as SafeHtml) => `${head}${dataBlock(first)}${middle}${rows}${tail}` };
}

/**
 * A module the page script imports, inlined ahead of it (see {@link classicScript}).
 *
 * @example
 * ```ts
 * const lib: ScriptLibrary = { specifier: './row-view.js', code: readFileSync(new URL('./page/row-view.js', import.meta.url), 'utf8') };
 * ```
 */
export interface ScriptLibrary {
  /** As the page script imports it, e.g. `./row-view.js`. */
  readonly specifier: string;
  /** Its compiled code: top-level `export function` / `export const` declarations and nothing else of module syntax. */
  readonly code: string;
}

/**
 * The compiled page script (an ES module: the package is ESM, so TypeScript
 * emits app.ts as one, with a trailing `export {};`) as a classic script, run
 * as the body's last element. Why: a module script runs only after the whole
 * document is parsed, and its first rows reached the screen a frame later,
 * ~100 ms (in bench/serve.mjs's setup, a page whose only script set the paint
 * mark: 210 ms as a module, 114 ms as a classic script). Wrapped in a strict function so
 * that it keeps a module's strictness and defines no globals.
 *
 * `libraries` are the modules it imports (row-view.ts, shared with the
 * server): their code goes first, in the same function, with `export`
 * dropped, and the script's `import { … } from 'SPECIFIER';` line is removed,
 * so the imported names must be used unrenamed. Any other module syntax is
 * refused rather than half-translated.
 *
 * @example
 * ```ts
 * classicScript('const a = 1;\nexport {};\n'); // "(() => {\n'use strict';\nconst a = 1;\n\n})();"
 * ```
 */
export function classicScript(moduleScript: string, libraries: readonly ScriptLibrary[] = []): string {
  let body = moduleScript.replace(/^export \{\};$/m, '');
  const parts: string[] = [];
  for (const lib of libraries) {
    // Names only, comma-separated: an `as` rename would leave the local name undefined once inlined.
    const line = new RegExp(`^import \\{ ?[\\w$]+(?:, ?[\\w$]+)* ?\\} from '${lib.specifier.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}';$`, 'm');
    if (!line.test(body)) throw new Error(`the page script does not import ${lib.specifier} as \`import { … } from '${lib.specifier}';\``);
    body = body.replace(line, '');
    const code = lib.code.replace(/^export \{\};$/m, '').replace(/^export (?=(function|const) )/gm, '');
    if (/^\s*(import|export)\b/m.test(code)) throw new Error(`${lib.specifier} has module syntax besides exported functions and constants: it cannot be inlined`);
    parts.push(code);
  }
  if (/^\s*(import|export)\b/m.test(body)) throw new Error('the page script has module syntax besides `export {};`: it cannot run as a classic script');
  return `(() => {\n'use strict';\n${[...parts, body].join('\n')}\n})();`;
}

/** `value` as JSON that cannot end the `<script type="application/json">` holding it, nor be read as markup. */
export function dataBlock(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The document's shell; the style, the script, the data block (`@@FIRST@@`) and the first rows (`@@ROWS@@`) go into their slots. */
const PAGE_TEMPLATE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>deadbolt locks</title>
<style></style>
<script type="application/json" id="first">@@FIRST@@</script>
</head>
<body>
<header>
  <h1>deadbolt</h1>
  <span id="summary">loading…</span>
  <span id="live" class="badge">connecting</span>
</header>
<ul id="backends"></ul>
<main>
  <section id="list">
    <div class="toolbar">
      <input id="filter" type="search" placeholder="filter by name" aria-label="filter by name" autocomplete="off">
      <button id="prev" type="button" aria-label="previous page">‹</button>
      <span id="page"></span>
      <button id="next" type="button" aria-label="next page">›</button>
    </div>
    <table id="locks">
      <thead><tr><th>backend</th><th>name</th><th>mode</th><th>holder</th><th>held for</th><th>token</th><th>lease left</th><th>waiters</th><th>state</th></tr></thead>
      <tbody>@@ROWS@@</tbody>
    </table>
  </section>
  <aside id="detail" hidden></aside>
</main>
<section id="history">
  <h2>Breaks and losses</h2>
  <table>
    <thead><tr><th>when</th><th>backend</th><th>lock</th><th>what</th><th>token</th><th>holder</th><th>by</th><th>reason</th></tr></thead>
    <tbody></tbody>
  </table>
</section>
<script></script>
</body>
</html>
`;
