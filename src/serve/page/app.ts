/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The page's script (inlined in the page with row-view.ts's code, see html.ts; runs in the
 * browser, not in Node).
 *
 * - Live: an EventSource on /api/events says when the snapshot changed; the
 *   page then fetches the one page of rows it shows (100 at a time, so the
 *   first paint does not depend on how many locks there are). Ages and lease
 *   times tick every second from the rows' timestamps, corrected by the
 *   server's clock.
 * - Everything from the server is shown as text: nodes are made with
 *   createElement and filled with textContent, never innerHTML, so a lock
 *   name carrying markup or escape sequences is shown as it is.
 * - Breaking (only when the server allows it): the detail view shows what
 *   will be displaced and asks for the lock's name, a reason and the access
 *   token, sent as a bearer header (no cookie). The token stays in this
 *   page's memory only.
 *
 * @module
 */

// Types only (erased from the emitted script): the API's shapes, as the server defines them.
import type { HistoryEntry, LockRow as Row } from '../lock-row.js';
import type { BackendStatus as Backend } from '../monitor.js';
// The rows' text, shared with the server's first screen of rows (row-html.ts). Not an import at
// run time: html.ts inlines row-view.js's code ahead of this script's and drops this line, so the
// names must be used as they are exported (no `as`), and this file must not declare them again.
import { badges, duration, HELD_CELL, heldText, LEASE_CELL, leaseText, rowClass, STATE_CELL, textCells, visible } from './row-view.js';

const PAGE_SIZE = 100;

const state = {
  config: { allowBreak: false, warnAfterMs: 600_000 },
  offset: 0,
  q: '',
  rows: [] as Row[],
  total: 0,
  /** server clock − this clock, in ms */
  skew: 0,
  selected: undefined as { backend: string; name: string } | undefined,
  accessToken: '',
  /** What the last break from this page answered, kept while its lock's detail view is open (the lock is gone from the table once broken). */
  outcome: undefined as { backend: string; name: string; text: string; error: boolean } | undefined,
  version: -1,
  historyVersion: -1,
  loading: false,
  again: false,
  painted: false,
};

const $ = <T extends Element = HTMLElement>(selector: string): T => document.querySelector(selector) as T;

/** An element with text children only: strings become text nodes (made visible), never markup. */
function el(tag: string, props: { class?: string; title?: string; data?: Record<string, string> } = {}, ...children: Array<Node | string>): HTMLElement {
  const node = document.createElement(tag);
  if (props.class !== undefined) node.className = props.class;
  if (props.title !== undefined) node.title = visible(props.title);
  for (const [k, v] of Object.entries(props.data ?? {})) node.dataset[k] = v;
  for (const child of children) node.append(typeof child === 'string' ? document.createTextNode(visible(child)) : child);
  return node;
}

function now(): number {
  return Date.now() + state.skew;
}

function time(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { headers: { Accept: 'application/json' } });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

interface LocksPage {
  version: number;
  now: number;
  total: number;
  locks: Row[];
  backends: Backend[];
}

/** Show a page of rows as the API gave it. */
function applyRows(data: LocksPage): void {
  state.version = Math.max(state.version, data.version);
  state.skew = data.now - Date.now();
  state.rows = data.locks;
  state.total = data.total;
  renderBackends(data.backends);
  renderRows();
}

/**
 * The config and the first page of rows the server put in the document (a
 * JSON data block, see html.ts): painted at once, before any request.
 */
function inlined(): { config: typeof state.config; locks: LocksPage } | undefined {
  const block = document.getElementById('first');
  if (block?.textContent == null || block.textContent === '') return undefined;
  try {
    return JSON.parse(block.textContent) as { config: typeof state.config; locks: LocksPage };
  } catch {
    return undefined; // then the page asks the API, as it does for every later page
  }
}

/** Fetch the page of rows shown; a change arriving meanwhile triggers one more fetch. */
async function loadRows(): Promise<void> {
  if (state.loading) {
    state.again = true;
    return;
  }
  state.loading = true;
  try {
    do {
      state.again = false;
      const params = new URLSearchParams({ offset: String(state.offset), limit: String(PAGE_SIZE), q: state.q });
      const data = await getJson<LocksPage>(`/api/locks?${params}`);
      if (state.offset > 0 && state.offset >= data.total) {
        state.offset = Math.max(0, Math.floor((data.total - 1) / PAGE_SIZE) * PAGE_SIZE);
        state.again = true;
      }
      applyRows(data);
    } while (state.again);
  } finally {
    state.loading = false;
  }
}

/** The row's class (trouble, warn or none) now. */
function classOf(row: Row): string {
  return rowClass(row, now(), state.config.warnAfterMs);
}

/** The state cell: the row's badges (row-view.ts), each followed by a space when there are several. */
function stateCell(row: Row): HTMLElement {
  const cell = el('td');
  for (const b of badges(row, now(), state.config.warnAfterMs)) {
    cell.append(el('span', b.title === undefined ? { class: b.class } : { class: b.class, title: b.title }, b.text));
    if (b.class !== 'badge ok') cell.append(' ');
  }
  return cell;
}

/** The rows on screen and their cells that change with time, for {@link tick}. */
let shown: Array<{ row: Row; tr: HTMLElement; held: HTMLElement; lease: HTMLElement; state: HTMLElement }> = [];

/** Mark the row of the selected lock. */
function markSelected(tr: HTMLElement, row: Row): void {
  if (state.selected?.backend === row.backend && state.selected.name === row.name) tr.classList.add('selected');
}

/** One row of the table, with the cells {@link tick} updates (clicks are handled by the table, see {@link start}). */
function rowView(row: Row, t: number): (typeof shown)[number] {
  const cells = textCells(row, t).map((c) => el('td', c.title === undefined ? {} : { title: c.title }, c.text));
  const tr = el('tr', { class: classOf(row), data: { backend: row.backend, name: row.name } }, ...cells, stateCell(row));
  markSelected(tr, row);
  return { row, tr, held: cells[HELD_CELL]!, lease: cells[LEASE_CELL]!, state: tr.children[STATE_CELL] as HTMLElement };
}

/**
 * A row the server wrote into the document (row-html.ts) for `row`, taken
 * over as if {@link rowView} had made it: its data attributes (the raw name,
 * which the server leaves out of the markup) and the cells {@link tick} updates.
 */
function adoptRow(tr: HTMLTableRowElement, row: Row): (typeof shown)[number] {
  tr.dataset.backend = row.backend;
  tr.dataset.name = row.name;
  markSelected(tr, row);
  return { row, tr, held: tr.cells[HELD_CELL]!, lease: tr.cells[LEASE_CELL]!, state: tr.cells[STATE_CELL]! };
}

function renderRows(): void {
  const body = $<HTMLTableSectionElement>('#locks tbody');
  if (state.painted) {
    const t = now();
    shown = state.rows.map((row) => rowView(row, t));
    body.replaceChildren(...shown.map((s) => s.tr));
  } else {
    paintFirstScreen(body);
  }
  const last = Math.min(state.offset + PAGE_SIZE, state.total);
  $('#page').textContent = state.total === 0 ? 'no locks held' : `${state.offset + 1}–${last} of ${state.total}`;
  $<HTMLButtonElement>('#prev').disabled = state.offset === 0;
  $<HTMLButtonElement>('#next').disabled = last >= state.total;
  $('#summary').textContent = `${state.total} lock${state.total === 1 ? '' : 's'} held${state.q === '' ? '' : ` matching "${state.q}"`}`;
  state.painted = true;
  if (state.selected !== undefined) renderDetail();
}

/**
 * The first paint: the server wrote the first screen of rows into the
 * document (row-html.ts), so the browser draws them without this script,
 * whose {@link start} runs only after that frame. Here the script adopts them
 * and adds the rest of the page's rows. In a fresh renderer, building, laying
 * out and shaping the text of all 100 rows delayed the first frame by
 * ~110 ms, and its raster took as long again (bench/serve.mjs's setup,
 * 10 000 locks); the rows below the fold are not seen in that frame anyway.
 * Rows that do not match the data (not expected: both come from one
 * snapshot), or a document without them, are built here and drawn a frame later.
 */
function paintFirstScreen(body: HTMLTableSectionElement): void {
  const rows = state.rows;
  const written = [...body.rows];
  const fit = written.length <= rows.length ? written.length : 0;
  if (fit !== written.length) body.replaceChildren();
  shown = rows.slice(0, fit).map((row, i) => adoptRow(written[i]!, row));
  const rest = (): void => {
    const t = now();
    const more = rows.slice(fit).map((row) => rowView(row, t));
    shown.push(...more);
    body.append(...more.map((s) => s.tr));
    // For bench/serve.mjs: the whole page of rows is on screen once this frame is done.
    requestAnimationFrame(() => setTimeout(() => performance.mark('deadbolt:page-painted')));
  };
  if (fit > 0 || rows.length === 0) {
    // For bench/serve.mjs: the first rows are on screen (start runs after the document's first frame).
    performance.mark('deadbolt:rows-painted');
    rest();
    return;
  }
  requestAnimationFrame(() => {
    // A task queued from the frame's callback runs once that frame (style, layout, paint) is done.
    setTimeout(() => {
      performance.mark('deadbolt:rows-painted');
      if (state.rows === rows) rest(); // else newer rows replaced these meanwhile
    });
  });
}

/**
 * Every second: only the cells that change with time (held for, lease left,
 * and a row's warning once it crosses --warn-after). Rebuilding the whole
 * table each second cost every open page CPU in proportion to its rows.
 */
function tick(): void {
  const t = now();
  for (const s of shown) {
    const held = heldText(s.row, t);
    if (s.held.textContent !== held) s.held.textContent = held;
    const lease = leaseText(s.row, t);
    if (s.lease.textContent !== lease) s.lease.textContent = lease;
    const cls = classOf(s.row);
    const selected = s.tr.classList.contains('selected');
    if (s.tr.className.replace(/\bselected\b/, '').trim() !== cls) {
      s.tr.className = cls;
      if (selected) s.tr.classList.add('selected');
      const cell = stateCell(s.row);
      s.state.replaceWith(cell);
      s.state = cell;
    }
  }
  if (state.selected !== undefined) renderDetail();
}

function renderBackends(backends: Backend[]): void {
  $('#backends').replaceChildren(
    ...backends.map((b) =>
      el('li', {}, el('span', { class: `badge ${b.up ? 'ok' : 'trouble'}` }, b.up ? 'up' : 'down'), ` ${b.id} ${b.url}`, b.error === null ? '' : ` — ${b.error}`),
    ),
  );
}

async function loadHistory(): Promise<void> {
  const data = await getJson<{ entries: HistoryEntry[] }>('/api/history');
  $('#history tbody').replaceChildren(...data.entries.slice().reverse().map(historyRow));
}

function historyRow(e: HistoryEntry): HTMLElement {
  return el(
    'tr',
    { class: e.kind === 'break' ? 'warn' : 'trouble', data: { name: e.name, kind: e.kind } },
    el('td', {}, time(e.at)),
    el('td', {}, e.backend),
    el('td', {}, e.name),
    el('td', { title: e.detail ?? '' }, e.kind === 'break' ? 'broken' : 'lost: lease expired'),
    el('td', {}, e.token),
    el('td', { title: e.holder }, e.holder),
    el('td', {}, e.by ?? ''),
    el('td', { title: e.reason ?? '' }, e.reason ?? ''),
  );
}

function select(backend: string, name: string): void {
  state.selected = { backend, name };
  for (const tr of document.querySelectorAll<HTMLElement>('#locks tbody tr')) {
    tr.classList.toggle('selected', tr.dataset.backend === backend && tr.dataset.name === name);
  }
  renderDetail();
  void loadLockHistory(backend, name);
}

/** The detail view of the selected lock, from the rows on this page (kept as long as the lock is held). */
function renderDetail(): void {
  const panel = $('#detail');
  const sel = state.selected!;
  const row = state.rows.find((r) => r.backend === sel.backend && r.name === sel.name);
  const keepForm = panel.querySelector('form');
  if (row === undefined) {
    panel.hidden = false;
    panel.replaceChildren(el('h2', {}, sel.name), el('p', { class: 'note' }, `not held now on ${sel.backend}`), ...outcome(), el('div', { class: 'lock-history' }), closeButton());
    void loadLockHistory(sel.backend, sel.name);
    return;
  }
  const t = now();
  const holders = row.holders.map((h) =>
    el(
      'dl',
      {},
      ...pairs([
        ['pid', `${h.pid} on ${h.host}`],
        ['command', h.command],
        ['holder id', h.id],
        [row.name.startsWith('@election/') ? 'term' : row.name.startsWith('@group/') ? 'member id' : 'token', h.token],
        ...(h.data === null ? [] : [[row.name.startsWith('@election/') ? 'value' : row.name.startsWith('@group/') ? 'metadata' : 'data', h.data] as [string, string]]),
        ['since', `${time(h.since)} (${duration(t - h.since)})`],
        ['lease left', h.expiresAt === null ? 'no lease (held until the process ends)' : duration(h.expiresAt - t)],
        ['state', h.state],
      ]),
    ),
  );
  const header = [el('h2', {}, row.name), el('p', { class: 'note' }, `${row.backend}, ${row.mode}, waiters: ${row.waiters ?? 'unknown'}`), ...holders];
  const history = panel.querySelector('.lock-history') ?? el('div', { class: 'lock-history' });
  // Keep a form being filled in while the row ticks; rebuild it when the holder changed.
  const form = keepForm !== null && keepForm.dataset.token === row.holders[0]?.token && keepForm.dataset.name === row.name ? keepForm : breakForm(row);
  panel.hidden = false;
  panel.replaceChildren(...header, ...(form === undefined ? [] : [form]), ...outcome(), history, closeButton());
}

/** The answer to the last break of the selected lock, if any. */
function outcome(): HTMLElement[] {
  const o = state.outcome;
  if (o === undefined || o.backend !== state.selected?.backend || o.name !== state.selected.name) return [];
  return [el('p', { class: o.error ? 'result error' : 'result' }, o.text)];
}

function pairs(items: Array<[string, string]>): HTMLElement[] {
  return items.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]);
}

function closeButton(): HTMLElement {
  const button = el('button', {}, 'close');
  button.addEventListener('click', () => {
    state.selected = undefined;
    $('#detail').hidden = true;
    renderRows();
  });
  return button;
}

async function loadLockHistory(backend: string, name: string): Promise<void> {
  const data = await getJson<{ history: HistoryEntry[] }>(`/api/locks/${encodeURIComponent(backend)}/${encodeURIComponent(name)}`);
  const box = $('#detail').querySelector('.lock-history');
  if (box === null || state.selected?.backend !== backend || state.selected.name !== name) return;
  box.replaceChildren(
    el('h3', {}, 'history'),
    data.history.length === 0 ? el('p', { class: 'note' }, 'no breaks or losses seen') : el('ul', {}, ...data.history.map((e) => el('li', {}, `${time(e.at)} ${e.kind} token ${e.token}${e.by === undefined ? '' : ` by ${e.by}`}${e.reason === undefined ? '' : `: ${e.reason}`}`))),
  );
}

/** The break form, only when the server allows breaking; the button waits for the name, a reason and the token. */
function breakForm(row: Row): HTMLFormElement | undefined {
  if (!state.config.allowBreak || row.holders.length === 0) return undefined;
  const first = row.holders[0]!;
  const form = document.createElement('form');
  form.dataset.token = first.token;
  form.dataset.name = row.name;
  const confirmName = Object.assign(document.createElement('input'), { name: 'confirm', autocomplete: 'off', placeholder: 'type the lock name' });
  const reason = Object.assign(document.createElement('textarea'), { name: 'reason', rows: 2, placeholder: 'why (kept in the audit log)' });
  const token = Object.assign(document.createElement('input'), { name: 'access-token', type: 'password', autocomplete: 'off', placeholder: 'access token', value: state.accessToken });
  const button = Object.assign(document.createElement('button'), { type: 'submit', className: 'danger', textContent: 'Break lock', disabled: true });
  const ready = () => (button.disabled = confirmName.value !== row.name || reason.value.trim() === '' || token.value === '');
  for (const input of [confirmName, reason, token]) input.addEventListener('input', ready);
  const displaced = row.holders.map((h) => `pid ${h.pid} on ${h.host} (${h.command}), token ${h.token}, held for ${duration(now() - h.since)}, ${h.expiresAt === null ? 'no lease' : `lease left ${duration(h.expiresAt - now())}`}, ${h.state}`);
  form.append(
    el('h3', {}, 'Break this lock'),
    el('p', {}, 'This displaces:'),
    el('ul', {}, ...displaced.map((d) => el('li', {}, d))),
    el('label', {}, `Type "${row.name}" to confirm`),
    confirmName,
    reason,
    token,
    button,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    state.accessToken = token.value;
    button.disabled = true;
    const show = (text: string, error: boolean) => {
      state.outcome = { backend: row.backend, name: row.name, text, error };
      renderDetail();
    };
    show('breaking…', false);
    void postBreak(row.backend, row.name, row.holders.map((h) => h.token), reason.value).then(
      (text) => show(text, false),
      (err: Error) => {
        show(err.message, true);
        ready();
      },
    );
  });
  return form;
}

/** Sends every token the form showed: the server breaks only if the holders are still exactly those. */
async function postBreak(backend: string, name: string, tokens: string[], reason: string): Promise<string> {
  const response = await fetch('/api/break', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${state.accessToken}` },
    body: JSON.stringify({ backend, name, confirm: name, token: tokens[0], tokens, reason }),
  });
  const body = (await response.json()) as { error?: string; broken?: boolean; detail?: string };
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${body.error ?? 'refused'}`);
  return `${body.broken ? 'broken' : 'not broken'}: ${body.detail ?? ''}`;
}

let events: EventSource | undefined;

/**
 * Follow /api/events while the page is visible. A browser opens at most six
 * connections per server and each stream holds one, so a hidden tab lets go
 * of its stream (and catches up when shown again).
 */
function listen(): void {
  if (document.hidden) {
    $('#live').textContent = 'paused while hidden';
    return;
  }
  const source = (events = new EventSource('/api/events'));
  const live = $('#live');
  source.addEventListener('open', () => {
    live.textContent = 'live';
    live.className = 'badge ok';
  });
  source.addEventListener('error', () => {
    live.textContent = 'reconnecting';
    live.className = 'badge trouble';
  });
  source.addEventListener('update', (event) => {
    const data = JSON.parse((event as MessageEvent<string>).data) as { version: number; historyVersion: number; backends: Backend[] };
    renderBackends(data.backends);
    if (data.version !== state.version) {
      state.version = data.version;
      void loadRows();
    }
    if (data.historyVersion !== state.historyVersion) {
      state.historyVersion = data.historyVersion;
      void loadHistory();
    }
  });
}

async function start(): Promise<void> {
  // The first rows do not wait for the config (or the event stream): they are what the first paint is for.
  const page = inlined();
  let first: Promise<void> = Promise.resolve();
  if (page === undefined) {
    first = loadRows();
    state.config = await getJson('/api/config');
  } else {
    state.config = page.config;
    applyRows(page.locks);
  }
  // One listener for every row, those the server wrote included.
  $('#locks tbody').addEventListener('click', (event) => {
    const tr = (event.target as Element).closest<HTMLElement>('#locks tbody tr');
    if (tr?.dataset.name !== undefined && tr.dataset.backend !== undefined) select(tr.dataset.backend, tr.dataset.name);
  });
  $<HTMLInputElement>('#filter').addEventListener('input', (event) => {
    state.q = (event.target as HTMLInputElement).value;
    state.offset = 0;
    void loadRows();
  });
  $('#prev').addEventListener('click', () => {
    state.offset = Math.max(0, state.offset - PAGE_SIZE);
    void loadRows();
  });
  $('#next').addEventListener('click', () => {
    state.offset += PAGE_SIZE;
    void loadRows();
  });
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) {
      events?.close();
      events = undefined;
      $('#live').textContent = 'paused while hidden';
    } else if (events === undefined) {
      listen();
    }
  });
  listen();
  await first;
  setInterval(tick, 1000);
}

// After the document's first frame: that frame (the rows the server wrote) waits for none of this
// script's work. A task queued from an animation frame callback runs once that frame is done. A
// hidden page gets no animation frames (and paints nothing): it starts at once.
if (document.hidden) void start();
else requestAnimationFrame(() => setTimeout(() => void start()));
