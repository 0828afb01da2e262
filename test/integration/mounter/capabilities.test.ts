// preflight in a process without CAP_SYS_ADMIN (util-linux setpriv drops it from the bounding
// set, so the exec'd node never has it): the capability check, and the probe mount behind it.
import test from 'ava';
import { execFile } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { makeSharedRoot, type TempRoot } from '../../helpers/mount-root.js';

const execFileAsync = promisify(execFile);
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const fixture = fileURLToPath(new URL('./fixtures/preflight-cli.ts', import.meta.url));

let temp: TempRoot;
test.before(async () => {
  temp = await makeSharedRoot('mounter-caps');
});
test.after.always(async () => {
  await temp?.cleanup();
});

interface Outcome {
  ok: boolean;
  code?: string;
  exitCode?: number;
  message?: string;
  realRoot?: string;
}

async function preflightIn(prefix: readonly string[], args: readonly string[]): Promise<{ outcome: Outcome; status: number }> {
  const argv = [...prefix, process.execPath, '--import', 'tsx', fixture, ...args];
  try {
    const { stdout } = await execFileAsync(argv[0]!, argv.slice(1), { cwd: repo, timeout: 60_000 });
    return { outcome: JSON.parse(stdout) as Outcome, status: 0 };
  } catch (error) {
    const failed = error as { stdout?: string; code?: number; stderr?: string };
    if (!failed.stdout) throw error;
    return { outcome: JSON.parse(failed.stdout) as Outcome, status: failed.code ?? -1 };
  }
}

const dropSysAdmin = ['setpriv', '--inh-caps=-all', '--ambient-caps=-all', '--bounding-set=-sys_admin', '--'];

test.serial('with CAP_SYS_ADMIN the same fixture passes (the control)', async (t) => {
  const { outcome, status } = await preflightIn([], [temp.root]);
  t.is(status, 0);
  t.deepEqual(outcome, { ok: true, realRoot: temp.root });
});

test.serial('without CAP_SYS_ADMIN preflight names the capability and the fix', async (t) => {
  const { outcome, status } = await preflightIn(dropSysAdmin, [temp.root]);
  t.is(status, 3);
  t.is(outcome.code, 'DVDI_MOUNT_NOT_PERMITTED');
  t.is(outcome.exitCode, 3);
  t.regex(outcome.message!, /lacks CAP_SYS_ADMIN/);
  t.regex(outcome.message!, /--cap-add SYS_ADMIN/);
});

test.serial('when the capability check is fooled, the probe mount still reports EPERM as not permitted', async (t) => {
  // A status file claiming every capability: only the probe bind can tell now.
  const status = (await readFile('/proc/self/status', 'utf8')).replace(/^CapEff:.*$/m, 'CapEff:\t000001ffffffffff');
  const fakeStatus = join(temp.dir, 'status');
  await writeFile(fakeStatus, status);
  const { outcome, status: exit } = await preflightIn(dropSysAdmin, [temp.root, fakeStatus]);
  t.is(exit, 3);
  t.is(outcome.code, 'DVDI_MOUNT_NOT_PERMITTED');
  t.regex(outcome.message!, /mount\(2\) was refused/);
  t.regex(outcome.message!, /--cap-add SYS_ADMIN/);
  t.deepEqual(await readdir(temp.root), [], 'the probe directory is removed');
});
