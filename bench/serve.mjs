/**
 * `deadbolt serve` benchmarks (issue 12), in one run:
 *
 * (a) first paint with 10 000 held locks: Chromium opens the page on a server
 *     over Redis holding 10 000 locks, and on one over an empty namespace
 *     (the baseline), and a static page from node:http that only paints one
 *     line and sets the same mark (the floor: what a fresh page costs this
 *     browser on this machine); per run, a fresh page; the figures are the browser's own
 *     performance timeline: first-contentful-paint, and `deadbolt:rows-painted`
 *     (set by a task queued from the animation frame that draws the first rows,
 *     so once that frame's style, layout and paint are done), and
 *     `deadbolt:page-painted` (the same, for the frame that draws the rest of
 *     the page's rows: fewer rows in the first frame must not only move the
 *     wait to the second). Medians of --runs.
 * (b) what one refresh costs the engine with 1, 10 and 50 pages open: Redis
 *     commands sent by the server's own connections (MONITOR, filtered by
 *     client address) per poll (polls counted by the server's
 *     deadbolt_serve_polls_total). One poll loop per backend is shared by
 *     every viewer, so this must not grow with the number of pages.
 *
 *   node serve.mjs [--runs=11] [--locks=10000] [--window=20] [--pages=1,10,50] [--url=redis://…]
 *
 * Prints tables and one BENCH_JSON line.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import Redis from 'ioredis';
import { chromium } from 'playwright-core';
import { connect } from 'deadbolt';
import { environment } from './lib/harness.mjs';
import { printJsonLine, renderTable } from './lib/format.mjs';
import { median } from './lib/stats.mjs';
import { startServer } from './redis/server.mjs';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const RUNS = Number(args.runs ?? 11);
const LOCKS = Number(args.locks ?? 10_000);
const WINDOW = Number(args.window ?? 20); // polls per measurement in (b)
const INTERVAL_MS = 250;
const PAGES = (args.pages ?? '1,10,50').split(',').map(Number);
const CLI = join(dirname(createRequire(import.meta.url).resolve('deadbolt/package.json')), 'dist/cli/main.js');

/** Start `deadbolt serve` and resolve with its URL once it listens. */
async function serve(url, namespace) {
  const child = spawn(process.execPath, [CLI, 'serve', '--backend', url, '--namespace', namespace, '--listen', '127.0.0.1:0', '--json', '--interval', `${INTERVAL_MS}ms`], { stdio: ['ignore', 'pipe', 'inherit'] });
  process.once('exit', () => child.kill('SIGKILL')); // never outlive the benchmark
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`deadbolt serve exited ${code}`)));
  });
  return { url: JSON.parse(line).url, child, stop: () => new Promise((resolve) => (child.once('exit', resolve), child.kill('SIGTERM'))) };
}

/** Hold `n` locks in one coordinator of this process. */
async function holdLocks(url, namespace, n) {
  const coordinator = await connect(url, { ttl: 60_000, namespace });
  const guards = [];
  for (let i = 0; i < n; i += 10) {
    guards.push(...(await Promise.all(Array.from({ length: Math.min(10, n - i) }, (_, j) => coordinator.acquire(`job-${String(i + j).padStart(5, '0')}`)))));
  }
  return coordinator;
}

async function pollsTotal(serveUrl) {
  const text = await (await fetch(`${serveUrl}metrics`)).text();
  return Number(/^deadbolt_serve_polls_total\{[^}]*\} (\d+)/m.exec(text)?.[1] ?? NaN);
}

/** (a) One fresh page: the browser's first-contentful-paint and rows-painted marks, in ms from navigation start. */
async function firstPaint(context, url, floor = false) {
  const page = await context.newPage();
  await page.goto(url);
  const mark = floor ? 'deadbolt:rows-painted' : 'deadbolt:page-painted';
  await page.waitForFunction((name) => performance.getEntriesByName(name).length > 0, mark, { timeout: 30_000 });
  const timing = await page.evaluate((name) => ({
    fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN,
    rows: performance.getEntriesByName('deadbolt:rows-painted')[0].startTime,
    all: performance.getEntriesByName(name)[0].startTime,
    rowsShown: document.querySelectorAll('#locks tbody tr').length,
  }), mark);
  await page.close();
  return timing;
}

/**
 * The floor for (a): a static page that paints one line and marks
 * `deadbolt:rows-painted` on the next frame, as the real page does after its rows.
 */
async function staticPage() {
  const html = '<!doctype html><meta charset="utf-8"><title>floor</title><p>floor</p>'
    + "<script>requestAnimationFrame(() => setTimeout(() => performance.mark('deadbolt:rows-painted')));</script>";
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/`, stop: () => new Promise((resolve) => (server.close(resolve), server.closeAllConnections())) };
}

/** Redis clients (addresses) that belong to the serve process: those that appeared when it started. */
async function clientAddresses(redis) {
  const list = await redis.client('LIST');
  return new Set(list.split('\n').filter(Boolean).map((l) => /addr=(\S+)/.exec(l)[1]));
}

/**
 * (b) With `pages` pages open: the server's Redis commands per poll over WINDOW polls.
 * Each page gets a browser context of its own: a browser opens at most 6
 * connections per server and profile, and each open page holds one (its event stream).
 */
async function commandsPerPoll(browser, serveUrl, feed, serverAddrs, pages) {
  const open = [];
  for (let i = 0; i < pages; i++) {
    const page = await (await browser.newContext()).newPage();
    await page.goto(serveUrl);
    // Polled on a timer, not on animation frames: Chromium does not run those for a page that is not in front.
    await page.waitForFunction(() => document.querySelector('#live')?.textContent === 'live', undefined, { timeout: 60_000, polling: 100 });
    open.push(page);
    if ((i + 1) % 10 === 0) progress(`(b) ${i + 1} of ${pages} pages open, each following the event stream`);
  }
  let commands = 0;
  const count = (_time, _args, source) => {
    if (serverAddrs.has(source)) commands++;
  };
  const before = await pollsTotal(serveUrl);
  feed.on('monitor', count);
  let polls = 0;
  while (polls < WINDOW) {
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
    polls = (await pollsTotal(serveUrl)) - before;
  }
  feed.off('monitor', count);
  const after = await pollsTotal(serveUrl);
  for (const page of open) await page.context().close();
  return { pages, polls: after - before, commands, perPoll: commands / (after - before) };
}

const progress = (text) => process.stderr.write(`serve bench: ${text}\n`);
const redisServer = await startServer(args.url);
// A fresh profile (playwright's own temporary --user-data-dir), removed when the browser closes.
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
progress(`holding ${LOCKS} locks`);
const holders = await holdLocks(redisServer.url, 'bench', LOCKS);
progress('starting two servers');
const admin = new Redis(redisServer.url);
const beforeServe = await clientAddresses(admin);
const [full, empty] = [await serve(redisServer.url, 'bench'), await serve(redisServer.url, 'empty')];
await new Promise((resolve) => setTimeout(resolve, 4 * INTERVAL_MS));
const floor = await staticPage();
const serverAddrs = new Set([...(await clientAddresses(admin))].filter((a) => !beforeServe.has(a)));

try {
  progress('(a) first paint');
  // (a) interleaved: one run on each page per round.
  const samples = { [LOCKS]: [], 0: [], floor: [] };
  for (let i = 0; i < RUNS + 1; i++) {
    const a = await firstPaint(context, full.url);
    const b = await firstPaint(context, empty.url);
    const c = await firstPaint(context, floor.url, true);
    if (i === 0) continue; // warm-up: the browser's first page
    samples[LOCKS].push(a);
    samples[0].push(b);
    samples.floor.push(c);
  }
  const paintRows = [LOCKS, 0, 'floor'].map((n) => ({
    locks: n === 'floor' ? 'static page (node:http)' : n,
    fcp: median(samples[n].map((s) => s.fcp)),
    rows: median(samples[n].map((s) => s.rows)),
    all: median(samples[n].map((s) => s.all)),
    shown: samples[n][0].rowsShown,
  }));
  paintRows[0].ratio = paintRows[0].rows / paintRows[1].rows;
  for (const row of paintRows.slice(0, 2)) row.vsFloor = row.rows / paintRows[2].rows;

  const ms = (v) => `${v.toFixed(1)} ms`;
  const times = (v) => (v === undefined ? '' : `${v.toFixed(2)}×`);
  console.log(`\n(a) first paint, median of ${RUNS} fresh pages (Chromium; Redis on loopback)\n`);
  console.log(renderTable([
    { key: 'locks', title: 'locks held' },
    { key: 'shown', title: 'rows rendered' },
    { key: 'fcp', title: 'first-contentful-paint', format: ms },
    { key: 'rows', title: 'rows painted', format: ms },
    { key: 'all', title: 'whole page painted', format: ms },
    { key: 'ratio', title: 'vs empty', format: times },
    { key: 'vsFloor', title: 'vs static page', format: times },
  ], paintRows));
  const target = paintRows[0].rows < 200;
  console.log(`\ntarget: rows painted < 200 ms with ${LOCKS} locks: ${target ? 'met' : 'MISSED'} (${ms(paintRows[0].rows)})`);

  // (b) the shared poll: commands per poll, measured on the server with 10 000 locks.
  const monitorClient = new Redis(redisServer.url);
  const feed = await monitorClient.monitor();
  const pollRows = [];
  for (const pages of PAGES) {
    progress(`(b) ${pages} pages`);
    const row = await commandsPerPoll(browser, full.url, feed, serverAddrs, pages);
    pollRows.push(row);
    progress(`(b) ${pages} pages: ${row.commands} commands in ${row.polls} polls = ${row.perPoll.toFixed(2)} per poll`);
  }
  feed.disconnect();
  monitorClient.disconnect();
  for (const r of pollRows) r.ratio = r.perPoll / pollRows[0].perPoll;

  console.log(`\n(b) engine requests per refresh (one poll every ${INTERVAL_MS} ms; ${WINDOW} polls per row; ${LOCKS} locks)\n`);
  console.log(renderTable([
    { key: 'pages', title: 'pages open' },
    { key: 'polls', title: 'polls' },
    { key: 'commands', title: 'Redis commands' },
    { key: 'perPoll', title: 'per poll', format: (v) => v.toFixed(2) },
    { key: 'ratio', title: 'vs 1 page', format: (v) => `${v.toFixed(2)}×` },
  ], pollRows));
  printJsonLine('BENCH_JSON', { bench: 'serve', env: await environment(), runs: RUNS, locks: LOCKS, intervalMs: INTERVAL_MS, firstPaint: paintRows, perRefresh: pollRows });
} finally {
  await Promise.all([full.stop(), empty.stop(), floor.stop()]);
  await browser.close();
  admin.disconnect();
  await holders.close();
  await redisServer.stop();
}
// A client library's reconnect timer must not keep a finished benchmark alive.
process.exit(0);
