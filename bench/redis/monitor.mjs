/**
 * Counting what reaches Redis, with MONITOR: every command a client sent, and
 * separately the commands scripts ran inside the server (MONITOR shows those
 * with the source "lua"). Used only around the hand-off chains of (c): MONITOR
 * slows the server down, so nothing timed runs under it.
 */
import Redis from 'ioredis';

/**
 * Start counting. `stop()` resolves with `{ client, lua, byCommand }`.
 * @param {string} url
 */
export async function monitor(url) {
  const redis = new Redis(url);
  const feed = await redis.monitor();
  // Markers go through a connection of their own, opened before counting starts.
  const probe = new Redis(url);
  await probe.ping();
  const counts = { client: 0, lua: 0, byCommand: {} };
  let on = false;
  feed.on('monitor', (_time, args, source) => {
    if (!on || String(args[1]).startsWith(MARKER)) return;
    if (source === 'lua') {
      counts.lua++;
      return;
    }
    const name = String(args[0]).toLowerCase();
    counts.client++;
    counts.byCommand[name] = (counts.byCommand[name] ?? 0) + 1;
  });
  // A marker command: once MONITOR echoes it, the feed is live.
  await waitForEcho(probe, feed);
  return {
    start() {
      counts.client = counts.lua = 0;
      counts.byCommand = {};
      on = true;
    },
    async stop() {
      // Everything sent before now is echoed before this marker.
      await waitForEcho(probe, feed);
      on = false;
      return { ...counts, byCommand: { ...counts.byCommand } };
    },
    close() {
      feed.disconnect();
      redis.disconnect();
      probe.disconnect();
    },
  };
}

const MARKER = 'deadbolt-bench-marker-';
let markers = 0;

async function waitForEcho(probe, feed) {
  const marker = `${MARKER}${++markers}`;
  const seen = new Promise((resolve) => {
    const listener = (_time, args) => {
      if (args[1] === marker) {
        feed.off('monitor', listener);
        resolve();
      }
    };
    feed.on('monitor', listener);
  });
  await probe.echo(marker);
  await seen;
}
