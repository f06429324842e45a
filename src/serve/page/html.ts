/**
 * The page's HTML: a static shell with no data in it. Everything shown is
 * added by app.ts as text nodes; the Content-Security-Policy allows only this
 * server's /app.js and /app.css (no inline script or style).
 *
 * @module
 */

/**
 * The document served at `/`.
 *
 * @example
 * ```ts
 * response.end(PAGE_HTML);
 * ```
 */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>deadbolt locks</title>
<link rel="stylesheet" href="/app.css">
<script type="module" src="/app.js"></script>
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
      <tbody></tbody>
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
</body>
</html>
`;
