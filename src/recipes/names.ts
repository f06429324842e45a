/**
 * Where the recipes keep their claims: ordinary lock names under reserved
 * prefixes, so that every engine stores, lists, watches and breaks them exactly
 * as it does locks (one core under every recipe), and an operator sees them in
 * `ls`, `show` and the monitoring page under a name that says what they are:
 * - an election `jobs` is the lock `@election/jobs`: the leader holds it, the
 *   candidates wait for it;
 * - a group `workers` is the lock `@group/workers`: every member holds it shared;
 * - a semaphore `uploads` is a queue lock `@semaphore/uploads#queue` and one
 *   lock per permit, `@semaphore/uploads#0` … `#<permits - 1>`.
 *
 * The prefixes are reserved: `acquire()` refuses a name under them, so that an
 * application cannot join an election by accident. Listings and `break` take
 * them, for operators.
 *
 * @module
 */
import { invalidRange } from '../errors.js';
import { checkLockName, MAX_LOCK_NAME_LENGTH } from '../internal/lock-name.js';

/** The kinds of recipe and the prefix of each one's lock names. */
export const RECIPE_PREFIXES = { election: '@election/', group: '@group/', semaphore: '@semaphore/' } as const;

/** A recipe kind: `'election'`, `'group'` or `'semaphore'`. */
export type RecipeKind = keyof typeof RECIPE_PREFIXES;

/** The longest suffix a semaphore adds to its name (`#queue`, or `#` and a permit number). */
const SEMAPHORE_SUFFIX = 6;

/**
 * Check a recipe's name as the user gave it: a valid lock name, short enough
 * that its lock names stay valid too. Returns the name.
 *
 * @example
 * ```ts
 * checkRecipeName('jobs', 'election'); // 'jobs'
 * checkRecipeName('', 'group'); // throws RangeError (DEADBOLT_INVALID_ARGUMENT)
 * ```
 */
export function checkRecipeName(name: unknown, kind: RecipeKind): string {
  checkLockName(name, `${kind} name`);
  const room = MAX_LOCK_NAME_LENGTH - RECIPE_PREFIXES[kind].length - (kind === 'semaphore' ? SEMAPHORE_SUFFIX : 0);
  const checked = name as string;
  if (checked.length > room) throw invalidRange(`${kind} name`, `a string of 1 to ${room} characters`, checked);
  return checked;
}

/**
 * The lock name a recipe keeps its claims under.
 *
 * @example
 * ```ts
 * recipeLockName('election', 'jobs'); // '@election/jobs'
 * ```
 */
export function recipeLockName(kind: RecipeKind, name: string): string {
  return RECIPE_PREFIXES[kind] + name;
}

/**
 * The recipe kind a lock name belongs to, or `undefined` for a plain lock name.
 *
 * @example
 * ```ts
 * recipeKindOf('@group/workers'); // 'group'
 * recipeKindOf('invoices'); // undefined
 * ```
 */
export function recipeKindOf(lockName: string): RecipeKind | undefined {
  for (const [kind, prefix] of Object.entries(RECIPE_PREFIXES) as [RecipeKind, string][]) {
    if (lockName.startsWith(prefix)) return kind;
  }
  return undefined;
}

/**
 * Refuse a plain lock name under a recipe prefix (for `acquire`, `tryAcquire`
 * and `run`), naming the method to use instead.
 *
 * @example
 * ```ts
 * checkPlainLockName('@election/jobs'); // throws RangeError: use coordinator.campaign('jobs')
 * ```
 */
export function checkPlainLockName(name: string): void {
  const kind = recipeKindOf(name);
  if (kind === undefined) return;
  const method = { election: 'campaign', group: 'join', semaphore: 'semaphore' }[kind];
  throw invalidRange('name', `a name not starting with "${RECIPE_PREFIXES[kind]}", which is reserved for coordinator.${method}()`, name);
}
