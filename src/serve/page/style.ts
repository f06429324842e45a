/**
 * The page's style sheet (inlined in the page, see html.ts): plain, dense, readable; warnings
 * (held too long) in amber, trouble (stopped, expiring, backend down) in red,
 * so they stand out at a glance.
 *
 * @module
 */

/**
 * The style sheet the page inlines.
 *
 * @example
 * ```ts
 * response.end(PAGE_CSS);
 * ```
 */
export const PAGE_CSS = `
:root { font: 14px/1.4 system-ui, sans-serif; color: #1b1f24; background: #fff; }
body { margin: 0 1rem 2rem; }
header { display: flex; gap: 1rem; align-items: baseline; border-bottom: 1px solid #d0d7de; padding: .5rem 0; }
h1 { font-size: 1.2rem; margin: 0; }
h2 { font-size: 1rem; margin: 1.5rem 0 .5rem; }
#backends { list-style: none; padding: 0; display: flex; gap: 1rem; flex-wrap: wrap; margin: .5rem 0; }
#backends li { font-family: ui-monospace, monospace; font-size: 12px; }
main { display: flex; gap: 1rem; align-items: flex-start; }
#list { flex: 1; min-width: 0; overflow-x: auto; }
.toolbar { display: flex; gap: .5rem; align-items: center; margin: .5rem 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 2px 8px; border-bottom: 1px solid #eaeef2; white-space: nowrap; }
td { font-family: ui-monospace, monospace; font-size: 12px; max-width: 22rem; overflow: hidden; text-overflow: ellipsis; }
th { font-weight: 600; font-size: 12px; color: #57606a; }
#locks tbody tr { cursor: pointer; }
#locks tbody tr:hover { background: #f6f8fa; }
tr.selected { outline: 2px solid #0969da; }
tr.warn { background: #fff8c5; }
tr.trouble { background: #ffebe9; }
.badge { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 11px; background: #eaeef2; }
.badge.ok { background: #dafbe1; }
.badge.warn { background: #fff1a8; }
.badge.trouble { background: #ff8182; color: #fff; }
#detail { width: 26rem; border: 1px solid #d0d7de; border-radius: 6px; padding: .75rem; }
#detail dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 8px; margin: 0 0 .5rem; }
#detail dt { color: #57606a; }
#detail dd { margin: 0; font-family: ui-monospace, monospace; font-size: 12px; overflow-wrap: anywhere; }
#detail form { display: grid; gap: .4rem; border-top: 1px solid #d0d7de; padding-top: .5rem; }
#detail input, #detail textarea { font: inherit; }
.danger { background: #cf222e; color: #fff; border: 0; padding: 4px 10px; border-radius: 4px; }
.danger:disabled { background: #e6a1a6; }
.note { color: #57606a; font-size: 12px; }
.error { color: #cf222e; }
`;
