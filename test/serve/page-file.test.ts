/**
 * `deadbolt serve` over a lock directory, in a real browser (Debian's
 * Chromium through playwright-core): live rows, names shown as text, a break
 * through the page that stops the holder and lands in the history, no break
 * action without the token, 401/403 from the API, cross-origin writes refused.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { killHolders, startHolder } from '../cli/helpers.js';
import { launchBrowser, listedToken, requireChromium, startServe, stopServers, tempDir, tokenFile, type Serve } from './helpers.js';

const chromium = requireChromium('serve page (lock directory)');
const ROW_TIMEOUT = 15_000;
/** Markup, an entity, a bidi override and a would-be terminal escape: all must be shown as typed. */
const HOSTILE = '<img src=x onerror="window.pwned=1">&amp; \u202e\\x1b[31m';

/** The row of lock `name`, once it is in the table. */
async function row(page: Page, name: string): Promise<void> {
  await page.waitForFunction((n) => [...document.querySelectorAll<HTMLElement>('#locks tbody tr')].some((tr) => tr.dataset.name === n), name, { timeout: ROW_TIMEOUT });
}

async function rowCells(page: Page, name: string): Promise<string[]> {
  return page.evaluate((n) => {
    const tr = [...document.querySelectorAll<HTMLTableRowElement>('#locks tbody tr')].find((r) => r.dataset.name === n);
    return tr === undefined ? [] : [...tr.cells].map((c) => c.textContent ?? '');
  }, name);
}

async function openDetail(page: Page, name: string): Promise<void> {
  await page.evaluate((n) => [...document.querySelectorAll<HTMLElement>('#locks tbody tr')].find((r) => r.dataset.name === n)!.click(), name);
  await page.waitForSelector('#detail:not([hidden]) h2');
}

describe('deadbolt serve: lock directory in the browser', { skip: chromium.available ? false : chromium.reason }, () => {
  const tmp = tempDir('file');
  const locks = join(tmp.path, 'locks');
  const token = tokenFile(tmp.path);
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  let open: Serve; // read-only
  let guarded: Serve; // --allow-break

  before(async () => {
    await startHolder(locks, 'warm-up'); // creates and marks the lock directory
    [browser, open, guarded] = await Promise.all([
      launchBrowser(),
      startServe(['--lock-path', locks]),
      startServe(['--lock-path', locks, '--allow-break', '--token-file', token.path, '--grace', '5s', '--warn-after', '1s']),
    ]);
  });
  after(async () => {
    await browser?.close();
    await stopServers();
    killHolders();
    tmp.remove();
  });

  test('a lock taken by another process appears without a reload; its name is shown as text', async () => {
    const page = await browser.context.newPage();
    await page.goto(open.url);
    await row(page, 'warm-up');
    await startHolder(locks, HOSTILE);
    await row(page, HOSTILE);
    const cells = await rowCells(page, HOSTILE);
    // Markup as text; the bidi override shown as an escape rather than reordering the row.
    assert.equal(cells[1], HOSTILE.replace('\u202e', '\\u{202e}'));
    assert.equal(cells[2], 'exclusive');
    assert.match(cells[3]!, /^pid \d+@/);
    assert.equal(await page.evaluate(() => document.querySelectorAll('#locks img').length), 0);
    assert.equal(await page.evaluate(() => (window as { pwned?: number }).pwned), undefined);
    await page.close();
  });

  test('a lock held before the page opens is written by the server as text, exactly as the script draws it', async () => {
    // HOSTILE is held since the test above: the server writes its row into the document (row-html.ts).
    const html = await (await fetch(open.url)).text();
    assert.doesNotMatch(html, /<img/i, 'no markup from a lock name in the document');
    const page = await browser.context.newPage();
    await page.goto(open.url);
    await row(page, HOSTILE); // adopted: the script set its data-name from the data block
    const written = await rowCells(page, HOSTILE);
    assert.equal(written[1], HOSTILE.replace('\u202e', '\\u{202e}'));
    assert.equal(await page.evaluate(() => document.querySelectorAll('#locks img').length), 0);
    assert.equal(await page.evaluate(() => (window as { pwned?: number }).pwned), undefined);
    // The same row drawn by the script (a filter makes it redraw the table): the same text, held/lease cells aside (they tick).
    await page.fill('#filter', 'onerror');
    await page.waitForFunction(() => document.querySelectorAll('#locks tbody tr').length === 1, undefined, { timeout: ROW_TIMEOUT });
    const drawn = await rowCells(page, HOSTILE);
    const still = (cells: string[]) => cells.filter((_, i) => i !== 4 && i !== 6);
    assert.deepEqual(still(drawn), still(written));
    await page.close();
  });


  test('the page runs only its own inlined script and style; nothing else is served as either', async () => {
    const doc = await fetch(open.url);
    const csp = doc.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'sha256-[^' ]+';/, 'the inlined script, by hash, and nothing else');
    assert.match(csp, /style-src 'sha256-[^' ]+';/, 'the inlined style, by hash, and nothing else');
    for (const path of ['app.js', 'app.css']) assert.equal((await fetch(`${open.url}${path}`)).status, 404, `/${path}`);
    const api = await fetch(`${open.url}api/config`);
    assert.equal(api.headers.get('content-security-policy'), "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    // and the page still works under that policy: its script ran and drew the live badge
    const page = await browser.context.newPage();
    const refused: string[] = [];
    page.on('console', (m) => m.text().includes('Content Security Policy') && refused.push(m.text()));
    await page.goto(open.url);
    await page.waitForFunction(() => document.querySelector('#live')?.textContent === 'live', undefined, { timeout: ROW_TIMEOUT });
    assert.deepEqual(refused, []);
    await page.close();
  });
  test('without --allow-break the page has no break action and the API answers 403', async () => {
    const page = await browser.context.newPage();
    await page.goto(open.url);
    await row(page, 'warm-up');
    await openDetail(page, 'warm-up');
    assert.equal(await page.locator('#detail form').count(), 0);
    const status = await page.evaluate(async () => {
      const r = await fetch('/api/break', { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: 'Bearer x' }, body: '{}' });
      return r.status;
    });
    assert.equal(status, 403);
    await page.close();
  });

  test('with --allow-break: 401 without the token, 403 with a wrong one, 403 from another origin', async () => {
    const holder = await startHolder(locks, 'api-target');
    const api = `${guarded.url}api/break`;
    const body = JSON.stringify({ backend: 'file', name: 'api-target', confirm: 'api-target', token: await listedToken(guarded, 'api-target'), reason: 'test' });
    const json = { 'Content-Type': 'application/json' };
    assert.equal((await fetch(api, { method: 'POST', headers: json, body })).status, 401);
    assert.equal((await fetch(api, { method: 'POST', headers: { ...json, Authorization: 'Bearer wrong-token-wrong-token' }, body })).status, 403);
    const auth = { ...json, Authorization: `Bearer ${token.token}` };
    assert.equal((await fetch(api, { method: 'POST', headers: { ...auth, Origin: 'http://evil.example' }, body })).status, 403);
    assert.equal((await fetch(api, { method: 'POST', headers: { ...auth, 'Sec-Fetch-Site': 'cross-site' }, body })).status, 403);
    assert.equal((await fetch(api, { method: 'POST', headers: { ...auth, 'Content-Type': 'text/plain' }, body })).status, 415);

    // A page of another origin in the browser: its POST is refused, the holder keeps its lock.
    const evil = createServer((_req, res) => res.end('<p>another site</p>'));
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    const page = await browser.context.newPage();
    await page.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
    const sent = await page.evaluate(
      async ([url, b, t]) => {
        // A "simple" request (no preflight) is the only kind another origin can send at all;
        // the server refuses it, and its answer is not even readable (Cross-Origin-Resource-Policy).
        await fetch(url!, { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body: b! }).catch(() => undefined);
        try {
          await fetch(url!, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${t}` }, body: b! });
          return 'sent';
        } catch {
          return 'blocked by the browser (no CORS)';
        }
      },
      [api, body, token.token],
    );
    assert.equal(sent, 'blocked by the browser (no CORS)');
    await page.close();
    evil.close();
    const still = (await (await fetch(`${guarded.url}api/locks?q=api-target`)).json()) as { total: number };
    assert.equal(still.total, 1);
    assert.equal(holder.child.exitCode, null);
  });

  test('a break through the page (name, reason, token) stops the holder and shows in the history', async () => {
    const holder = await startHolder(locks, 'nightly-report');
    await startHolder(locks, 'shared-cache', { args: ['--shared'] });
    const page = await browser.context.newPage();
    await page.goto(guarded.url);
    await row(page, 'nightly-report');
    await openDetail(page, 'nightly-report');
    const form = page.locator('#detail form');
    assert.match((await form.textContent()) ?? '', new RegExp(`pid ${holder.child.pid} on `));
    await form.locator('input[name=confirm]').fill('nightly-report');
    await form.locator('textarea[name=reason]').fill('stuck since 03:00');
    await form.locator('input[name=access-token]').fill(token.token);
    if (process.env.DEADBOLT_SCREENSHOT) await page.screenshot({ path: process.env.DEADBOLT_SCREENSHOT, fullPage: true });
    await form.locator('button[type=submit]').click();
    await holder.exited; // SIGTERM reached `deadbolt run`, which stopped its command and let go
    await page.waitForFunction(() => /^(broken|not broken|HTTP)/.test(document.querySelector('#detail .result')?.textContent ?? ''), undefined, { timeout: ROW_TIMEOUT });
    assert.match((await page.locator('#detail .result').textContent()) ?? '', /^broken: SIGTERM, freed/);
    await page.waitForFunction(() => [...document.querySelectorAll<HTMLElement>('#history tbody tr')].some((tr) => tr.dataset.name === 'nightly-report' && tr.dataset.kind === 'break'), undefined, { timeout: ROW_TIMEOUT });
    const audit = readFileSync(join(locks, '.deadbolt-audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { lock: { name: string }; reason: string; displaced: { pid: number } });
    const record = audit.find((r) => r.lock.name === 'nightly-report')!;
    assert.equal(record.reason, 'stuck since 03:00');
    assert.equal(record.displaced.pid, holder.child.pid);
    await page.close();
  });

  test('a stale token is refused: the holder changed since the page showed it', async () => {
    await startHolder(locks, 'changing');
    const stale = String(BigInt(await listedToken(guarded, 'changing')) - 1n);
    const r = await fetch(`${guarded.url}api/break`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token.token}` },
      body: JSON.stringify({ backend: 'file', name: 'changing', confirm: 'changing', token: stale, reason: 'test' }),
    });
    assert.equal(r.status, 409);
    assert.match(((await r.json()) as { error: string }).error, /changed hands/);
  });
});
