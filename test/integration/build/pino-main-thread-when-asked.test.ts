// The bundle's edit of pino (scripts/bundle-stand-ins/pino-main-thread-when-asked.mjs): pino built
// with it loads worker_threads only when an asynchronous destination asks whether this is the main
// thread, and that destination still flushes at exit as pino's own does.
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { build, type Plugin } from 'esbuild';
import { REPO } from '../../helpers/cli.js';

const PLUGIN = join(REPO, 'scripts/bundle-stand-ins/pino-main-thread-when-asked.mjs');
const THREAD_STREAM_STAND_IN = join(REPO, 'scripts/bundle-stand-ins/thread-stream.cjs');
let outDir = '';
let bundled = '';

test.before(async () => {
  const { pinoMainThreadWhenAsked } = (await import(pathToFileURL(PLUGIN).href)) as { pinoMainThreadWhenAsked: Plugin };
  outDir = await mkdtemp(join(tmpdir(), 'dvdi-test-pino-'));
  bundled = join(outDir, 'pino.cjs');
  await build({
    stdin: { contents: "module.exports = require('pino');", resolveDir: REPO, loader: 'js' },
    outfile: bundled,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    // As in the bundle, pino's transports (thread-stream, itself on worker_threads) are stood in.
    alias: { 'thread-stream': THREAD_STREAM_STAND_IN },
    plugins: [pinoMainThreadWhenAsked],
    logLevel: 'warning',
  });
});
test.after.always(async () => {
  if (outDir !== '') await rm(outDir, { recursive: true, force: true });
});

/** Runs `script` with `pino` bound to the bundled pino; answers its stdout and the JSON it printed on stderr. */
function run(script: string): { stdout: string; report: { atLoad: boolean; afterDestination: boolean } } {
  const prelude = `const loaded = () => process.moduleLoadList.includes('NativeModule worker_threads'); const pino = require(${JSON.stringify(bundled)}); const atLoad = loaded();`;
  const r = spawnSync(process.execPath, ['-e', `${prelude}\n${script}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr}`);
  return { stdout: r.stdout, report: JSON.parse(r.stderr.trim()) as { atLoad: boolean; afterDestination: boolean } };
}

test('the bundled pino is built from the edited source', async (t) => {
  const text = await readFile(bundled, 'utf8');
  t.regex(text, /isMainThread = \(\) => require\("worker_threads"\)\.isMainThread/);
  t.regex(text, /!opts\.sync && isMainThread\(\)/);
});

test('loading pino and a synchronous destination (what dvdi makes) leave worker_threads unloaded', (t) => {
  const { stdout, report } = run(`const log = pino(pino.destination({ dest: 1, sync: true })); log.info('sync line'); process.stderr.write(JSON.stringify({ atLoad, afterDestination: loaded() }));`);
  t.deepEqual(report, { atLoad: false, afterDestination: false });
  t.regex(stdout, /"msg":"sync line"/);
});

test('an asynchronous destination asks, loads worker_threads then, and is flushed at an immediate exit (main thread)', (t) => {
  // pino registers the exit flush only on the main thread: a line written just before
  // process.exit() reaches stdout only if the answer was "main thread".
  for (let i = 0; i < 5; i++) {
    const { stdout, report } = run(`const log = pino(pino.destination({ dest: 1, sync: false })); const afterDestination = loaded(); process.stderr.write(JSON.stringify({ atLoad, afterDestination })); log.info('async line'); process.exit(0);`);
    t.deepEqual(report, { atLoad: false, afterDestination: true });
    t.regex(stdout, /"msg":"async line"/);
  }
});
