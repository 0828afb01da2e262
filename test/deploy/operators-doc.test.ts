// docs/operators.md: every command in its shell blocks is either run here (rewritten to a
// temporary mount root and a loopback sidecar) or marked "# needs a real cluster".
import test from 'ava';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startNodeRig, type NodeRig, type Sidecar } from '../helpers/node-rig.js';
import { makeTempDir, unmountBelow } from '../helpers/mount-root.js';
import { MOUNT_ROOT, REPO, readText } from './deploy-checks.js';
import { rm } from 'node:fs/promises';

const execFileAsync = promisify(execFile);
const MARK = '# needs a real cluster';

/** Command lines of the ```sh / ```bash / ```console blocks, continuation lines joined. */
function shellCommands(markdown: string): string[] {
  const commands: string[] = [];
  for (const block of markdown.matchAll(/^```(?:sh|bash|console|shell)\n([\s\S]*?)^```/gm)) {
    const text = block[1]!.replace(/\\\n\s*/g, ' ');
    for (const raw of text.split('\n')) {
      const line = raw.replace(/^\$ /, '').trim();
      if (line !== '' && !line.startsWith('#')) commands.push(line);
    }
  }
  return commands;
}

/** The commands this file runs, as written in the doc. */
const TESTED = [
  'mkdir -p /var/lib/dvdi/volumes',
  'mount --bind /var/lib/dvdi/volumes /var/lib/dvdi/volumes',
  'mount --make-rshared /var/lib/dvdi/volumes',
  'findmnt -o TARGET,PROPAGATION /var/lib/dvdi/volumes',
  'promtool check rules deploy/prometheus/dvdi-rules.yml',
  'promtool test rules deploy/prometheus/dvdi-rules.test.yml',
  'node deploy/render-k8s.mjs --check',
  'curl -fsS http://127.0.0.1:9650/readyz',
  'curl -fsS http://127.0.0.1:9650/status',
  "curl -fsS http://127.0.0.1:9650/metrics | grep -E '^dvdi_(ready|volume_mounted|store_up)'",
];

const doc = readText(join(REPO, 'docs/operators.md'));
const commands = shellCommands(doc);

test('every command in docs/operators.md is tested here or marked as needing a real cluster', (t) => {
  t.true(commands.length >= TESTED.length);
  for (const command of commands) t.true(command.endsWith(MARK) || TESTED.includes(command), `untested, unmarked command: ${command}`);
  for (const command of TESTED) t.true(commands.includes(command), `tested command no longer in the doc: ${command}`);
  t.false(shellCommands('```sh\nrm -rf /tmp/x\n```\n').every((c) => c.endsWith(MARK) || TESTED.includes(c)));
});

let rig: NodeRig | undefined;
let sidecar: Sidecar | undefined;
let hostDir: string | undefined;

test.after.always(async () => {
  await rig?.stop();
  if (hostDir) {
    await unmountBelow(hostDir);
    await rm(hostDir, { recursive: true, force: true });
  }
});

async function sh(command: string): Promise<{ stdout: string }> {
  return execFileAsync('sh', ['-c', command], { cwd: REPO });
}

test.serial('the host preparation commands make an rshared mount root', async (t) => {
  hostDir = await makeTempDir('opsdoc');
  const root = join(hostDir, 'var-lib-dvdi-volumes');
  const prep = TESTED.filter((c) => c.includes(MOUNT_ROOT) && !c.startsWith('curl'));
  let findmnt = '';
  for (const command of prep) findmnt = (await sh(command.replaceAll(MOUNT_ROOT, root))).stdout;
  t.regex(findmnt, new RegExp(`${root}\\s+shared`));
});

test.serial('the rule and render checks pass as written', async (t) => {
  for (const command of TESTED.filter((c) => c.startsWith('promtool') || c.startsWith('node '))) await t.notThrowsAsync(sh(command), command);
});

test.serial('the sidecar checks answer as the doc says', async (t) => {
  rig = await startNodeRig();
  sidecar = await rig.sidecar({ DVDI_VOLUME_NAME: 'pgdata' });
  await sidecar.waitReady();
  const host = new URL(sidecar.url).host;
  const out: string[] = [];
  for (const command of TESTED.filter((c) => c.startsWith('curl'))) out.push((await sh(command.replaceAll('127.0.0.1:9650', host))).stdout);
  t.like(JSON.parse(out[0]!), { ready: true });
  t.regex(out[1]!, /"pgdata"/);
  t.regex(out[2]!, /^dvdi_ready 1$/m);
  t.regex(out[2]!, /^dvdi_volume_mounted\{volume="pgdata",driver="[^"]+"\} 1$/m);
  t.regex(out[2]!, /^dvdi_store_up\{backend="embedded"\} 1$/m);
});
