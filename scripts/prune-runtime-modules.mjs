// Leaves in node_modules/ only what the bundle loads from there at run time: the packages that
// scripts/bundle.mjs keeps external (listed in dist/runtime-modules.json) and their dependencies.
// Everything else is inside dist/ already. Run in the image's build stage after `npm prune`.
// Usage: node scripts/prune-runtime-modules.mjs [ROOT]   (ROOT holds dist/ and node_modules/)
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import process from 'node:process';

const root = process.argv[2] ?? '.';
const modules = join(root, 'node_modules');
const wanted = JSON.parse(readFileSync(join(root, 'dist', 'runtime-modules.json'), 'utf8'));
if (!Array.isArray(wanted) || !wanted.every((name) => typeof name === 'string')) throw new Error('dist/runtime-modules.json: expected an array of package names');

/** Node's lookup: the nearest node_modules/NAME at or above `fromDir`, up to ROOT. */
function locate(name, fromDir) {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === root || dirname(dir) === dir) return undefined;
  }
}

const keep = new Set();
const queue = wanted.map((name) => [name, root]);
while (queue.length > 0) {
  const [name, from] = queue.shift();
  const dir = locate(name, from);
  if (dir === undefined || keep.has(dir)) continue; // an optional dependency that is not installed
  keep.add(dir);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) queue.push([dep, dir]);
}

// Remove every top-level package (and scope member) that nothing kept lives in.
let removed = 0;
for (const entry of readdirSync(modules)) {
  if (entry.startsWith('.')) continue;
  const names = entry.startsWith('@') ? readdirSync(join(modules, entry)).map((n) => `${entry}/${n}`) : [entry];
  for (const name of names) {
    const dir = join(modules, name);
    if ([...keep].some((k) => k === dir || k.startsWith(`${dir}/`))) continue;
    rmSync(dir, { recursive: true, force: true });
    removed++;
  }
}
process.stdout.write(`runtime node_modules: kept ${keep.size} packages for ${wanted.join(', ')}, removed ${removed}\n`);
