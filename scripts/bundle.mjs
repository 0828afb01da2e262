// Builds the shipped code: each bin (dist/cli/dvdi.js, dist/cli/dvdcli.js) as one tree-shaken ESM
// bundle, with what only some runs need (the Redis store, the Docker client, the reference
// plugin, dvdcli, the status renderer, each subcommand) split into lazy chunks under
// dist/chunks/ that load on first use. Every output file sits two levels below the package root,
// as the sources do (src/<domain>/), so `new URL('../..', import.meta.url)` paths hold for both.
// Source maps are linked; the image runs node with --enable-source-maps so stack traces name src/.
import { build } from 'esbuild';

// Left to node_modules (not bundled): dockerode pulls in ssh2 and its optional native addons
// (cpu-features, sshcrypto), which a bundle cannot carry; it is loaded lazily, only with Docker.
const EXTERNAL = ['dockerode'];

const result = await build({
  entryPoints: { 'cli/dvdi': 'src/cli/dvdi.ts', 'cli/dvdcli': 'src/cli/dvdcli.ts' },
  outdir: 'dist',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  sourcemap: 'linked',
  treeShaking: true,
  minifySyntax: true,
  legalComments: 'linked',
  external: EXTERNAL,
  metafile: true,
  logLevel: 'warning',
  // Bundled CommonJS dependencies call require() for node built-ins; ESM has none of its own.
  banner: { js: "import { createRequire as __dvdiCreateRequire } from 'node:module';\nconst require = __dvdiCreateRequire(import.meta.url);" },
});

if (process.argv.includes('--report')) {
  for (const [file, output] of Object.entries(result.metafile.outputs)) {
    if (!file.endsWith('.js')) continue;
    process.stdout.write(`${String(output.bytes).padStart(9)}  ${file}${output.entryPoint ? `  (${output.entryPoint})` : ''}\n`);
  }
}
