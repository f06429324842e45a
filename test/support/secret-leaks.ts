/**
 * Checking that a secret appears nowhere in what deadbolt hands out: an
 * error's message, stack and `String()`, every `cause` (AggregateError.errors
 * included), own properties, listings and diagnostics messages.
 */
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { inspect } from 'node:util';
import { channels } from '../../src/diagnostics.js';

/** Passwords that break naive redaction: raw URL delimiters, escapes, look-alike escapes, Unicode, spaces. */
export const NASTY_PASSWORDS = [
  'pa/ss/word',
  'pa#ss#word',
  'pa?ss=word&x',
  'pa@ss@word',
  'pa:ss:word',
  'pa%ss%word',
  'pa%2Fss%40word',
  'pä✓ss日本wörd',
  'p a s s w0rd',
  'all/#?@:%mixed',
];

/** Every spelling of `password` that must not appear: as is, decoded, and percent-encoded both ways. */
export function spellings(password: string): string[] {
  const url = new URL('x://h');
  url.password = password;
  let decoded = password;
  try {
    decoded = decodeURIComponent(password);
  } catch {
    // a raw '%' that starts no escape: only the raw spelling exists
  }
  return [...new Set([password, decoded, encodeURIComponent(password), encodeURIComponent(decoded), url.password])];
}

/** Every text reachable from `value`: message, stack, String(), own properties, causes, AggregateError.errors. */
export function texts(value: unknown, seen = new Set<unknown>(), depth = 0): string[] {
  if (typeof value === 'string') return [value];
  if (value === null || typeof value !== 'object' || seen.has(value) || depth > 12) return [];
  seen.add(value);
  const found: string[] = [];
  if (value instanceof Error) found.push(String(value), value.message, String(value.stack));
  for (const key of Object.getOwnPropertyNames(value)) {
    const descriptor = Object.getOwnPropertyDescriptor(value, key)!;
    if ('value' in descriptor) found.push(...texts(descriptor.value, seen, depth + 1));
  }
  if (value instanceof Error) found.push(...texts(value.cause, seen, depth + 1));
  if (value instanceof AggregateError) found.push(...texts(value.errors, seen, depth + 1));
  return found;
}

/** Fail naming where, if any spelling of `password` is anywhere in `value`. */
export function assertClean(value: unknown, password: string, where: string): void {
  const all = [...texts(value), inspect(value, { depth: 12 })];
  for (const secret of spellings(password)) {
    for (const text of all) {
      assert.ok(!text.includes(secret), `${where}: ${JSON.stringify(secret)} appears in ${JSON.stringify(text.slice(0, 400))}`);
    }
  }
}

/** Everything published on every deadbolt channel while `fn` runs. */
export async function recordingDiagnostics<T>(fn: () => Promise<T>): Promise<{ result: T; published: unknown[] }> {
  const published: unknown[] = [];
  const listener = (message: unknown): void => void published.push(message);
  for (const name of Object.values(channels)) diagnosticsChannel.subscribe(name, listener);
  try {
    return { result: await fn(), published };
  } finally {
    for (const name of Object.values(channels)) diagnosticsChannel.unsubscribe(name, listener);
  }
}

/** `promise`, or a failure once `ms` passed: a guard against hanging, not a timing assertion. */
export function settlesWithin<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)));
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

/** The rejection of `promise`, or a failure if it resolves. */
export function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => assert.fail(`expected a rejection, got ${String(value)}`),
    (error: unknown) => error,
  );
}
