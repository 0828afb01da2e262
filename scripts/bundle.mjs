// Builds the shipped code: each bin (dist/cli/dvdi.js, dist/cli/dvdcli.js) as one tree-shaken ESM
// bundle, with what only some runs need (the Redis store, the Docker client, the reference
// plugin, dvdcli, the status renderer, each subcommand) split into lazy chunks under
// dist/chunks/ that load on first use. Every output file sits two levels below the package root,
// as the sources do (src/<domain>/), so `new URL('../..', import.meta.url)` paths hold for both.
// Source maps are linked beside the bundle: NODE_OPTIONS=--enable-source-maps makes stack traces name
// src/ (the image leaves it off by default: it cost 4-10 MiB on node 22).
// Usage: node scripts/bundle.mjs [--outdir DIR] [--report]   (DIR default: dist/ of this repository)
import { build } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { resolve } from 'node:path';
import process from 'node:process';
import { URL, fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
// node-cron's date arithmetic without ICU's locale data (+8.6 MiB RSS on Node 22).
import { cronLocalTime } from './bundle-stand-ins/node-cron-local-time.mjs';
import { pinoMainThreadWhenAsked } from './bundle-stand-ins/pino-main-thread-when-asked.mjs';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const requireBuiltin = createRequire(import.meta.url);
const { values } = parseArgs({ options: { outdir: { type: 'string' }, report: { type: 'boolean', default: false } } });

// Left to node_modules (not bundled): dockerode pulls in ssh2 and its optional native addons
// (cpu-features, sshcrypto), which a bundle cannot carry; it is loaded lazily, only with Docker.
const EXTERNAL = ['dockerode'];

// Every node built-in through require(), never import: node's ESM view of a built-in (its
// "facade") reads every export once, and lazy exports load what they stand for. On 22.23 http's
// WebSocket export loads undici (+5.6 MiB anonymous, +4 MiB of the binary's pages, ~15 ms), and
// util's diff export the myers-diff and colour modules (~15 ms of CPU at each start under the
// image's flags, which keep node's code cache for its built-ins unused). esbuild's own
// CommonJS-to-ESM step (__toESM) reads every export too, so an ES module importing a built-in gets
// a module that exports each name as a pure read of require()'s object: esbuild drops the reads
// nobody imports, and the lazy exports stay unloaded. The bundled CommonJS dependencies'
// require() calls stay plain require() calls.
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
const builtinsByRequire = {
  name: 'builtins-by-require',
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (args) => {
      if (!isBuiltin(args.path)) return undefined;
      if (args.namespace === 'by-require' || args.kind === 'require-call') return { path: args.path, external: true };
      return { path: args.path, namespace: 'by-require' };
    });
    b.onLoad({ filter: /.*/, namespace: 'by-require' }, (args) => {
      const names = Object.keys(requireBuiltin(args.path)).filter((name) => name !== 'default' && IDENTIFIER.test(name));
      const reads = names.map((name) => `export const ${name} = /* @__PURE__ */ (() => builtin.${name})();`);
      return { contents: [`const builtin = require(${JSON.stringify(args.path)});`, 'export default builtin;', ...reads].join('\n'), loader: 'js' };
    });
  },
};

// Parts of dependencies that their index loads but dvdi never uses, replaced by stand-ins (in
// scripts/bundle-stand-ins/). prom-client reads @opentelemetry/api only to label exemplars (never
// enabled here; ~9 MiB and ~12 ms loaded from node_modules) and never constructs a Pushgateway
// (http, https, tls, zlib) unless asked; pino's transports (thread-stream, worker_threads) are
// never started: the logger writes to stderr itself. Each stand-in throws if it is ever reached,
// so a future use fails loudly instead of quietly doing nothing. Others below load the real
// module late instead.
const STAND_INS = [
  { spec: '@opentelemetry/api', from: '/node_modules/prom-client/', file: 'opentelemetry-api.cjs' },
  { spec: './lib/pushgateway', from: '/node_modules/prom-client/', file: 'prom-client-pushgateway.cjs' },
  { spec: 'thread-stream', from: '/node_modules/pino/', file: 'thread-stream.cjs' },
  // Built-ins and helpers loaded at start for a rare case, loaded then instead (each stand-in
  // says what of the module its importer uses).
  { spec: 'tls', from: '/node_modules/ioredis/', file: 'lazy-tls.cjs' },
  { spec: 'debug', from: '/node_modules/ioredis/', file: 'debug-when-asked.cjs' },
  { spec: 'assert', from: '/node_modules/redis-errors/', file: 'assert-when-failing.cjs' },
  { spec: 'assert', from: '/node_modules/sonic-boom/', file: 'assert-when-failing.cjs' },
];
const standIns = {
  name: 'stand-ins',
  setup(b) {
    for (const { spec, from, file } of STAND_INS) {
      b.onResolve({ filter: new RegExp(`^${spec.replace(/[./]/g, (c) => `\\${c}`)}$`) }, (args) =>
        args.importer.includes(from) ? { path: resolve(REPO, 'scripts/bundle-stand-ins', file) } : undefined,
      );
    }
  },
};

// ioredis adds its ~480 command methods to Commander.prototype one by one as it loads; V8 gives
// the prototype a new hidden class with a copied descriptor array at each add (quadratic: ~3 MiB
// of garbage, and its pages stay in RSS). One line before that loop makes the prototype a
// dictionary first (adding two properties and deleting the first does), so each add is a hash
// insert; V8 makes it fast again, once, when it is first used as a prototype. Measured on Node
// 22.23 (--no-opt): RssAnon after require('ioredis') 16.2 → 12.3 MiB. The build fails if the
// line it goes before is gone (an ioredis update): look again then.
const COMMANDER_LOOP = 'const commands = commands_1.list';
const commanderAsDictionary = {
  name: 'ioredis-commander-dictionary',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]ioredis[\\/]built[\\/]utils[\\/]Commander\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      if (source.split(COMMANDER_LOOP).length !== 2) throw new Error(`${args.path}: expected one '${COMMANDER_LOOP}' (scripts/bundle.mjs, ioredis-commander-dictionary)`);
      const normalise = 'Commander.prototype.__dvdiDictionaryA = 0; Commander.prototype.__dvdiDictionaryB = 0; delete Commander.prototype.__dvdiDictionaryA; delete Commander.prototype.__dvdiDictionaryB;';
      return { contents: source.replace(COMMANDER_LOOP, `${normalise}\n${COMMANDER_LOOP}`), loader: 'js' };
    });
  },
};

const result = await build({
  absWorkingDir: REPO,
  entryPoints: { 'cli/dvdi': 'src/cli/dvdi.ts', 'cli/dvdcli': 'src/cli/dvdcli.ts' },
  outdir: values.outdir ?? 'dist',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  sourcemap: 'linked',
  // Mappings only: the sources are in the repository, and a map with them costs memory when
  // node loads it (--enable-source-maps parses every map at start).
  sourcesContent: false,
  treeShaking: true,
  minifySyntax: true,
  legalComments: 'linked',
  external: EXTERNAL,
  // The stand-ins first: they take some built-ins (tls, assert) from some importers.
  plugins: [standIns, builtinsByRequire, commanderAsDictionary, pinoMainThreadWhenAsked, cronLocalTime],
  metafile: true,
  logLevel: 'warning',
  // Bundled CommonJS dependencies call require() for node built-ins; ESM has none of its own.
  banner: { js: "import { createRequire as __dvdiCreateRequire } from 'node:module';\nconst require = __dvdiCreateRequire(import.meta.url);" },
});

// What the bundle still loads from node_modules/ (scripts/prune-runtime-modules.mjs keeps only these).
writeFileSync(resolve(REPO, values.outdir ?? 'dist', 'runtime-modules.json'), `${JSON.stringify(EXTERNAL)}\n`);

if (values.report) {
  for (const [file, output] of Object.entries(result.metafile.outputs)) {
    if (!file.endsWith('.js')) continue;
    process.stdout.write(`${String(output.bytes).padStart(9)}  ${file}${output.entryPoint ? `  (${output.entryPoint})` : ''}\n`);
  }
}
