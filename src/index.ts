/**
 * deadbolt: concurrency control for Node.js. In-process primitives, lock
 * directories on kernel locks, and distributed locks, behind one API.
 *
 * This module is the public surface. It never imports a backend client: each
 * distributed driver loads its client package only when its URL scheme is used.
 *
 * @example
 * ```ts
 * import { Mutex } from 'deadbolt';
 * const mutex = new Mutex();
 * await mutex.run(() => criticalSection());
 * ```
 *
 * @module
 */
export * from './errors.js';
export {
  channels,
  type LockEventMessage,
  type LockLostMessage,
  type LockAcquireFailedMessage,
  type AcquireFailureReason,
  type LockBrokenMessage,
  type SessionMessage,
  type FileCleanedMessage,
  type ProtocolViolationMessage,
  type StealRefusedMessage,
} from './diagnostics.js';
export { type Guard, LocalGuard } from './local/guard.js';
export { Semaphore, MAX_PERMITS, type SemaphoreAcquireOptions } from './local/semaphore.js';
export { Mutex } from './local/mutex.js';
export { RWLock, type AcquireOptions } from './local/rw-lock.js';
export { KeyedMutex, KeyedRWLock } from './local/keyed.js';
export { ThreadMutex } from './threads/thread-mutex.js';
export { ThreadSemaphore } from './threads/thread-semaphore.js';
export { ThreadKeyedMutex } from './threads/thread-keyed-mutex.js';
export { ThreadGuard } from './threads/thread-guard.js';
export { type FencedGuard, type LockInfo, type LockOwner } from './contracts/fenced-guard.js';
export { lockInfoToJSON, type LockInfoJSON } from './contracts/lock-info-json.js';
export { LockDirectory, type LockDirectoryOptions } from './file/lock-directory.js';
export { type FileLockGuard } from './file/file-guard.js';
export { type LockFileInfo } from './file/list.js';
export { type CleanOptions, type CleanReport, type CleanEntry } from './file/clean.js';
export { connect } from './distributed/connect.js';
export { Coordinator, type BreakOptions, type CampaignOptions, type JoinOptions } from './distributed/coordinator.js';
export { Leadership, type LeaderInfo, type ElectionState, type LeadOptions } from './recipes/election.js';
export { Membership, type MemberInfo, type MemberEvent } from './recipes/membership.js';
export { DistributedSemaphore, Permit, MAX_DISTRIBUTED_PERMITS, type PermitSlot, type PermitHolder } from './recipes/semaphore.js';
export { RECIPE_PREFIXES, type RecipeKind } from './recipes/names.js';
export { type DistributedGuard } from './distributed/guard.js';
export { Session, safetyMargin, type SessionState } from './distributed/session.js';
export { Fence } from './distributed/fence.js';
export { MAX_LOCK_NAME_LENGTH } from './internal/lock-name.js';
export type { Capabilities, CapabilityName, ConnectOptions, PredecessorReport, BreakRecord, LockSurvey, WaiterInfo } from './distributed/driver.js';
