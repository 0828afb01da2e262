// The private-dockerd helper after a crash: a test process that died with its daemon still
// running (and a container in it) leaves the next startDockerd the PIDs it recorded, and only
// those are stopped: dockerd, the containerd it supervises, and what ran in them. Runs on a
// data root, lock and record of its own (DVDI_TEST_DOCKER_HOME), so no other test file's
// startDockerd can be the one that reaps the crashed daemon.
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { readMountInfo } from '../../src/common/mountinfo.js';
import { REPO } from '../helpers/cli.js';
import { unmountBelow } from '../helpers/mount-root.js';

await mkdir(join(REPO, '.test-tmp'), { recursive: true });
const home = await mkdtemp(join(REPO, '.test-tmp', 'reaper-'));
process.env.DVDI_TEST_DOCKER_HOME = home;
const { startDockerd, STATE_PATH } = await import('../helpers/dockerd.js');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let next: Awaited<ReturnType<typeof startDockerd>> | undefined;
test.after.always(async () => {
  await next?.stop();
  await unmountBelow(home);
  await rm(home, { recursive: true, force: true });
});

test.serial('a daemon a crashed test left running is stopped by the next start, by the PIDs it recorded', async (t) => {
  t.timeout(240_000);
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(REPO, 'test/e2e/fixtures/crashing-dockerd-user.ts')], {
    cwd: REPO,
    timeout: 180_000,
    env: { ...process.env, DVDI_TEST_DOCKER_HOME: home },
  });
  const crashed = JSON.parse(stdout.trim().split('\n').pop()!) as { dockerd: number; execRoot: string; containerPid: number };
  const state = JSON.parse(await readFile(STATE_PATH, 'utf8')) as { dockerd?: { pid: number }; containerd?: { pid: number } };
  t.is(state.dockerd?.pid, crashed.dockerd);
  const containerd = state.containerd?.pid;
  t.true(typeof containerd === 'number', 'the containerd child was recorded by PID');
  t.true(alive(crashed.dockerd) && alive(containerd!) && alive(crashed.containerPid), 'the crash left dockerd, containerd and the container running');

  next = await startDockerd({ log: (line) => t.log(line) });
  t.false(alive(crashed.dockerd), 'the leftover dockerd is gone');
  t.false(alive(containerd!), 'its containerd is gone');
  t.false(alive(crashed.containerPid), 'the container it ran is gone');
  t.deepEqual((await readMountInfo()).filter((m) => m.mountPoint.startsWith(crashed.execRoot)), []);
  t.false(existsSync(dirname(crashed.execRoot)), 'its temp dir is removed');
  t.not(next.pid, crashed.dockerd);
});
