/**
 * Every JavaScript and TypeScript example in README.md, extracted and run.
 *
 * - ```js blocks run as they are, on the Node running the tests (CI runs this suite on
 *   every supported line), so an example that needs a newer Node fails here.
 * - ```ts blocks are type-checked (strict, as a user's project would be) and then
 *   run as compiled by TypeScript.
 *
 * What the examples leave to the reader is supplied, and said here: the names that
 * stand for the reader's own code (`url`, `read()`, `db`, …) are defined before each
 * example; `'deadbolt'` (and its subpaths, as package.json exports them) is this
 * checkout's build; '/run/myapp/locks' is a fresh
 * directory; engine URLs (etcd://…) become memory:// ones, which run the same
 * Coordinator code with no server (the engines have their own suites).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import typescript from 'typescript';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const built = pathToFileURL(join(repo, 'dist-test/src/index.js')).href;
/** The package's subpaths (`deadbolt/web-locks` …) as package.json exports them: built file and source. */
const subpaths = Object.entries(JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).exports as Record<string, { default?: string }>)
  .filter(([key, target]) => key.startsWith('./') && key !== './package.json' && target.default?.startsWith('./dist/'))
  .map(([key, target]) => ({ specifier: `deadbolt/${key.slice(2)}`, file: target.default!.replace(/^\.\/dist\//, 'src/') }));

interface Snippet {
  lang: 'js' | 'ts';
  code: string;
  line: number;
}

function snippets(): Snippet[] {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const found: Snippet[] = [];
  for (const match of readme.matchAll(/^```(js|ts)\n([\s\S]*?)^```$/gm)) {
    found.push({ lang: match[1] as 'js' | 'ts', code: match[2]!, line: readme.slice(0, match.index).split('\n').length });
  }
  return found;
}

/** Stand-ins for the reader's own code, checked where an example hands them something. */
const JS_PRELUDE = `
const url = 'https://example.invalid/report';
const fetch = async (target) => target;
const read = async () => 'settings';
const userId = 'user-1';
const updateBalance = async () => {};
const writeReport = async ({ fencingToken }) => { if (typeof fencingToken !== 'bigint') throw new Error('writeReport: no fencing token'); };
const id = 42;
const total = 100;
const stopWriting = () => {};
const schedule = async ({ term, signal }) => { if (typeof term !== 'bigint' || signal.aborted) throw new Error('schedule: no term, or not leader'); };
const db = { query: async (_sql, params) => { if (typeof params[0] !== 'bigint') throw new Error('db.query: no fencing token'); return { rowCount: 1 }; } };
`;

function prepared(code: string, lockDir: string, deadbolt: string): string {
  let out = code;
  // Built subpaths for JavaScript; TypeScript resolves them through `paths` (below).
  if (deadbolt !== 'deadbolt') for (const { specifier, file } of subpaths) out = out.replaceAll(`from '${specifier}'`, `from '${pathToFileURL(join(repo, 'dist-test', file)).href}'`);
  return out
    .replaceAll("from 'deadbolt'", `from '${deadbolt}'`)
    .replaceAll('/run/myapp/locks', lockDir)
    .replace(/'(?:etcd|redis|rediss|postgres|postgresql|zookeeper):\/\/[^']*'/g, "'memory://readme'");
}

function run(file: string): void {
  const result = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.status, 0, `${file} failed (signal ${result.signal}):\n${result.stderr}`);
}

const all = snippets();
const tmp = mkdtempSync(join(tmpdir(), 'deadbolt-readme-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

test('README.md has JavaScript and TypeScript examples', () => {
  assert.ok(all.filter((s) => s.lang === 'js').length >= 4, 'js examples');
  assert.ok(all.some((s) => s.lang === 'ts'), 'ts examples');
  assert.ok(!all.some((s) => s.lang === 'js' && /\bawait using\b/.test(s.code)), '`await using` only in ts examples (Node 20 and 22 cannot parse it)');
});

for (const [index, snippet] of all.entries()) {
  if (snippet.lang !== 'js') continue;
  test(`README.md line ${snippet.line}: the JavaScript example runs on Node ${process.versions.node}`, () => {
    const file = join(tmp, `example-${index}.mjs`);
    writeFileSync(file, JS_PRELUDE + prepared(snippet.code, mkdtempSync(join(tmp, 'locks-')), built));
    run(file);
  });
}

test('README.md: the TypeScript examples type-check (strict) and run', () => {
  const dir = mkdtempSync(join(tmp, 'ts-'));
  const ts = all.flatMap((snippet, index) => (snippet.lang === 'ts' ? [{ snippet, name: `example-${index}` }] : []));
  for (const { snippet, name } of ts) writeFileSync(join(dir, `${name}.mts`), prepared(snippet.code, join(dir, 'locks'), 'deadbolt'));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2023', 'ESNext.Disposable'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        skipLibCheck: true,
        noEmit: true,
        types: ['node'],
        typeRoots: [join(repo, 'node_modules/@types')],
        paths: { deadbolt: [join(repo, 'src/index.ts')], ...Object.fromEntries(subpaths.map(({ specifier, file }) => [specifier, [join(repo, file.replace(/\.js$/, '.ts'))]])) },
      },
      files: ts.map(({ name }) => `${name}.mts`),
    }),
  );
  const tsc = spawnSync(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8' });
  assert.equal(tsc.status, 0, `tsc:\n${tsc.stdout}${tsc.stderr}`);
  for (const { snippet, name } of ts) {
    const compiled = join(dir, `${name}.mjs`);
    const options = { target: typescript.ScriptTarget.ES2022, module: typescript.ModuleKind.ESNext };
    writeFileSync(compiled, typescript.transpileModule(prepared(snippet.code, join(dir, 'locks'), built), { compilerOptions: options }).outputText);
    run(compiled);
  }
});
