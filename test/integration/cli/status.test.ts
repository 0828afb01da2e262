import test from 'ava';
import { startNodeRig, type NodeRig } from '../../helpers/node-rig.js';
import { runDvdi } from '../../helpers/cli.js';

let node: NodeRig;
test.before(async () => {
  node = await startNodeRig();
});
test.after.always(async () => {
  await node?.stop();
});

test('dvdi status shows the volume, its node state and holders; --json the raw views', async (t) => {
  const sidecar = await node.sidecar({ DVDI_VOLUME_NAME: 'statusvol', DVDI_TASK_ID: 'status-task', DVDI_VOLUME_ACCESS: 'shared' });
  await sidecar.waitReady();
  const text = await runDvdi(['status'], node.env);
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, /store: embedded, 1 volume\(s\) in use/);
  t.regex(text.stdout, new RegExp(`statusvol  driver=${node.driver}  mode=shared  epoch=\\d+`));
  t.regex(text.stdout, /node node-a: mounted at \S+; holders: status-task \(lease \d+\.\ds\)/);
  const json = await runDvdi(['status', '--json'], node.env);
  const parsed = JSON.parse(json.stdout) as { backend: string; volumes: Array<{ name: string; holders: Array<{ task: string }> }> };
  t.is(parsed.backend, 'embedded');
  t.deepEqual(parsed.volumes.map((v) => [v.name, v.holders.map((h) => h.task)]), [['statusvol', ['status-task']]]);
  t.is((await sidecar.stop()).code, 0);
  const after = await runDvdi(['status'], node.env);
  t.regex(after.stdout, /0 volume\(s\) in use/);
  t.is((await runDvdi(['status', '--bogus'], node.env)).code, 2);
});
