/**
 * Moved to src/contracts/ (issue 13): kept as a re-export only until the
 * Redis and PostgreSQL drivers import the new path; then deleted.
 *
 * @internal
 * @module
 */
export * from '../contracts/fenced-guard.js';
