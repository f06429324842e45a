// A TypeScript CommonJS consumer (require of an ES module: TypeScript 5.8+ with module nodenext, Node 20.19+ / 22.12+).
import deadbolt = require('deadbolt');

const mutex: deadbolt.Mutex = new deadbolt.Mutex();
void mutex.run(async () => {});
export {};
