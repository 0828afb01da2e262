// DVDI_READY_FILE at runtime, with a real sidecar, plugin and bind mount: the file appears only
// once every volume is attached, is gone as soon as a shutdown starts (before the detach is
// done), and is never written by a sidecar that fails to attach.
import test from 'ava';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { rigsFor } from '../../helpers/node-rig.js';
import { waitFor } from '../../helpers/cli.js';

const rig = rigsFor(test);

async function readyz(url: string): Promise<number | undefined> {
  try {
    return (await fetch(`${url}/readyz`)).status;
  } catch {
    return undefined;
  }
}

test('the ready file is created at ready and removed when the shutdown starts', async (t) => {
  const node = await rig({ faults: true });
  const readyFile = join(node.temp.dir, 'ready');
  // A slow Mount keeps the sidecar in its attach long enough to look at it there.
  await node.setFaults({ Mount: { delayMs: 2_000 } });
  const sidecar = await node.sidecar({ DVDI_VOLUME_NAME: 'readyvol', DVDI_TASK_ID: 'ready-task', DVDI_READY_FILE: readyFile });
  let sawNotReady = 0;
  await waitFor('the ready log line', async () => {
    if (sidecar.child.output.stderr.includes('"msg":"ready"')) return true;
    if ((await readyz(sidecar.url)) !== 200) {
      sawNotReady++;
      t.false(existsSync(readyFile), 'no ready file while /readyz is not 200');
    }
    return false;
  }, 60_000, 50);
  t.true(sawNotReady > 0, 'the sidecar was seen attaching (not ready) at least once');
  t.true(statSync(readyFile).isFile(), 'the ready file exists once the sidecar is ready');
  t.is(await readyz(sidecar.url), 200);
  t.true(await node.isMounted(join(node.root, 'readyvol')));

  // A slow Unmount keeps the sidecar in its detach: the file must be gone already.
  await node.setFaults({ Unmount: { delayMs: 3_000 } });
  sidecar.child.kill('SIGTERM');
  await waitFor('the ready file to go', () => !existsSync(readyFile), 10_000, 20);
  t.is(sidecar.child.exitCode, null, 'removed while the sidecar is still detaching');
  const result = await sidecar.child.finished;
  t.is(result.code, 0);
  t.false(existsSync(readyFile));
  t.false(await node.isMounted(join(node.root, 'readyvol')));
});

test('a sidecar that cannot attach never writes the ready file', async (t) => {
  const node = await rig();
  const readyFile = join(node.temp.dir, 'ready');
  const sidecar = await node.sidecar({ DVDI_VOLUME_NAME: 'absentvol', DVDI_VOLUME_EXPLICITCREATE: 'true', DVDI_TASK_ID: 'never-ready', DVDI_READY_FILE: readyFile });
  const result = await sidecar.child.finished;
  t.is(result.code, 3);
  t.false(existsSync(readyFile));
});
