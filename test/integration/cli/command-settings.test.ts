// Every node command reads the sidecar's DVDI_* environment, and a flag overrides it: driver
// check finds the plugin through DVDI_PLUGIN_DIRS, status reads the store under --mount-root
// rather than DVDI_MOUNT_ROOT, and wait polls the sidecar at DVDI_HTTP_ADDR.
import test from 'ava';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { runDvdi } from '../../helpers/cli.js';
import { rigsFor } from '../../helpers/node-rig.js';

const rigs = rigsFor(test);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('DVDI_PLUGIN_DIRS=… dvdi driver check --driver NAME finds the plugin; --plugin-dirs overrides it', async (t) => {
  const node = await rigs();
  const found = await runDvdi(['driver', 'check', '--driver', node.driver], { DVDI_PLUGIN_DIRS: `${join(node.temp.dir, 'none')}:${node.pluginDirs}` });
  t.is(found.code, 0, `${found.stdout}\n${found.stderr}`);
  t.regex(found.stdout, new RegExp(`Discovery\\s+PASS\\s+\\d+\\s+unix://${node.pluginDirs}/${node.driver}.sock`));
  const overridden = await runDvdi(['driver', 'check', '--driver', node.driver, '--plugin-dirs', join(node.temp.dir, 'none'), '--retry-budget-ms', '300'], { DVDI_PLUGIN_DIRS: node.pluginDirs });
  t.is(overridden.code, 3, 'the flag wins: no plugin there');
  t.regex(overridden.stdout, /Discovery\s+FAIL/);
  const bad = await runDvdi(['driver', 'check', '--driver', node.driver], { DVDI_PLUGIN_DIRS: 'relative/dir' });
  t.is(bad.code, 2);
  t.regex(bad.stderr, /DVDI_PLUGIN_DIRS/);
});

test('dvdi status --mount-root overrides DVDI_MOUNT_ROOT; dvdi wait finds the sidecar at DVDI_HTTP_ADDR', async (t) => {
  const node = await rigs();
  const port = await freePort();
  const sidecar = await node.sidecar({ DVDI_VOLUME_NAME: 'envvol', DVDI_TASK_ID: 'env-task', DVDI_HTTP_ADDR: `127.0.0.1:${port}` });
  const waited = await runDvdi(['wait', '--timeout', '60', '--interval', '100'], { DVDI_HTTP_ADDR: `127.0.0.1:${port}` });
  t.is(waited.code, 0, waited.stderr);
  t.regex(waited.stderr, new RegExp(`http://127.0.0.1:${port}/readyz is ready`));
  const status = await runDvdi(['status', '--mount-root', node.root], { ...node.env, DVDI_MOUNT_ROOT: join(node.temp.dir, 'elsewhere') });
  t.is(status.code, 0, status.stderr);
  t.regex(status.stdout, /envvol {2}driver=/);
  t.is((await sidecar.stop()).code, 0);
});
