/**
 * `deadbolt serve` over Redis (and a lock directory, side by side) in a real
 * browser: a lock held by another process appears live, and a break through
 * the page displaces the holder, whose guard.signal fires in its own process,
 * and lands in the history.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { killHolders, startHolder } from '../cli/helpers.js';
import { requireServer, startRedis, type RedisHandle } from '../harness/index.js';
import { killEngineHolders, launchBrowser, requireChromium, startEngineHolder, startServe, stopServers, tempDir, tokenFile, type Serve } from './helpers.js';
import { EVENT_BOUND_MS } from '../harness/bounds.js';
import { connect } from '../../src/distributed/connect.js';

const chromium = requireChromium('serve page (Redis)');
const redisServer = requireServer('redis', { suite: 'serve page (Redis)' });
const skip = !chromium.available ? chromium.reason : !redisServer.available ? redisServer.reason : false;
const TIMEOUT = EVENT_BOUND_MS; // a page update on a loaded machine; only ends a wait that would hang

describe('deadbolt serve: Redis in the browser', { skip }, () => {
  const tmp = tempDir('redis-page');
  const locks = join(tmp.path, 'locks');
  const token = tokenFile(tmp.path);
  let redis: RedisHandle;
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  let serve: Serve;

  before(async () => {
    redis = await startRedis();
    await startHolder(locks, 'local-job');
    [browser, serve] = await Promise.all([
      launchBrowser(),
      startServe(['--backend', redis.url, '--lock-path', locks, '--allow-break', '--token-file', token.path, '--audit-log', join(tmp.path, 'breaks.log')]),
    ]);
  });
  after(async () => {
    await browser?.close();
    await stopServers();
    killEngineHolders();
    killHolders();
    await redis?.stop();
    tmp.remove();
  });

  test('a Redis lock appears live beside a local one; breaking it from the page fires the holder\'s guard.signal', async () => {
    const page = await browser.context.newPage();
    await page.goto(serve.url);
    const rowOf = (backend: string, name: string) =>
      page.waitForFunction(([b, n]) => [...document.querySelectorAll<HTMLElement>('#locks tbody tr')].some((tr) => tr.dataset.backend === b && tr.dataset.name === n), [backend, name], { timeout: TIMEOUT });
    await rowOf('file', 'local-job');
    const holder = await startEngineHolder(redis.url, 'invoices', 5000);
    await rowOf('redis', 'invoices');
    const leaseLeft = await page.evaluate(() => [...document.querySelectorAll<HTMLTableRowElement>('#locks tbody tr')].find((tr) => tr.dataset.name === 'invoices')!.cells[6]!.textContent);
    assert.match(leaseLeft ?? '', /^\d+ (ms|s)$/);

    await page.evaluate(() => [...document.querySelectorAll<HTMLElement>('#locks tbody tr')].find((tr) => tr.dataset.name === 'invoices')!.click());
    const form = page.locator('#detail form');
    await form.waitFor({ timeout: TIMEOUT });
    assert.match((await form.textContent()) ?? '', new RegExp(`token ${holder.token}`));
    await form.locator('input[name=confirm]').fill('invoices');
    await form.locator('textarea[name=reason]').fill('consumer hung');
    await form.locator('input[name=access-token]').fill(token.token);
    await form.locator('button[type=submit]').click();
    assert.match(await holder.lost, /^lost DEADBOLT_LOCK_LOST/);
    await page.waitForFunction(() => [...document.querySelectorAll<HTMLElement>('#history tbody tr')].some((tr) => tr.dataset.name === 'invoices' && tr.dataset.kind === 'break'), undefined, { timeout: TIMEOUT });
    await page.close();
  });

  test('an election shows on the page: the leader\'s term and its value, as text (a hostile value stays inert)', async () => {
    const coordinator = await connect(redis.url, { ttl: 10_000 });
    try {
      const value = '<img src=x onerror="window.pwned=1">http://10.0.0.7:8080';
      const leadership = await coordinator.campaign('scheduler', { value });
      const page = await browser.context.newPage();
      await page.goto(serve.url);
      await page.waitForFunction(() => [...document.querySelectorAll<HTMLElement>('#locks tbody tr')].some((tr) => tr.dataset.name === '@election/scheduler'), undefined, { timeout: TIMEOUT });
      await page.evaluate(() => [...document.querySelectorAll<HTMLElement>('#locks tbody tr')].find((tr) => tr.dataset.name === '@election/scheduler')!.click());
      await page.waitForSelector('#detail:not([hidden]) dl', { timeout: TIMEOUT });
      const pairs = await page.evaluate(() => [...document.querySelectorAll('#detail dt')].map((dt) => [dt.textContent, dt.nextElementSibling?.textContent]));
      assert.deepEqual(pairs.find(([k]) => k === 'term'), ['term', leadership.term.toString()]);
      assert.deepEqual(pairs.find(([k]) => k === 'value'), ['value', value]);
      assert.equal(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned), undefined, 'the value was not parsed as HTML');
      await page.close();
      await leadership.resign();
    } finally {
      await coordinator.close();
    }
  });
});
