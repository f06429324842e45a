/**
 * The shapes `deadbolt serve` shows and its JSON API returns (docs/serve.md):
 * one row per held lock, whatever the backend, with tokens as decimal strings
 * (JSON has no bigint) and times as ISO 8601 or epoch milliseconds.
 *
 * Everything in a row but the numbers comes from a lock directory or an
 * engine, so it is untrusted text: the page renders it with `textContent` only.
 *
 * @module
 */

/**
 * One holder of a lock.
 *
 * @example
 * ```ts
 * const h: HolderRow = { id: 'a1', host: 'web-1', pid: 42, command: 'node job.js', token: '7', since: 1767225600000, expiresAt: null, state: 'running' };
 * ```
 */
export interface HolderRow {
  id: string;
  host: string;
  pid: number;
  command: string;
  /** The fencing token, as a decimal string. */
  token: string;
  /** When it was granted (epoch ms). */
  since: number;
  /** When its lease ends unless renewed (epoch ms); null for a lock directory (no lease: the kernel frees the lock when the holder dies). */
  expiresAt: number | null;
  /**
   * What the server can tell about the holder's liveness:
   * `running`; `stopped` (a local process that is paused, e.g. SIGSTOP: it holds but does no work);
   * `expiring` (an engine lease that is not being renewed: under half of the longest lease seen is left);
   * `gone` (the recorded process no longer exists); `remote` (another host); `unknown`.
   */
  state: 'running' | 'stopped' | 'expiring' | 'gone' | 'remote' | 'unknown';
  /** The recipe data stored with the claim (a leader's value, a member's metadata); null for a plain lock. Untrusted. */
  data: string | null;
}

/**
 * One held lock on one backend.
 *
 * @example
 * ```ts
 * const row: LockRow = { backend: 'redis', name: 'invoices', mode: 'exclusive', holders: [], waiters: null };
 * ```
 */
export interface LockRow {
  /** The backend's id (see BackendStatus). */
  backend: string;
  name: string;
  mode: 'exclusive' | 'shared';
  /** Every holder: one when exclusive, each shared holder when shared (a holder that writes no record, e.g. oslo, is not listed). */
  holders: HolderRow[];
  /** Processes waiting for it, when the backend tells (lock directories: the kernel's blocked requests); null when unknown. */
  waiters: number | null;
}

/**
 * A break or a loss, for the history.
 *
 * @example
 * ```ts
 * const e: HistoryEntry = { at: 1767225600000, backend: 'file', name: 'nightly', kind: 'break', token: '41', holder: 'pid 12 on vm', by: 'root@vm', reason: 'hung', detail: 'SIGTERM, freed' };
 * ```
 */
export interface HistoryEntry {
  /** When it happened or was seen (epoch ms). */
  at: number;
  backend: string;
  name: string;
  /** `break`: an operator broke it (from an audit log or this server); `expired`: an engine holder's lease ran out (seen between two polls). */
  kind: 'break' | 'expired';
  /** The displaced holder's token. */
  token: string;
  /** Who held it, in words (pid, host, command). */
  holder: string;
  /** For a break: who broke it. */
  by?: string;
  /** For a break: why. */
  reason?: string;
  /** Anything else worth knowing (signals sent, outcome). */
  detail?: string;
}

/**
 * Whether two snapshots of one backend show the same thing: the monitor's
 * change test (a change bumps the version, and every open page fetches its
 * rows again). A lease's expiry counts to the whole second: an engine that
 * gives the time left (Redis: PTTL) yields an expiry that moves by a few ms
 * from poll to poll with nothing changed, while a renewal moves it by a third
 * of the TTL. A field-by-field walk, not a JSON fingerprint of each snapshot:
 * with 10 000 locks that stringify was a fifth of the poll's CPU.
 *
 * @example
 * ```ts
 * if (!sameRows(before, after)) version++;
 * ```
 */
export function sameRows(a: readonly LockRow[], b: readonly LockRow[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.backend !== y.backend || x.name !== y.name || x.mode !== y.mode || x.waiters !== y.waiters || x.holders.length !== y.holders.length) return false;
    for (let j = 0; j < x.holders.length; j++) if (!sameHolder(x.holders[j]!, y.holders[j]!)) return false;
  }
  return true;
}

function sameHolder(x: HolderRow, y: HolderRow): boolean {
  return (
    x.token === y.token && x.id === y.id && x.host === y.host && x.pid === y.pid && x.command === y.command &&
    x.since === y.since && x.state === y.state && x.data === y.data && wholeSecond(x.expiresAt) === wholeSecond(y.expiresAt)
  );
}

const wholeSecond = (ms: number | null): number | null => (ms === null ? null : Math.round(ms / 1000));
