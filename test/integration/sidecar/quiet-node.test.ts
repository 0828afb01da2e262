// What a sidecar on a healthy node leaves alone and says once: its sweeps (one before the attach,
// then one a second on this schedule) find nothing to remember and write no orphan memory, and
// no log line names a key twice (the mounter's lines once said "module":"mounter" twice).
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { waitFor } from '../../helpers/cli.js';
import { rigsFor } from '../../helpers/node-rig.js';

const rig = rigsFor(test);
const SWEEP_DONE = '"msg":"reconcile sweep done"';

test('a healthy node: sweeps write no orphan memory, and no log line repeats a key', async (t) => {
  const node = await rig();
  const sidecar = await node.sidecar({ DVDI_VOLUME_NAME: 'quietvol', DVDI_TASK_ID: 'quiet-task', DVDI_RECONCILE_CRON: '* * * * * *', DVDI_LOG_LEVEL: 'debug' });
  await sidecar.waitReady();
  const sweeps = (): number => sidecar.child.output.stderr.split('\n').filter((line) => line.includes(SWEEP_DONE)).length;
  await waitFor('three sweeps', () => sweeps() >= 3, 30_000, 50);
  await t.throwsAsync(access(join(node.root, '.dvdi', 'orphan-candidates.json')), { code: 'ENOENT' }, 'nothing to remember: not written');
  const stopped = await sidecar.stop();
  t.is(stopped.code, 0, stopped.stderr.slice(-2000));

  const lines = stopped.stderr.split('\n').filter((line) => line.startsWith('{'));
  t.true(lines.some((line) => line.includes('"module":"mounter"')), 'the mounter logged');
  // JSON.parse keeps the last of two equal keys: a line that re-serialises shorter had one twice.
  const repeated = lines.filter((line) => /^[\x20-\x7e]*$/.test(line) && JSON.stringify(JSON.parse(line)).length !== line.length);
  t.deepEqual(repeated, []);
  t.true(lines.length >= 5, `${lines.length} log lines checked`);
});
