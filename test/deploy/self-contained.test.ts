// The repository stands on its own: no file reaches outside it (no shared/ beside the clone, no absolute
// path of the machine it was built on, no design documents kept elsewhere), no script or test
// kills processes by name, and every relative link in the Markdown docs names a file that is in
// the repository, and no code puts a fixed file name in the temp directory (everything there
// goes through mkdtemp). CHANGELOG.md is history and exempt.
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

// The suite, the scripts and the benches run as root, and anyone can create a name in /tmp in
// advance (a symlink to /etc/…, a FIFO that blocks): so root makes its own directory there with
// mkdtemp(3) (`mkdtemp(join(tmpdir(), 'prefix-'))`, `mktemp -d …XXXXXX`) and names files only
// inside it. These patterns find the other way, a literal name joined onto the temp directory.
// Code: join/resolve of tmpdir(), process.env.TMPDIR or '/tmp' with a string or template literal,
// or `${tmpdir()}/…`, unless that expression is mkdtemp's own argument.
const NOT_IN_MKDTEMP = String.raw`(?<!mkdtemp(?:Sync)?\(\s*(?:path\.)?)`;
const TEMP_BASE = String.raw`(?:(?:os\.)?tmpdir\(\)|process\.env\.TMPDIR\b[^,()]*|['"\`]/tmp/?['"\`])`;
const CODE_FIXED_TEMP_NAME = new RegExp(
  String.raw`${NOT_IN_MKDTEMP}\b(?:join|resolve)\(\s*${TEMP_BASE}\s*,\s*['"\`]|${NOT_IN_MKDTEMP}\`\$\{(?:os\.)?tmpdir\(\)\}/`,
);
// Shell: /tmp/NAME, $TMPDIR/NAME or ${TMPDIR:-/tmp}/NAME on a line that is not a comment and does
// not make the name with mktemp.
const SHELL_FIXED_TEMP_NAME = /(?:^|[\s"'=:(])(?:\/tmp|\$TMPDIR|\$\{TMPDIR[^}]*\})\/[\w.$-]/;
const CODE = /\.(ts|mts|mjs|cjs|js)$/;
const SHELL = /\.sh$|(^|\/)run$/;

/** The lines of `text` (a file named `file`) that put a fixed name in the temp directory. */
function fixedTempNames(file: string, text: string): string[] {
  const hits: string[] = [];
  text.split('\n').forEach((line, i) => {
    const code = CODE.test(file) && CODE_FIXED_TEMP_NAME.test(line);
    const shell = SHELL.test(file) && !/^\s*#/.test(line) && !/\bmktemp\b/.test(line) && SHELL_FIXED_TEMP_NAME.test(line);
    if (code || shell) hits.push(`${file}:${i + 1}: ${line.trim().slice(0, 140)}`);
  });
  return hits;
}

test('the temp-directory check tells a fixed name from a mkdtemp directory', (t) => {
  const flagged = [
    "const tracePath = join(tmpdir(), `dvdi-chaos-${topology}-${seed}.trace`);",
    "await writeFile(path.join(os.tmpdir(), 'dvdi.pid'), '1');",
    "const f = resolve(process.env.TMPDIR ?? '/tmp', 'x.json');",
    "const f = join('/tmp', 'dvdi.sock');",
    'const f = `${tmpdir()}/dvdi-plan.txt`;',
  ];
  const kept = [
    "const dir = await mkdtemp(join(tmpdir(), `dvdi-chaos-${seed}-`));",
    "return mkdtemp(join(tmpdir(), `dvdi-test-${prefix}-`));",
    "const dir = mkdtempSync(path.join(os.tmpdir(), 'dvdi-x-'));",
    "const tracePath = join(await mkdtemp(join(tmpdir(), `dvdi-chaos-${seed}-`)), 'chaos.trace');",
    "const f = join(dir, 'chaos.trace');",
  ];
  for (const line of flagged) t.is(fixedTempNames('x.ts', line).length, 1, line);
  for (const line of kept) t.deepEqual(fixedTempNames('x.ts', line), [], line);
  t.is(fixedTempNames('x.sh', 'echo $$ > /tmp/dvdi.pid').length, 1);
  t.is(fixedTempNames('x.sh', 'log="${TMPDIR:-/tmp}/dvdi-demo.log"').length, 1);
  t.is(fixedTempNames('.ci/run', 'cp out "$TMPDIR/out.txt"').length, 1);
  t.deepEqual(fixedTempNames('x.sh', 'dir=$(mktemp -d "${TMPDIR:-/tmp}/dvdi-demo-XXXXXX")'), []);
  t.deepEqual(fixedTempNames('x.sh', '# never /tmp/x: a name of our own'), []);
});

test('no script, test, bench or source file puts a fixed file name in the temp directory', (t) => {
  const hits = all.filter((f) => CODE.test(f) || SHELL.test(f)).flatMap((file) => fixedTempNames(file, readFileSync(join(REPO, file), 'utf8')));
  t.deepEqual(hits, [], 'make a directory with mkdtemp (test/helpers/mount-root.ts makeTempDir) and name the file inside it');
});
