/**
 * `deadbolt break NAME`: stop the holder of a local lock, as an operator.
 *
 * Why by stopping the holder: a kernel lock belongs to its holder's open file
 * until that file is closed; nothing else can take it away. (Deleting the lock
 * file would only let a second process "hold" a new file alongside the first:
 * a split-brain.) So break identifies the holder from its record, checks that
 * the pid really is that holder (holder-process.ts: same host, start time,
 * command line), asks for confirmation, sends SIGTERM, watches the lock for a
 * grace period, sends SIGKILL if the holder still has it, and reports whether
 * the lock was freed. Every attempt that signalled someone is appended to the
 * audit log.
 *
 * A record is anyone's to write, so right before each signal the kernel must
 * also prove that the pid holds this very lock file and runs as its owner
 * (holder-proof.ts); without that proof nothing is signalled.
 *
 * Watching the lock: every 50 ms it reads the lock state (F_OFD_GETLK) and the
 * holder record. Freed means free, or held by someone else (a waiter may get
 * the lock the moment the holder dies). Taking the lock ourselves to be woken
 * by the kernel would not do: a waiter of the service could be granted first.
 *
 * On an engine (`--backend etcd://…`), engine-break.ts: the engine revokes
 * the holder's claim; no process is signalled.
 *
 * Refused (exit 69): a holder on another host, a lock with no record (oslo),
 * a record whose pid is gone or now another program, a pid the kernel does not
 * show holding the lock, a lock held shared (its holders are several; the
 * record names one).
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { UnsafeFileError } from '../errors.js';
import type { DirectoryHandle } from '../file/directory-handle.js';
import { readRecord, type HolderRecord } from '../file/holder-record.js';
import { AUDIT_FILE, checkLockName, lockFileName } from '../file/lock-name.js';
import { openAudit, type BreakAuditRecord } from './audit.js';
import { confirm } from './confirm.js';
import { operator } from './engine-audit.js';
import { formatDuration } from './durations.js';
import { isoTime } from './format.js';
import { escapeText } from './escape.js';
import { CliError, ExitCode, usageError } from './exit-codes.js';
import { checkHolderProcess, stillSameProcess } from './holder-process.js';
import { proveHolder, type HolderProof } from './holder-proof.js';
import { groupLayout, lockFileIdentity } from './lock-file-identity.js';
import type { Output } from './output.js';
import { breakEngineLock, type EngineBreakOptions } from './engine-break.js';
import { engineLockName, withEngine, type EngineOptions } from './engine-options.js';
import { openLockDirectory, resolveAnyTarget, type FileTarget, type TargetOptions } from './target.js';

/**
 * Options of `deadbolt break`.
 *
 * @example
 * ```ts
 * const options: BreakCommandOptions = { lockPath: '/run/locks', reason: 'stuck since 03:00', yes: true, grace: 10_000 };
 * ```
 */
export interface BreakCommandOptions extends TargetOptions, EngineOptions, EngineBreakOptions {
  reason?: string;
  yes?: boolean;
  /** ms between SIGTERM and SIGKILL. */
  grace: number;
  json?: boolean;
  /** `--trust-directory`: act even in a directory others could swap or fill (docs/security.md). */
  trustDirectory?: boolean;
}

/** How often the lock is looked at while waiting for the holder to let go. */
const WATCH_MS = 50;
/** How long to wait for the lock after SIGKILL (the kernel releases it as the process exits). */
const AFTER_KILL_MS = 5000;

/**
 * Break lock `name`; resolves with the exit code.
 *
 * @example
 * ```ts
 * await breakCommand('nightly', { lockPath: '/run/locks', yes: true, grace: 5000, reason: 'hung' }, io);
 * ```
 */
export async function breakCommand(name: string, options: BreakCommandOptions, io: Output): Promise<number> {
  const any = resolveAnyTarget(options);
  if (any.kind === 'engine') return withEngine(any, options, io, (c) => breakEngineLock(c, any, engineLockName(name), options, io));
  try {
    checkLockName(name);
  } catch (err) {
    throw usageError((err as Error).message);
  }
  const target = any;
  const file = lockFileName(name, target.prefix);
  const handle = openLockDirectory(target, { act: true, trustDirectory: options.trustDirectory === true });
  try {
    return await breakLock(handle, { name, file }, target, options, io);
  } finally {
    handle.close();
  }
}

/** Break lock file `file` of `handle`'s directory: every file is reached through that one handle. */
async function breakLock(handle: DirectoryHandle, lock: { name: string; file: string }, target: FileTarget, options: BreakCommandOptions, io: Output): Promise<number> {
  const holder = identifyHolder(handle, lock.name, lock.file);
  const { record } = holder;
  io.err(describeHolder(lock.name, target, record));
  if (!options.yes) {
    if (!process.stdin.isTTY) {
      throw usageError('refusing to break a lock without confirmation: stdin is not a terminal', 'Add --yes to confirm non-interactively.');
    }
    const question = `Stop pid ${record.pid} (SIGTERM, then SIGKILL after ${formatDuration(options.grace)})? [y/N] `;
    if (!(await confirm(question))) throw new CliError(ExitCode.NOT_BROKEN, 'not confirmed: nothing was done');
  }
  const { entry, failure } = await breakIdentified(handle, lock, holder, options, io);
  if (options.json) io.json(entry);
  else if (failure === undefined) io.out(escapeText(`lock "${lock.name}" broken: pid ${record.pid} stopped with ${entry.signals.join(', then ')}; recorded in ${target.directory}/${AUDIT_FILE}`));
  if (failure !== undefined) throw failure;
  return 0;
}

/**
 * A holder `identifyHolder` found: its record and its process's start time.
 *
 * @example
 * ```ts
 * const { record, startTicks }: IdentifiedHolder = identifyHolder(handle, name, file);
 * ```
 */
export interface IdentifiedHolder {
  record: HolderRecord;
  startTicks: number;
}

/**
 * Stop an identified holder, once confirmed: refuse if the lock changed hands
 * since it was identified (tokens compared), open the audit log, signal
 * (SIGTERM, then SIGKILL after `grace`, each proven first), append the audit
 * record. Resolves with the record and, when the lock is still held, the
 * error to report; rejects (nothing signalled) on a refusal.
 *
 * @example
 * ```ts
 * const { entry, failure } = await breakIdentified(handle, { name, file }, holder, { reason: 'hung', grace: 10_000 }, io);
 * ```
 */
export async function breakIdentified(
  handle: DirectoryHandle,
  lock: { name: string; file: string },
  holder: IdentifiedHolder,
  options: { reason?: string; grace: number },
  io: Output,
): Promise<{ entry: BreakAuditRecord; failure?: CliError }> {
  const { record, startTicks } = holder;
  // The lock may have changed hands while the operator read the prompt.
  const now = readRecord(handle, lock.file);
  if (now?.token !== record.token || !stillSameProcess(record.pid, startTicks)) {
    throw new CliError(ExitCode.NOT_BROKEN, `lock "${lock.name}" changed hands or was released meanwhile: nothing was signalled`);
  }
  // Opened (and proven a regular, single-link file of a trusted owner) before anyone is signalled.
  const audit = openAudit(handle);
  try {
    return await stopHolder(handle, lock, holder, options, io, audit);
  } finally {
    audit.close();
  }
}

/** Prove the holder, signal it (SIGTERM, then SIGKILL after the grace, each proven first), record the break. */
async function stopHolder(
  handle: DirectoryHandle,
  { name, file }: { name: string; file: string },
  { record, startTicks }: IdentifiedHolder,
  options: { reason?: string; grace: number },
  io: Output,
  audit: ReturnType<typeof openAudit>,
): Promise<{ entry: BreakAuditRecord; failure?: CliError }> {
  const before = proveNow(handle, file, record.pid);
  if (!before.proven) throw proofRefusal(name, record.pid, before);

  const signals: string[] = [];
  let freed = signal(record.pid, 'SIGTERM', signals, io) && (await watchUntilFreed(handle, file, record.token, options.grace));
  let noKill: RefusedProof | undefined;
  if (!freed && stillSameProcess(record.pid, startTicks)) {
    const proof = proveNow(handle, file, record.pid);
    if (proof.proven) {
      io.err(`pid ${record.pid} still holds the lock after ${formatDuration(options.grace)}: sending SIGKILL`);
      signal(record.pid, 'SIGKILL', signals, io);
    } else {
      noKill = proof;
    }
  }
  if (noKill === undefined) freed ||= await watchUntilFreed(handle, file, record.token, AFTER_KILL_MS);

  const entry = auditRecord(name, file, options.reason, record, signals, freed);
  audit.append(entry);
  if (!freed && noKill !== undefined) {
    return { entry, failure: new CliError(ExitCode.UNAVAILABLE, `lock "${name}" is still held after SIGTERM; not sending SIGKILL: ${noKill.why}`) };
  }
  if (!freed) {
    const failure = new CliError(ExitCode.NOT_BROKEN, `lock "${name}" is still held by pid ${record.pid} after SIGKILL`, {
      hint: 'The process may be stuck in the kernel (state D), or another process shares its lock: see /proc/locks.',
    });
    return { entry, failure };
  }
  return { entry };
}

/** The kernel's proof, now, that `pid` holds lock file `file` (holder-proof.ts). */
function proveNow(handle: DirectoryHandle, file: string, pid: number): HolderProof {
  const identity = lockFileIdentity(handle, file);
  if (identity === undefined) return { proven: false, why: 'the lock file is gone or is not a regular file' };
  return proveHolder(pid, identity, { groupMode: groupLayout(handle) });
}

type RefusedProof = Extract<HolderProof, { proven: false }>;

/** The error for a failed proof: 77 when /proc would not tell this user, else 69. Nothing was signalled. */
function proofRefusal(name: string, pid: number, proof: RefusedProof): CliError {
  if (proof.denied) return new CliError(ExitCode.NO_PERMISSION, `not allowed to signal pid ${pid}: ${proof.why}; run as its user or as root`);
  return new CliError(ExitCode.UNAVAILABLE, `refusing to break "${name}": ${proof.why}`, {
    hint: 'The holder record may be forged or stale; `fuser -v` on the lock file lists the processes that have it open.',
  });
}

/**
 * The holder of exclusive lock file `file`, identified from its record and
 * proven by the kernel, ready to be stopped by `breakIdentified`; a refusal
 * (CliError: 1 not held, 69 cannot be identified safely, 77 not allowed) otherwise.
 * Also used by `deadbolt serve`, which compares `record.token` with the one
 * its operator saw.
 *
 * @example
 * ```ts
 * const holder = identifyHolder(handle, 'nightly', 'nightly');
 * console.log(holder.record.pid, holder.record.token);
 * ```
 */
export function identifyHolder(handle: DirectoryHandle, name: string, file: string): IdentifiedHolder {
  const refuse = (why: string, hint?: string) => new CliError(ExitCode.UNAVAILABLE, `refusing to break "${name}": ${why}`, hint === undefined ? {} : { hint });
  let state: ReturnType<DirectoryHandle['state']>;
  try {
    state = handle.state(file);
  } catch (err) {
    // A lock file deadbolt would not use (a symlink, a FIFO, another user's file): its "holder" is nobody to signal.
    if (err instanceof UnsafeFileError) throw refuse(err.message);
    throw err;
  }
  if (state === 'free' || state === 'missing') throw new CliError(ExitCode.NOT_BROKEN, `lock "${name}" is not held: nothing to break`);
  if (state === 'shared') {
    throw refuse('it is held shared, possibly by several processes, and the record names one at most', 'Stop the holders yourself (`deadbolt ls` shows them).');
  }
  const record = readRecord(handle, file);
  const hint = () => kernelHint(handle, file);
  if (record === undefined || record.mode !== 'exclusive') {
    throw refuse('its holder wrote no holder record (oslo.concurrency and other tools write none)', hint());
  }
  const found = checkHolderProcess(record, record.since);
  switch (found.status) {
    case 'running': {
      // Asked here too, so that an operator is never asked to confirm a break that would be refused.
      const proof = proveNow(handle, file, record.pid);
      if (!proof.proven) throw proofRefusal(name, record.pid, proof);
      return { record, startTicks: found.startTicks };
    }
    case 'remote':
      throw refuse(`its holder is on host ${found.host}; a local break can only stop processes of this host (${hostname()})`);
    case 'gone':
      throw refuse(`its record names pid ${record.pid}, which is not running, so the real holder is unknown`, hint());
    case 'reused':
      throw refuse(`the record's pid no longer runs the holder: ${found.why}`, hint());
    case 'unknown':
      throw refuse(found.why);
  }
}

/** For a holder without a usable record: what /proc/locks says, when it names a pid (classic POSIX locks do, OFD locks don't). */
function kernelHint(handle: DirectoryHandle, file: string): string | undefined {
  let inode: number | undefined;
  let locks: string;
  try {
    inode = handle.stat(file)?.ino;
    locks = readFileSync('/proc/locks', 'latin1');
  } catch {
    return undefined;
  }
  const pids = new Set<number>();
  for (const line of locks.split('\n')) {
    const f = line.trim().split(/\s+/);
    // "1: POSIX ADVISORY WRITE 1234 08:01:56789 0 EOF"
    if (f[1] === 'POSIX' && Number(f[5]?.split(':')[2]) === inode && Number(f[4]) > 0) pids.add(Number(f[4]));
  }
  if (pids.size === 0) return undefined;
  return `The kernel reports a POSIX lock on this file by pid ${[...pids].join(', ')}: stop that process yourself if it is the holder.`;
}

/** The holder, for the operator: every field but the numbers is from the (untrusted) record, so the text is escaped. */
function describeHolder(name: string, target: FileTarget, r: HolderRecord): string {
  return [
    `lock "${name}" in ${target.directory} is held by pid ${r.pid} on ${r.host}`,
    `  command  ${r.command}`,
    `  since    ${isoTime(r.since)} (${formatDuration(Date.now() - r.since.getTime())}), token ${r.token}`,
  ].map(escapeText).join('\n');
}

/** Send `sig`; false when the holder had already exited. */
function signal(pid: number, sig: 'SIGTERM' | 'SIGKILL', sent: string[], io: Output): boolean {
  try {
    process.kill(pid, sig);
    sent.push(sig);
    return true;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ESRCH') return false;
    if (code === 'EPERM') throw new CliError(ExitCode.NO_PERMISSION, `not allowed to signal pid ${pid}: run as its user or as root`);
    io.err(`cannot signal pid ${pid}: ${code}`);
    throw err;
  }
}

/** Watch the lock until the displaced holder no longer has it, or `ms` passes. */
async function watchUntilFreed(handle: DirectoryHandle, file: string, token: bigint, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    const state = handle.state(file);
    if (state === 'free' || state === 'missing') return true;
    const record = readRecord(handle, file);
    if (record !== undefined && record.token !== token) return true; // a new holder: ours let go
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, Math.min(WATCH_MS, Math.max(1, deadline - Date.now()))));
  }
}

function auditRecord(name: string, file: string, reason: string | undefined, r: HolderRecord, signals: string[], freed: boolean): BreakAuditRecord {
  return {
    version: 1,
    event: 'break',
    at: new Date().toISOString(),
    lock: { name, file },
    by: operator(),
    reason: reason ?? '(no reason given)',
    displaced: { pid: r.pid, host: r.host, command: r.command, id: r.id, mode: r.mode, token: r.token.toString(), since: isoTime(r.since) },
    signals,
    outcome: freed ? 'freed' : 'still-held',
  };
}
