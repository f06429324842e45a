/**
 * The vocabulary of a chaos run's history: what workers report, what the
 * resource server logs, what the nemesis did. Every record carries `t`, read on
 * the machine-wide monotonic clock (time.ts), in ms. Tokens travel as decimal
 * strings (JSON and IPC have no bigint).
 *
 * @module
 */
import type { FaultKind, HealMode } from './schedule.js';

/** Fields every worker event has. */
interface Stamped {
  /** The worker's id: `w<slot>.<generation>` (a restarted worker is a new generation). */
  worker: string;
  /** Monotonic time, ms. */
  t: number;
}

/**
 * What a worker reports, as it happens.
 *
 * - `connected`: a coordinator (a session) is open; `sessionId` is the engine's id for it.
 * - `waiting`: an acquire of `name` started.
 * - `acquired`: granted; `predecessor` is how the previous holder let go, when the engine knows.
 * - `acquire-failed`: the acquire rejected (timeout, session lost…); `error` is the error code.
 * - `check`: a cycle-start check of `guard.signal` found it aborted, so the hold stops there.
 * - `read`: a fenced read; `checkedAt` is when the signal was checked (not aborted) just before it.
 * - `write`: a write attempt (`t` is when it was sent); `aborted` is what `guard.signal.aborted`
 *   said right then; the write is sent regardless, to exercise the fence.
 * - `lost`: the guard's signal fired (its abort listener ran), with the LockLostError reason.
 * - `release-start` / `released`: `release()` called / settled; `lost` whether the guard was lost by then.
 * - `session-lost`: the coordinator's session is gone; the worker reconnects.
 * - `stopped`: the worker finished on request and closed its coordinator.
 * - `error`: something unexpected; the worker carries on where it can.
 */
export type WorkerEvent = Stamped &
  (
    | { type: 'connected'; sessionId: string }
    | { type: 'connect-failed'; error: string }
    | { type: 'waiting'; name: string }
    | { type: 'acquired'; name: string; token: string; predecessor?: string }
    | { type: 'acquire-failed'; name: string; error: string }
    | { type: 'check'; name: string; token: string; aborted: true }
    | { type: 'read'; name: string; token: string; checkedAt: number; value: number; ok: boolean }
    | { type: 'write'; name: string; token: string; aborted: boolean; readAt: number; value: number; ok: boolean }
    | { type: 'lost'; name: string; token: string; reason: string }
    | { type: 'release-start'; name: string; token: string; lost: boolean }
    | { type: 'released'; name: string; token: string; error?: string }
    | { type: 'session-lost' }
    | { type: 'stopped' }
    | { type: 'error'; message: string }
  );

/** The events of one `type`. */
export type EventOf<T extends WorkerEvent['type']> = Extract<WorkerEvent, { type: T }>;

/**
 * One operation as the resource server saw it, in the order it handled them
 * (`seq`): the resource is one thread, so this order is the truth.
 */
export interface ResourceEntry {
  seq: number;
  t: number;
  op: 'read' | 'write';
  name: string;
  token: string;
  worker: string;
  /** Read: the value returned. Write: the value written (if accepted) or offered. */
  value: number;
  /** The stored value before this operation. */
  prev: number;
  /** Whether the operation was admitted (always true in record-only mode). */
  accepted: boolean;
  /** The highest token of any operation on `name` before this one, or null for the first. */
  highest: string | null;
}

/** What the nemesis did, filled in as the fault plays out. */
export interface FaultRecord {
  seq: number;
  kind: FaultKind;
  /** The lock whose holder was targeted. */
  lock: string;
  /** Planned duration, ms. */
  plannedMs: number;
  /** When the fault was applied (SIGSTOP sent, proxy cut, break called…). */
  startedAt: number;
  /** When it was healed (SIGCONT sent, proxy healed, engine ready again); equal to `startedAt` for instantaneous faults. */
  healedAt: number;
  /** The worker targeted, if any. */
  worker?: string;
  /** For `partition`: how it healed. */
  heal?: HealMode;
  /** For `break`: the tokens the break displaced. */
  displaced?: string[];
  /** For `kill-holder`: the worker started in the victim's place. */
  replacement?: string;
  /** Set when the fault could not be applied (no holder turned up in time…). */
  skipped?: string;
}
