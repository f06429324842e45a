/**
 * The bounded chaos suite (part of `npm test`): every driver in the table
 * (drivers.ts), under every fault its engine allows, for a short fault window
 * each, with a fixed seed (`DEADBOLT_CHAOS_SEED` overrides it).
 *
 * Per driver:
 * - fenced: zero violations of every rule (checker.ts), every applicable fault
 *   kind applied, the liveness bound after kills met;
 * - record-only (drivers whose locks live on a server lease): the same faults
 *   without a Fence must make the checker report stale writes or lost updates,
 *   and nothing else: the lock keeps its promises, only the unfenced resource
 *   suffers. This is what proves the checker can fail.
 *
 * A driver whose module is not written yet is skipped, loudly; a missing server
 * binary is a skip locally and a failure under CI (requireServer).
 * Long runs: `npm run chaos -- --driver etcd --duration 10m --seed N` (cli.ts).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FENCE_RULES, type Violation } from './checker.js';
import { availability, CHAOS_DRIVERS, scratchDir, type Engine } from './drivers.js';
import { renderMarkdown, type DriverReport } from './report.js';
import { MissingCapabilityError, recordOnly, removeRunDir, runChaos, type RunResult } from './run.js';
import { within } from './time.js';
import { HANG_GUARD_MS } from '../harness/bounds.js';

const SEED = Number(process.env.DEADBOLT_CHAOS_SEED ?? 1);
const reports: DriverReport[] = [];

after(() => {
  if (reports.length === 0) return;
  const base = fileURLToPath(new URL('../../chaos-report', import.meta.url));
  writeFileSync(`${base}.json`, `${JSON.stringify(reports, null, 2)}\n`);
  writeFileSync(`${base}.md`, renderMarkdown(reports));
  process.stdout.write(`\n${renderMarkdown(reports)}(also in ${base}.md and .json)\n`);
});

function list(violations: readonly Violation[]): string {
  return violations.slice(0, 10).map((v) => `  ${v.rule}: ${v.message}`).join('\n');
}

/** Keep the run's records when the test fails, say where; remove them otherwise. */
async function keepOnFailure(t: TestContext, result: RunResult, assertions: () => void): Promise<void> {
  try {
    assertions();
  } catch (err) {
    t.diagnostic(`records kept in ${result.dir}`);
    throw err;
  }
  removeRunDir(result.dir);
}

for (const driver of CHAOS_DRIVERS) {
  const available = availability(driver);
  describe(`chaos: ${driver.name}`, { skip: available.available ? false : available.reason }, () => {
    // One engine for both runs (each run has its own namespace): starting PostgreSQL or ZooKeeper takes seconds.
    let engine: Engine;
    let engineDir: string;
    before(async () => {
      engineDir = scratchDir(`${driver.name}-engine`);
      engine = await driver.start(engineDir);
    });
    after(async () => {
      await within(engine?.stop() ?? Promise.resolve(), 30_000, undefined);
      if (engineDir !== undefined) removeRunDir(engineDir);
    });

    test(`fenced, seed ${SEED}: no violation under every fault kind, liveness bounded`, { timeout: driver.testDurationMs + 120_000 }, async (t) => {
      const result = await runChaos({ driver, engine, seed: SEED, fenced: true, durationMs: driver.testDurationMs, log: (line) => t.diagnostic(line) });
      const { report } = result;
      reports.push(report);
      t.diagnostic(
        `${report.operations.acquisitions} acquisitions, ${report.operations.writesAccepted} writes admitted, ` +
          `${report.operations.writesFenced} stale writes fenced, worst recovery ${report.recovery.worstMs ?? '–'} ms (bound ${report.recovery.boundMs ?? '–'})`,
      );
      await keepOnFailure(t, result, () => {
        assert.equal(report.violations.total, 0, `violations with fencing on ${driver.name}:\n${list(result.check.violations)}`);
        assert.ok((report.faults['pause-holder']?.applied ?? 0) >= 1, 'no holder was paused');
        assert.ok((report.faults['kill-holder']?.applied ?? 0) >= 1, 'no holder was killed');
        assert.ok(report.pauses.onHolder >= 1, 'no pause caught its victim holding a lock: the loss/keep checks were not exercised');
        assert.ok(result.check.stats.recoveries.some((r) => r.ms !== null), 'no kill caught its victim holding a lock: recovery was not measured');
      });
    });

    test(`election, fenced, seed ${SEED}: 0 writes from an old term admitted, one leader acting per term, failover bounded`, { timeout: driver.testDurationMs + 120_000 }, async (t) => {
      let result: RunResult;
      try {
        result = await runChaos({ driver, engine, seed: SEED, fenced: true, workload: 'election', requires: ['recipes'], durationMs: driver.testDurationMs, log: (line) => t.diagnostic(line) });
      } catch (err) {
        // Justified skip (file://): lock directories have no elections (capabilities.recipes is false).
        if (err instanceof MissingCapabilityError) return void t.skip(err.message);
        throw err;
      }
      const { report } = result;
      reports.push(report);
      t.diagnostic(
        `${report.operations.acquisitions} terms, ${report.operations.writesAccepted} writes admitted, ` +
          `${report.operations.writesFenced} writes from an old term fenced, worst failover after a kill ${report.recovery.worstMs ?? '–'} ms (bound ${report.recovery.boundMs ?? '–'})`,
      );
      await keepOnFailure(t, result, () => {
        assert.equal(report.violations.total, 0, `violations of the election workload on ${driver.name}:\n${list(result.check.violations)}`);
        assert.ok((report.faults['kill-holder']?.applied ?? 0) >= 1, 'no leader was killed');
        assert.ok(result.check.stats.recoveries.some((r) => r.ms !== null), 'no kill caught a leader: failover was not measured');
      });
    });

    test(`record-only, seed ${SEED}: without a fence, a holder paused past its TTL makes the checker fail`, { timeout: HANG_GUARD_MS }, async (t) => {
      let result: RunResult;
      try {
        result = await runChaos(recordOnly({ driver, engine, seed: SEED, log: (line) => t.diagnostic(line) }));
      } catch (err) {
        // Justified skip (file://): a paused holder keeps its kernel lock, so there is no stale holder to catch.
        if (err instanceof MissingCapabilityError) return void t.skip(`${err.message}: a paused holder keeps its lock, nothing goes stale`);
        throw err;
      }
      reports.push(result.report);
      const { violations } = result.check;
      t.diagnostic(`${violations.length} violation(s) without fencing: ${JSON.stringify(result.report.violations.byRule)}`);
      await keepOnFailure(t, result, () => {
        assert.ok(violations.some((v) => FENCE_RULES.includes(v.rule)), `no stale write or lost update was detected without fencing on ${driver.name}`);
        const others = violations.filter((v) => !FENCE_RULES.includes(v.rule));
        assert.deepEqual(others, [], `the lock itself broke a rule, fence or not:\n${list(others)}`);
      });
    });
  });
}
