// A TypeScript ESM consumer, type-checked against the packed declarations.
import { Mutex, connect, type FencedGuard, type LockInfo } from 'deadbolt';
import type { Coordinator } from 'deadbolt';

const mutex: Mutex = new Mutex();
await mutex.run(async () => {});
const coordinator: Coordinator = await connect('memory://types');
const guard: FencedGuard = await coordinator.acquire('x');
const token: bigint = guard.token;
const infos: LockInfo[] = await coordinator.list();
console.log(token, JSON.stringify(infos));
