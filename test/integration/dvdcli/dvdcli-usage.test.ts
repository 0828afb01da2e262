// Issue 8 acceptance: dvdcli usage errors (exit 2) and refused names (exit 1) leave stdout empty,
// print one plain stderr line, and touch neither the plugin nor the mount root.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { DVDCLI, runDvdi, type Finished } from '../../helpers/cli.js';
import { startNodeRig, type NodeRig } from '../../helpers/node-rig.js';
import { readMountInfo } from '../../../src/common/mountinfo.js';

let node: NodeRig;
test.before(async () => {
  node = await startNodeRig();
});
test.after.always(async () => {
  await node?.stop();
});

async function dvdcli(args: string[]): Promise<Finished> {
  return runDvdi(args, node.env, DVDCLI);
}

const BAD: Array<{ argv: (driver: string) => string[]; code: number; stderr: RegExp }> = [
  { argv: () => [], code: 0, stderr: /^$/ },
  { argv: () => ['frobnicate'], code: 2, stderr: /usage error: unknown command "frobnicate"/ },
  { argv: (d) => ['mount', `--volumedriver=${d}`], code: 2, stderr: /usage error: "mount" needs --volumename=NAME/ },
  { argv: (d) => ['mount', `--volumedriver=${d}`, '--volumename'], code: 2, stderr: /flag needs an argument: --volumename/ },
  { argv: (d) => ['mount', `--volumedriver=${d}`, '--volumename=v', '--bogus=1'], code: 2, stderr: /unknown flag: --bogus/ },
  { argv: (d) => ['unmount', `--volumedriver=${d}`, '--volumename=v', '--volumeopts=size=1'], code: 2, stderr: /unknown flag: --volumeopts \(for "unmount"\)/ },
  { argv: (d) => ['mount', `--volumedriver=${d}`, '--volumename=v', '--explicitcreate=maybe'], code: 2, stderr: /invalid argument "maybe" for --explicitcreate/ },
  { argv: (d) => ['mount', `--volumedriver=${d}`, '--volumename=v', '--explicitcreate', 'false'], code: 2, stderr: /unexpected argument\(s\) "false"/ },
  { argv: (d) => ['mount', `--volumedriver=${d}`, '--volumename=v', '--volumeopts=size'], code: 2, stderr: /--volumeopts item 1 has no "="/ },
  { argv: (d) => ['mount', `--volumedriver=${d}`, '--volumename=v', '-v'], code: 2, stderr: /unknown shorthand flag/ },
  { argv: (d) => ['mount', `--volumedriver=${d}`, '--volumename=../x'], code: 1, stderr: /--volumename="\.\.\/x" is not allowed/ },
  { argv: (d) => ['mount', `--volumedriver=${d}`, '--volumename=-rf'], code: 1, stderr: /--volumename="-rf" is not allowed/ },
  // pflag takes the next argument as the value even when it starts with "-".
  { argv: (d) => ['mount', `--volumedriver=${d}`, '--volumename', '-rf'], code: 1, stderr: /--volumename="-rf" is not allowed/ },
  { argv: (d) => ['mount', `--volumedriver=${d}`, '--volumename=a/b'], code: 1, stderr: /is not allowed/ },
  { argv: (d) => ['mount', `--volumedriver=${d}`, '--volumename=x;rm -rf /'], code: 1, stderr: /is not allowed/ },
  { argv: (d) => ['mount', `--volumedriver=${d}`, `--volumename=${'a'.repeat(129)}`], code: 1, stderr: /is not allowed/ },
  { argv: () => ['mount', '--volumedriver=../../etc/x', '--volumename=v'], code: 1, stderr: /--volumedriver="\.\.\/\.\.\/etc\/x" is not allowed/ },
  { argv: (d) => ['mount', `--volumedriver=${d}`, '--volumename=v', '--volumeopts=__proto__=x'], code: 1, stderr: /--volumeopts key "__proto__" is not allowed/ },
];

test('usage errors exit 2 and refused names exit 1, with empty stdout, a clear stderr line and nothing mounted', async (t) => {
  for (const bad of BAD) {
    const argv = bad.argv(node.driver);
    const result = await dvdcli(argv);
    const label = JSON.stringify(argv);
    t.is(result.code, bad.code, `${label}: ${result.stderr}`);
    if (argv.length === 0) {
      t.regex(result.stdout, /^Usage: dvdcli <command>/, label);
      continue;
    }
    t.is(result.stdout, '', label);
    t.regex(result.stderr, bad.stderr, label);
    t.regex(result.stderr, /^dvdcli: (usage error|error): /m, `${label}: one plain line a Mesos operator can read`);
  }
  t.is(node.journal().length, 0, 'no driver Mount for any of them');
  const below = (await readMountInfo()).filter((m) => m.mountPoint.startsWith(`${node.root}/`));
  t.deepEqual(below, []);
});

test('version prints the package version; --help prints usage', async (t) => {
  const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  const version = await dvdcli(['version']);
  t.is(version.code, 0);
  t.is(version.stdout, `${pkg.version}\n`);
  const help = await dvdcli(['mount', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /--explicitcreate/);
});
