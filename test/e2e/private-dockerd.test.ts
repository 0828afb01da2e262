// The e2e harness itself: a private dockerd starts on its own socket, runs a container from the
// locally imported busybox image, and leaves no process or mount behind when stopped.
import test from 'ava';
import { readMountInfo } from '../../src/common/mountinfo.js';
import { startDockerd, type PrivateDockerd } from '../helpers/dockerd.js';
import { ensureBusyboxImage } from '../helpers/images.js';

let dockerd: PrivateDockerd | undefined;

test.before(async (t) => {
  dockerd = await startDockerd({ log: (line) => t.log(line) });
});

test.after.always(async () => {
  await dockerd?.stop();
});

test.serial('busybox image runs a command in the private daemon', async (t) => {
  const d = dockerd!;
  const image = await ensureBusyboxImage(d.docker, (line) => t.log(line));
  // a second call finds the cached image
  t.is(await ensureBusyboxImage(d.docker), image);
  const r = await d.docker(['run', '--rm', '--network', 'none', image, 'sh', '-c', 'echo hi; ls /bin/cat']);
  t.is(r.stdout, 'hi\n/bin/cat');
  const info = await d.docker(['info', '--format', '{{.DockerRootDir}}']);
  t.is(info.stdout.trim(), d.dataRoot);
});

test.serial('a failing command reports its exit code and stderr', async (t) => {
  const d = dockerd!;
  const r = await d.docker(['run', '--rm', '--network', 'none', 'dvdi-test/busybox', 'sh', '-c', 'echo oops >&2; exit 3'], { reject: false });
  t.is(r.exitCode, 3);
  t.is(r.stderr.trim(), 'oops');
  await t.throwsAsync(d.docker(['image', 'inspect', 'dvdi-test/no-such-image']), { name: 'DockerCommandError' });
});

test.serial('stop() ends the daemon and leaves no mount under its exec-root', async (t) => {
  const d = dockerd!;
  await d.stop();
  await d.stop(); // already stopped is fine
  t.throws(() => process.kill(d.pid, 0));
  const left = (await readMountInfo()).filter((m) => m.mountPoint.startsWith(d.execRoot) || m.mountPoint.startsWith(`${d.dataRoot}/`));
  t.deepEqual(left, []);
});
