// The sidecar's HTTP face against a real sidecar process: /readyz 503 until the volume is
// mounted (a slow plugin Mount makes the window observable), then 200; /status and /metrics
// with no option value anywhere; 405 and 404.
import test from 'ava';
import { join } from 'node:path';
import { startNodeRig, type NodeRig } from '../../helpers/node-rig.js';
import { startMisbehavingPlugin } from '../../helpers/misbehaving-plugin.js';
import { waitFor } from '../../helpers/cli.js';

const SECRET = 'hunter2-s3cr3t';
let node: NodeRig;
test.before(async () => {
  node = await startNodeRig();
});
test.after.always(async () => {
  await node?.stop();
});

test('readyz, livez, status, metrics, 405, 404', async (t) => {
  const slow = await startMisbehavingPlugin({
    socketPath: join(node.pluginDirs, 'slowhttp.sock'),
    mountRoot: join(node.temp.dir, 'slow-mounts'),
    modes: { Mount: 'slow' },
    slowMs: 1500,
  });
  t.teardown(() => slow.close());
  const sidecar = await node.sidecar({
    DVDI_VOLUME_NAME: 'webvol',
    DVDI_VOLUME_DRIVER: 'slowhttp',
    DVDI_VOLUME_OPTS: `size=2,password=${SECRET}`,
    DVDI_VOLUME_CONTAINERPATH: '/var/lib/data',
    DVDI_TASK_ID: 'http-task',
  });
  await waitFor('the Mount to be in flight', () => slow.count('Mount') === 1);
  const notReady = await fetch(`${sidecar.url}/readyz`);
  t.is(notReady.status, 503);
  const notReadyBody = (await notReady.json()) as { ready: boolean; volumes: Array<{ state: string }> };
  t.false(notReadyBody.ready);
  t.is(notReadyBody.volumes[0]?.state, 'mounting');
  t.is((await fetch(`${sidecar.url}/livez`)).status, 200, 'alive while not ready');

  await sidecar.waitReady();
  const ready = (await (await fetch(`${sidecar.url}/readyz`)).json()) as { ready: boolean; volumes: Array<{ name: string; driver: string; state: string; hostPath: string }> };
  t.deepEqual(ready.volumes, [{ name: 'webvol', driver: 'slowhttp', state: 'ready', hostPath: join(node.root, 'webvol') }]);

  const statusText = await (await fetch(`${sidecar.url}/status`)).text();
  const status = JSON.parse(statusText) as { node: string; task: string; store: { backend: string }; volumes: Array<Record<string, unknown>> };
  t.is(status.node, 'node-a');
  t.is(status.task, 'http-task');
  t.is(status.store.backend, 'embedded');
  t.like(status.volumes[0], { name: 'webvol', state: 'ready', containerPath: '/var/lib/data', holders: { node: 1, cluster: 1 } });
  t.truthy(status.volumes[0]?.mountpoint);
  t.true(typeof status.volumes[0]?.leaseExpiresInMs === 'number');

  const metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
  t.regex(metrics, /^dvdi_ready 1$/m);
  t.regex(metrics, /^dvdi_volume_mounted\{volume="webvol",driver="slowhttp"\} 1$/m);
  t.regex(metrics, /^dvdi_store_up\{backend="embedded"\} 1$/m);
  t.regex(metrics, /^dvdi_driver_requests_total\{driver="slowhttp",method="Mount",outcome="ok"\} 1$/m);
  t.regex(metrics, /^dvdi_mount_duration_seconds_count\{driver="slowhttp",outcome="ok"\} 1$/m);
  t.regex(metrics, /^process_resident_memory_bytes /m);
  t.notRegex(metrics, /http-task/, 'no task id in metrics');

  for (const text of [statusText, metrics, sidecar.child.output.stderr]) t.false(text.includes(SECRET), 'an option value leaked');

  const post = await fetch(`${sidecar.url}/readyz`, { method: 'POST' });
  t.is(post.status, 405);
  t.is(post.headers.get('allow'), 'GET, HEAD');
  t.is((await fetch(`${sidecar.url}/nope`)).status, 404);

  const result = await sidecar.stop();
  t.is(result.code, 0);
  t.false(result.stderr.includes(SECRET));
});
