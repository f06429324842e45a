#!/usr/bin/env node
/**
 * The floor for web-locks.mjs scenario (b) on this Node: the same shape (a holder, 10 000
 * requests with async callbacks queued behind it, then release; ns per request from the first
 * enqueue to the last callback's end) on a FIFO lock in plain JavaScript, one small object per
 * request, no native call, no options, no query(). Whatever a real lock manager does on top
 * (its promise per request, a table shared with other threads) costs more than this.
 *
 * Usage: node web-locks-floor.mjs   (15 rounds; the first warms up; prints median and min)
 */
// Floor: a pure-JS FIFO lock, one object per request, no native calls.
const cb = async () => {};
class Req { constructor(cb, res, rej) { this.cb = cb; this.res = res; this.rej = rej; this.next = null; } }
let head = null, tail = null, held = false;
function grantNext() {
  const r = head; if (r === null) { held = false; return; }
  head = r.next; if (head === null) tail = null;
  queueMicrotask(() => run(r));
}
function run(r) {
  const p = r.cb(null);
  p.then((v) => { grantNext(); r.res(v); }, (e) => { grantNext(); r.rej(e); });
}
function request(cb) {
  let r;
  const p = new Promise((res, rej) => { r = new Req(cb, res, rej); });
  if (!held) { held = true; queueMicrotask(() => run(r)); }
  else { if (tail) tail.next = r; else head = r; tail = r; }
  return p;
}
async function queued(n) {
  let release;
  const holder = request(() => new Promise((r) => (release = r)));
  await new Promise((r) => setImmediate(r));
  const start = process.hrtime.bigint();
  const all = new Array(n);
  for (let i = 0; i < n; i++) all[i] = request(cb);
  release(); await holder; await Promise.all(all);
  return Number(process.hrtime.bigint() - start) / n;
}
const res = [];
for (let i = 0; i < 15; i++) res.push(await queued(10000));
const t = res.slice(1).sort((a, b) => a - b);
console.log(process.version, 'pure-JS floor median ns/req', t[t.length >> 1].toFixed(0), 'min', t[0].toFixed(0));
