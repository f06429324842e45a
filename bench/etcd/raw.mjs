/**
 * The floor: the fewest etcd requests that give the same guarantees as one
 * deadbolt lock, written straight against the `etcd3` client's RPC layer.
 *
 * - session: one lease (granted once, like deadbolt's session);
 * - acquire: `if create_revision(key) == 0 then put(key, lease)` — one txn;
 * - release: `if create_revision(key) == token then delete(key)` — one txn;
 * - wait: claim a key in a queue, read the one before it in the same txn, watch
 *   it for DELETE from revision + 1, and take the event as the grant (no
 *   re-check, no predecessor report, no holder record: strictly a lower bound).
 */
const EMPTY = Buffer.alloc(0);

/** Grant a lease of `ttlSeconds`; its id. */
export async function rawLease(client, ttlSeconds) {
  const res = await client.leaseClient.leaseGrant({ TTL: ttlSeconds });
  return res.ID;
}

/** One uncontended acquire + release of `key` under `lease`. */
export async function rawCycle(client, lease, key) {
  const res = await client.kv.txn({
    compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
    success: [{ request_put: { key, value: EMPTY, lease } }],
    failure: [],
  });
  if (!res.succeeded) throw new Error('raw: key already held');
  await rawRelease(client, key, res.header.revision);
}

/** The conditional delete of a claim. */
export function rawRelease(client, key, token) {
  return client.kv.txn({
    compare: [{ key, target: 'Create', result: 'Equal', create_revision: token }],
    success: [{ request_delete_range: { key } }],
    failure: [],
  });
}

/**
 * Claim `key` in the queue under `prefix` and resolve `granted` when the claim
 * before it is deleted (at once if there is none). Returns once the claim is
 * made and its watch is registered, so a chain can be set up before timing.
 */
export async function rawWaiter(client, lease, prefix, key) {
  const end = Buffer.from(prefix);
  end[end.length - 1] += 1;
  const res = await client.kv.txn({
    compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
    success: [
      { request_put: { key, value: EMPTY, lease } },
      { request_range: { key: prefix, range_end: end, sort_order: 'Descend', sort_target: 'Create', keys_only: true, limit: 2 } },
    ],
    failure: [],
  });
  const token = res.header.revision;
  const pred = res.responses[1].response_range.kvs.find((kv) => kv.create_revision !== token);
  if (pred === undefined) return { token, granted: Promise.resolve() };
  const watcher = client.watch().key(pred.key).only('delete').startRevision(String(BigInt(token) + 1n)).watcher();
  const granted = new Promise((resolve) => watcher.once('delete', resolve)).then(() => void watcher.cancel().catch(() => {}));
  await new Promise((resolve, reject) => {
    watcher.once('connected', resolve);
    watcher.once('error', reject);
  });
  return { token, granted };
}
