// Installed without any usable addon (--ignore-scripts and no prebuild): in-process and distributed
// locks work, and LockDirectory fails with an error whose message says what works and how to fix it.
import { Mutex, LockDirectory, connect } from 'deadbolt';

await new Mutex().run(async () => {});
const coordinator = await connect('memory://no-addon');
await (await coordinator.acquire('x')).release();
await coordinator.close();
try {
  await new LockDirectory('/tmp/deadbolt-no-addon-check').acquire('x');
  throw new Error('LockDirectory worked without an addon');
} catch (err) {
  for (const expected of [/cannot be used/, /in-process locks/, /distributed locks/, /npm rebuild deadbolt/]) {
    if (err.code !== 'DEADBOLT_NATIVE' || !expected.test(err.message)) throw err;
  }
  console.log(`no-addon ok: ${err.message}`);
}
