// The shipped bundle (scripts/bundle.mjs), built into a temp package root: the bins run, the
// chunks are lazy, stack traces map back to src/ under --enable-source-maps, the Lua scripts
// are found beside it, and node_modules is needed for dockerode only.
import { execFileSync, spawnSync } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { buildBundle, imageNodeFlags } from '../../helpers/bundle.js';
import { REPO, startDvdi, waitFor } from '../../helpers/cli.js';
import { rigsFor } from '../../helpers/node-rig.js';
import { startRedisServer, stopAllRedis } from '../../helpers/redis-server.js';

const rigs = rigsFor(test);

let root = '';

test.before(async () => {
  root = (await buildBundle()).root;
});
test.after.always(async () => {
  if (root !== '') await rm(root, { recursive: true, force: true });
});

function node(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', env: { ...process.env, NODE_PATH: '' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('both bins run from the bundle and read the package version', (t) => {
  const version = (JSON.parse(execFileSync('cat', [join(REPO, 'package.json')], { encoding: 'utf8' })) as { version: string }).version;
  t.is(node([join(root, 'dist/cli/dvdi.js'), '--version']).stdout, `${version}\n`);
  t.is(node([join(root, 'dist/cli/dvdcli.js'), 'version']).status, 0);
});

test('each bin is small; Redis, the plugin and dvdcli live in chunks of their own', async (t) => {
  const dvdi = await readFile(join(root, 'dist/cli/dvdi.js'), 'utf8');
  t.true(dvdi.length < 20_000, `dist/cli/dvdi.js is ${dvdi.length} bytes`);
  const chunks = await readdir(join(root, 'dist/chunks'));
  for (const lazy of ['redis-refcount-store-', 'plugin-command-', 'dvdcli-command-', 'status-command-', 'sidecar-command-']) {
    t.true(chunks.some((c) => c.startsWith(lazy) && c.endsWith('.js')), `a chunk ${lazy}*.js`);
  }
  // ioredis is only in the Redis chunk: the embedded path never loads it.
  for (const chunk of chunks.filter((c) => c.endsWith('.js') && !c.startsWith('redis-refcount-store-'))) {
    t.false((await readFile(join(root, 'dist/chunks', chunk), 'utf8')).includes('node_modules/ioredis/'), `${chunk} holds no ioredis`);
  }
  t.deepEqual(JSON.parse(await readFile(join(root, 'dist/runtime-modules.json'), 'utf8')), ['dockerode']);
});

test('node built-ins are required, never imported as ES modules (node 22 would load undici for http, and every lazy export)', async (t) => {
  const files = [
    ...(await readdir(join(root, 'dist/cli'))).map((f) => join(root, 'dist/cli', f)),
    ...(await readdir(join(root, 'dist/chunks'))).map((f) => join(root, 'dist/chunks', f)),
  ].filter((f) => f.endsWith('.js'));
  let required = 0;
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    // The one ESM import of a built-in: the banner's createRequire, which every require needs.
    const imported = [...text.matchAll(/^\s*import\b[^;]*?from\s*["']([^"'.][^"']*)["']/gm)].map((m) => m[1]).filter((spec) => spec !== 'node:module' && isBuiltin(spec ?? ''));
    t.deepEqual(imported, [], file);
    const loaded = [...text.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]).filter((spec) => isBuiltin(spec ?? ''));
    t.deepEqual(loaded, [], file);
    required += (text.match(/__require\(["']node:https?["']\)/g) ?? []).length;
  }
  t.true(required >= 2, `node:http and node:https are loaded by require (${required} places)`);
  // What an importer does not use of a built-in is not read: crypto's lazy webcrypto export (and
  // on node 22 util's diff) stays unloaded when the sidecar's code is loaded; so does
  // worker_threads, which pino asks about only for an asynchronous destination.
  const sidecarChunk = (await readdir(join(root, 'dist/chunks'))).find((f) => f.startsWith('sidecar-command-') && f.endsWith('.js'));
  const probe = `await import(${JSON.stringify(pathToFileURL(join(root, 'dist/chunks', sidecarChunk ?? 'missing')).href)}); console.log(JSON.stringify(process.moduleLoadList.filter((m) => /webcrypto|util\\/diff|worker_threads/.test(m))))`;
  const { status, stdout, stderr } = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: root, encoding: 'utf8', env: { ...process.env, NODE_PATH: '' } });
  t.is(status, 0, stderr);
  t.deepEqual(JSON.parse(stdout), []);
});

test("the bundled sidecar under the image's node flags attaches and serves prom-client's default metrics without the stood-in parts", async (t) => {
  const chunks = (await readdir(join(root, 'dist/chunks'))).filter((c) => c.endsWith('.js'));
  const text = (await Promise.all(chunks.map((c) => readFile(join(root, 'dist/chunks', c), 'utf8')))).join('\n');
  for (const left of ['node_modules/@opentelemetry/api/', 'node_modules/thread-stream/', 'node_modules/prom-client/lib/pushgateway.js']) t.false(text.includes(left), `${left} is not bundled`);
  for (const standIn of ['opentelemetry-api.cjs', 'prom-client-pushgateway.cjs', 'thread-stream.cjs']) t.true(text.includes(`scripts/bundle-stand-ins/${standIn}`), `${standIn} stands in`);

  const node = await rigs();
  const child = startDvdi(['sidecar'], { ...node.env, DVDI_VOLUME_NAME: 'bundlevol', DVDI_TASK_ID: 'bundle-task' }, [...(await imageNodeFlags()), join(root, 'dist/cli/dvdi.js')]);
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  await waitFor('the ready line', () => child.output.stderr.includes('"msg":"ready"') || child.exitCode !== null, 60_000, 20);
  const url = /"url":"(http:\/\/[^"]+)"/.exec(child.output.stderr)?.[1];
  t.truthy(url, child.output.stderr);
  const metrics = await (await fetch(`${url!}/metrics`)).text();
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) t.regex(metrics, new RegExp(`^${name}(\\{[^}]*\\})? \\d`, 'm'), name);
  t.regex(metrics, /^dvdi_ready 1$/m);
  t.true(await node.isMounted(join(node.root, 'bundlevol')));
  child.kill('SIGTERM');
  const result = await child.finished;
  t.is(result.code, 0, result.stderr);
  t.false(await node.isMounted(join(node.root, 'bundlevol')));
});

test("the image's compile-cache step loads every chunk under the ENTRYPOINT's node flags, and the chunks load without side effects", async (t) => {
  const dockerfile = await readFile(join(REPO, 'Dockerfile'), 'utf8');
  t.regex(dockerfile, /^ENV NODE_COMPILE_CACHE=\/app\/\S+$/m);
  const warm = /^RUN node ((?:--\S+ )+)--input-type=module -e \\\n\s+"(.*)"$/m.exec(dockerfile);
  t.truthy(warm, 'a RUN node … -e step');
  // V8 refuses a code cache made under other flags: the warm-up must use the entrypoint's.
  t.deepEqual(warm![1]!.trim().split(' '), await imageNodeFlags());
  const script = warm![2]!.replaceAll('/app/', `${root}/`);
  const r = spawnSync(process.execPath, [...(await imageNodeFlags()), '--input-type=module', '-e', script], { encoding: 'utf8', cwd: root });
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, '', 'importing the chunks prints nothing');
});

test('with --enable-source-maps a stack trace names the src/ file', async (t) => {
  const chunks = (await readdir(join(root, 'dist/chunks'))).filter((c) => c.endsWith('.js'));
  let errorsChunk: string | undefined;
  for (const c of chunks) if ((await readFile(join(root, 'dist/chunks', c), 'utf8')).includes('// src/common/errors.ts')) errorsChunk = c;
  t.truthy(errorsChunk);
  const script = `const m = await import(${JSON.stringify(join(root, 'dist/chunks', errorsChunk!))}); try { m.exitCodeOf(new Proxy({}, { getPrototypeOf() { throw new Error('trap'); } })); } catch (e) { console.log(e.stack); }`;
  // The trap throws inside exitCodeOf's instanceof: the trace has a frame of our code.
  const r = node(['--enable-source-maps', '--input-type=module', '-e', script]);
  t.regex(r.stdout, /src\/common\/errors\.ts:\d+/, r.stderr);
});

test('the Lua scripts are found from the bundle', async (t) => {
  const chunk = (await readdir(join(root, 'dist/chunks'))).find((c) => c.startsWith('redis-refcount-store-') && c.endsWith('.js'));
  const text = await readFile(join(root, 'dist/chunks', chunk!), 'utf8');
  const script = `import { readdirSync } from 'node:fs'; import { fileURLToPath } from 'node:url'; console.log(readdirSync(fileURLToPath(new URL('../refcount/lua/', ${JSON.stringify(`file://${join(root, 'dist/chunks', chunk!)}`)}))).filter((f) => f.endsWith('.lua')).length)`;
  t.true(text.includes("new URL(\"../refcount/lua/\", import.meta.url)"));
  t.true(Number(node(['--input-type=module', '-e', script]).stdout) > 3);
});

test('the Redis chunk loads node:tls, debug and node:assert only when asked for, and its client has every command method', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => stopAllRedis());
  const chunk = (await readdir(join(root, 'dist/chunks'))).find((c) => c.startsWith('redis-refcount-store-') && c.endsWith('.js'));
  const text = await readFile(join(root, 'dist/chunks', chunk!), 'utf8');
  for (const standIn of ['lazy-tls.cjs', 'debug-when-asked.cjs']) t.true(text.includes(`scripts/bundle-stand-ins/${standIn}`), `${standIn} stands in`);
  // redis-errors' and sonic-boom's assert: one stand-in, in a chunk both share.
  const chunks = (await readdir(join(root, 'dist/chunks'))).filter((c) => c.endsWith('.js'));
  const all = (await Promise.all(chunks.map((c) => readFile(join(root, 'dist/chunks', c), 'utf8')))).join('\n');
  t.true(all.includes('scripts/bundle-stand-ins/assert-when-failing.cjs'), 'assert-when-failing.cjs stands in');
  const probe = (url: string, env: Record<string, string> = {}): { ready: boolean; loaded: string[]; methods: string[]; stderr: string } => {
    const script = `
      const { createRedisRefcountStore, scriptCommandName } = await import(${JSON.stringify(join(root, 'dist/chunks', chunk!))});
      const logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {}, isLevelEnabled: () => false, child() { return logger; } };
      const store = createRedisRefcountStore({ url: ${JSON.stringify(url)}, prefix: 'bundle', logger, commandTimeoutMs: 1000 });
      const ready = await store.waitReady(3000);
      const methods = ['get', 'set', 'scan', 'sscan', 'zadd', 'evalsha', 'getBuffer', scriptCommandName('inspectVolume')].filter((m) => typeof store.redis[m] === 'function').map((m) => m.startsWith('dvdi_') ? 'a script' : m);
      await store.close();
      const loaded = process.moduleLoadList.filter((m) => /^NativeModule (tls|tty|assert)$/.test(m)).map((m) => m.slice(13));
      console.log(JSON.stringify({ ready, loaded, methods }));`;
    const r = spawnSync(process.execPath, [...imageFlags, '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', env: { ...process.env, NODE_PATH: '', DEBUG: '', ...env } });
    t.is(r.status, 0, r.stderr);
    return { ...(JSON.parse(r.stdout) as { ready: boolean; loaded: string[]; methods: string[] }), stderr: r.stderr };
  };
  const imageFlags = await imageNodeFlags();
  const methods = ['get', 'set', 'scan', 'sscan', 'zadd', 'evalsha', 'getBuffer', 'a script'];

  const plain = probe(server.url);
  t.true(plain.ready);
  t.deepEqual(plain.loaded, [], 'no tls, tty or assert for a plain connection without DEBUG');
  t.deepEqual(plain.methods, methods, 'the command methods (the prototype made a dictionary first) and a script command');
  t.is(plain.stderr, '');

  const debug = probe(server.url, { DEBUG: 'ioredis:redis' });
  t.true(debug.ready);
  t.regex(debug.stderr, /ioredis:redis status\[127\.0\.0\.1:\d+\]: \S+ -> ready/, 'DEBUG=ioredis:* still prints ioredis\'s lines');

  // rediss:// against a server without TLS: the handshake fails, but it was the real node:tls.
  const tls = probe(server.url.replace('redis://', 'rediss://'));
  t.false(tls.ready);
  t.true(tls.loaded.includes('tls'), `node:tls is loaded for rediss:// (${tls.loaded.join(',')})`);
});
