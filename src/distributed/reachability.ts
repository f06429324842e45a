/**
 * Telling "nothing is there" from "no answer yet" while a driver connects.
 *
 * Client libraries retry a refused connection until their own deadline (etcd's
 * gRPC channel, ioredis, node-zookeeper-client all do), so `connect()` to a
 * server that is down used to wait out the whole `connectTimeout` and then say
 * only "timed out". Alongside the driver's own connection, one probe per
 * endpoint the client dials (a TCP connection, and the TLS handshake when the
 * client uses TLS, with its options) finds out what the library keeps to
 * itself. When every endpoint has definitely refused (ECONNREFUSED, ENOTFOUND,
 * no route, a TLS failure) `connect()` fails at once, naming each cause; an
 * endpoint that does not answer at all still gets the whole `connectTimeout`.
 * A probe connection is closed as soon as it succeeded or failed: it sends no
 * byte of the engine's protocol.
 *
 * @internal
 * @module
 */
import net from 'node:net';
import tls from 'node:tls';
import { BackendUnavailableError } from '../errors.js';
import { onAbort } from '../internal/on-abort.js';

/**
 * One endpoint a driver's client dials, and the TLS options it uses there.
 *
 * @example
 * ```ts
 * const target: ProbeTarget = { host: '10.0.0.1', port: 6380, tls: { ca: caPem, servername: 'redis.internal' } };
 * ```
 * @internal
 */
export interface ProbeTarget {
  host: string;
  port: number;
  /** Present when the client speaks TLS to this endpoint: the options of its `tls.connect`. */
  tls?: tls.ConnectionOptions | undefined;
}

/**
 * An endpoint that definitely refused, and why.
 *
 * @example
 * ```ts
 * const refusal: Refusal = { endpoint: '127.0.0.1:2379', code: 'ECONNREFUSED', why: 'connection refused (ECONNREFUSED): nothing listens there', error };
 * ```
 * @internal
 */
export interface Refusal {
  /** `host:port`. */
  endpoint: string;
  /** The errno or TLS error code. */
  code: string;
  /** The cause in words, with the code. */
  why: string;
  error: Error;
}

/** Where one probe stands: no answer yet, TLS asked for and unanswered, answered, refused, or failed in a way that may pass. */
type State = 'waiting' | 'tls-unanswered' | 'open' | Refusal | { pending: Error };

/**
 * Socket errors that mean "nothing to reach there", in words. Any other error
 * (a DNS hiccup, a reset, a timeout) may pass: the endpoint keeps its chance
 * until `connectTimeout`.
 */
const DEFINITE_ERRNO: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused (ECONNREFUSED): nothing listens there',
  ENOTFOUND: 'host name not found (ENOTFOUND)',
  EAI_NONAME: 'host name not found (EAI_NONAME)',
  EHOSTUNREACH: 'no route to the host (EHOSTUNREACH)',
  ENETUNREACH: 'network unreachable (ENETUNREACH)',
  EADDRNOTAVAIL: 'address not available (EADDRNOTAVAIL)',
};

/**
 * The probes of one `connect()`: drivers add the endpoints their client dials
 * ({@link probe}), `connect()` awaits {@link refused} and names the state of
 * each endpoint in its timeout message ({@link describe}).
 *
 * @example
 * ```ts
 * const reachability = new Reachability(signal);
 * reachability.probe([{ host: '127.0.0.1', port: 2379 }]);
 * const refusals = await reachability.refused; // only if every endpoint refused
 * ```
 * @internal
 */
export class Reachability {
  readonly #states = new Map<string, State>();
  readonly #sockets = new Set<net.Socket>();
  readonly #refused: Promise<Refusal[]>;
  #settle!: (refusals: Refusal[]) => void;
  #stopped = false;

  constructor(signal: AbortSignal) {
    this.#refused = new Promise((resolve) => (this.#settle = resolve));
    onAbort(signal, () => this.stop());
  }

  /** Resolves once every probed endpoint has definitely refused; never if one answered, or none was probed. */
  get refused(): Promise<Refusal[]> {
    return this.#refused;
  }

  /** Start one probe per endpoint (an endpoint already probed is not probed again). */
  probe(targets: readonly ProbeTarget[]): void {
    for (const target of targets) {
      const endpoint = endpointName(target);
      if (this.#stopped || this.#states.has(endpoint)) continue;
      this.#states.set(endpoint, 'waiting');
      this.#dial(endpoint, target);
    }
  }

  /** Each endpoint's state, for a timeout message: "127.0.0.1:1: connection refused (…); 10.0.0.9:2379: no answer". */
  describe(): string {
    return [...this.#states].map(([endpoint, state]) => `${endpoint}: ${stateText(state)}`).join('; ');
  }

  /** Close every probe connection; nothing is reported afterwards. */
  stop(): void {
    this.#stopped = true;
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  #dial(endpoint: string, target: ProbeTarget): void {
    const options = { host: target.host, port: target.port };
    const socket =
      target.tls === undefined
        ? net.connect(options)
        : tls.connect({ servername: net.isIP(target.host) === 0 ? target.host : undefined, ...target.tls, ...options });
    this.#sockets.add(socket);
    socket.unref();
    let reached = false;
    socket.once('connect', () => {
      reached = true;
      // A plain-text server may read a TLS hello as a request and wait for more (redis-server does).
      if (target.tls !== undefined && !this.#stopped) this.#states.set(endpoint, 'tls-unanswered');
    });
    const done = (state: State): void => {
      socket.destroy();
      this.#sockets.delete(socket);
      if (this.#stopped) return;
      this.#states.set(endpoint, state);
      this.#check();
    };
    socket.once(target.tls === undefined ? 'connect' : 'secureConnect', () => done('open'));
    socket.once('error', (error: Error) => done(classify(endpoint, error, target.tls !== undefined && reached)));
  }

  #check(): void {
    const states = [...this.#states.values()];
    if (states.some((state) => state === 'open')) return this.stop();
    if (states.every(isRefusal)) {
      this.#settle(states as Refusal[]);
      this.stop();
    }
  }
}

/**
 * The error `connect()` rejects with when every endpoint refused: what each
 * said, and what to do.
 *
 * @example
 * ```ts
 * throw refusedError('etcd', 'etcd://10.0.0.1:2379', await reachability.refused);
 * ```
 * @internal
 */
export function refusedError(backend: string, display: string, refusals: readonly Refusal[]): BackendUnavailableError {
  const each = refusals.map((r) => `${r.endpoint}: ${r.why}`).join('; ');
  const whom = refusals.length === 1 ? 'the only endpoint' : `all ${refusals.length} endpoints`;
  const cause = refusals.length === 1 ? refusals[0]!.error : new AggregateError(refusals.map((r) => r.error), each);
  return new BackendUnavailableError(`could not connect to ${display}: ${whom} refused (${each}); ${advice(backend, refusals)}`, { cause });
}

/**
 * The refusal `error` means, if it means one (for drivers whose client reports
 * per-endpoint errors itself, like node-postgres).
 *
 * @example
 * ```ts
 * const refusal = refusalOf('127.0.0.1:5432', err); // { code: 'ECONNREFUSED', … } or undefined
 * ```
 * @internal
 */
export function refusalOf(endpoint: string, error: unknown): Refusal | undefined {
  if (!(error instanceof Error)) return undefined;
  const state = classify(endpoint, error, false);
  return isRefusal(state) ? state : undefined;
}

/** What to do, for the kinds of refusal seen. */
function advice(backend: string, refusals: readonly Refusal[]): string {
  const steps: string[] = [];
  const has = (test: (r: Refusal) => boolean): boolean => refusals.some(test);
  if (has((r) => r.code === 'ECONNREFUSED')) steps.push(`that ${backend} is running and listening there, and the ports in the URL`);
  if (has((r) => r.code === 'ENOTFOUND' || r.code === 'EAI_NONAME')) steps.push('the host names in the URL');
  if (has((r) => /UNREACH|EADDRNOTAVAIL/.test(r.code))) steps.push('the addresses and the network route to them');
  if (has((r) => r.why.startsWith('TLS'))) steps.push('that the server speaks TLS on that port and that the TLS options (CA, certificate, server name) match it');
  return `check ${steps.join('; ')}`;
}

function endpointName({ host, port }: ProbeTarget): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** A probe's failure: a definite refusal, or something that may still pass. */
function classify(endpoint: string, error: Error, duringTls: boolean): Refusal | { pending: Error } {
  const code = String((error as { code?: unknown }).code ?? error.name);
  const why = DEFINITE_ERRNO[code];
  if (why !== undefined) return { endpoint, code, why, error };
  // Reached, then the handshake failed: a certificate, a protocol mismatch, or a plain-text server hanging up.
  if (duringTls) return { endpoint, code, why: `TLS handshake failed (${code}: ${tlsReason(error)})`, error };
  return { pending: error };
}

/** OpenSSL's reason ("wrong version number"), not its whole error queue with source file names. */
function tlsReason(error: Error): string {
  const { reason, library } = error as { reason?: unknown; library?: unknown };
  const openssl = typeof library === 'string' && typeof reason === 'string' && reason !== '';
  return (openssl ? reason : error.message).replace(/\s+/g, ' ').trim();
}

function isRefusal(state: unknown): state is Refusal {
  return typeof state === 'object' && state !== null && 'why' in state;
}

function stateText(state: State): string {
  if (state === 'waiting') return 'no answer';
  if (state === 'tls-unanswered') return 'accepts connections but did not answer the TLS handshake (does it speak TLS on that port?)';
  if (state === 'open') return 'reachable';
  if (isRefusal(state)) return state.why;
  return `no connection yet (${String((state.pending as { code?: unknown }).code ?? state.pending.message)})`;
}
