/**
 * Breaking a lock on ZooKeeper (the operator's tool).
 *
 * One transaction, conditional on every current holder's node version:
 * write the break record to `<namespace>/broken/<name>`, record the displaced
 * tokens as the lock node's last departure, and delete the holders' claim
 * nodes. Their sessions are left alone, so a displaced process loses only this
 * lock. Because record and deletion are one transaction, a displaced holder
 * whose watch reports the deletion finds its token in the departure ("broken"),
 * and so does the next holder. If the holders changed between the read and the
 * transaction (released, next one granted), it reads again. A conditional
 * break (`expect`) refuses when the holders read differ from the expected
 * tokens; the versioned removes then cover the gap until the multi runs.
 *
 * The record is the last break of that name: a later break replaces it.
 *
 * @internal
 * @module
 */
import { BackendError } from '../../errors.js';
import { assertExpectedHolders } from '../../distributed/break-options.js';
import type { BreakRecord } from '../../distributed/driver.js';
import type { LockInfo } from '../../contracts/fenced-guard.js';
import type { ZkClient, ZkOp } from './client.js';
import { readHolders } from './holders.js';
import { mapError, ZkCode, zkCode } from './map-error.js';
import type { ZkPaths } from './paths.js';
import { encodeBreak, encodeDeparture } from './record.js';

/** How many times the holders may change under us before we give up. */
const ATTEMPTS = 10;

/**
 * Displace the holders of `name`, store `record`, return who was displaced
 * (empty when nobody held it: then nothing is written).
 *
 * @example
 * ```ts
 * const displaced = await breakLock(client, paths, 'jobs', { reason: 'stuck', by: 'ops@host', at: new Date() });
 * ```
 */
export async function breakLock(client: ZkClient, paths: ZkPaths, name: string, record: BreakRecord, expect?: readonly bigint[]): Promise<LockInfo[]> {
  const recordPath = paths.broken(name);
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const holders = await readHolders(client, paths, name);
    if (holders.length === 0 && expect === undefined) return [];
    const displaced = holders.map((h) => h.info);
    // The multi removes these nodes at these versions only: nobody granted after this read is removed.
    assertExpectedHolders(name, expect, displaced.map((d) => d.token));
    const data = encodeBreak(record, displaced);
    const recordExists = (await client.exists(recordPath).catch((error: unknown) => {
      throw mapError(error, `breaking "${name}"`);
    })) !== null;
    if (!recordExists) await client.mkdirp(paths.brokenRoot).catch((error: unknown) => {
      throw mapError(error, `breaking "${name}"`);
    });
    const ops: ZkOp[] = [
      recordExists ? { op: 'setData', path: recordPath, data, version: -1 } : { op: 'create', path: recordPath, data },
      { op: 'setData', path: paths.lockDir(name), data: encodeDeparture({ broken: displaced.map((i) => i.token.toString()) }), version: -1 },
      ...holders.map((h): ZkOp => ({ op: 'remove', path: h.path, version: h.version })),
    ];
    try {
      await client.multi(ops);
      return displaced;
    } catch (error) {
      const code = zkCode(error);
      // a holder left, or another break created the record meanwhile: read again
      if (code !== ZkCode.NO_NODE && code !== ZkCode.BAD_VERSION && code !== ZkCode.NODE_EXISTS) throw mapError(error, `breaking "${name}"`);
    }
  }
  throw new BackendError(`could not break "${name}": its holders changed ${ATTEMPTS} times while breaking it`);
}
