// DVDI_HTTP_ADDR that cannot be listened on — a port another process holds, a host that is no
// address of this network namespace — is a configuration error: exit 2, one line naming the
// setting, its value, why and the accepted form; the sidecar stops before the store or the
// plugin is asked for anything, so nothing is mounted or held.
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import test from 'ava';
import { runDvdi } from '../../helpers/cli.js';
import { rigsFor } from '../../helpers/node-rig.js';

const rig = rigsFor(test);

function listening(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer((_q, s) => s.end('not the sidecar'));
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, port: typeof address === 'object' && address !== null ? address.port : 0 });
    });
  });
}

test('a DVDI_HTTP_ADDR port another process listens on: exit 2 naming the setting and the neighbour, nothing mounted', async (t) => {
  const node = await rig();
  const { server, port } = await listening();
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const result = await runDvdi(['sidecar'], { ...node.env, DVDI_VOLUME_NAME: 'inuse', DVDI_TASK_ID: 'inuse-task', DVDI_HTTP_ADDR: `127.0.0.1:${port}` });
  t.is(result.code, 2, result.stderr.slice(-2000));
  t.true(result.stderr.includes(`dvdi sidecar: invalid configuration: DVDI_HTTP_ADDR="127.0.0.1:${port}" cannot be listened on: the address is in use (another process in this network namespace listens there) (EADDRINUSE); expected a free host:port of this host`), result.stderr.slice(-2000));
  t.false(await node.isMounted(join(node.root, 'inuse')));
  t.deepEqual(node.journal(), [], 'the plugin was never asked to mount');
});

test('a DVDI_HTTP_ADDR host that is no address of this host: exit 2 naming the setting', async (t) => {
  const node = await rig();
  // 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this machine.
  const result = await runDvdi(['sidecar'], { ...node.env, DVDI_VOLUME_NAME: 'nohost', DVDI_TASK_ID: 'nohost-task', DVDI_HTTP_ADDR: '192.0.2.1:9650' });
  t.is(result.code, 2, result.stderr.slice(-2000));
  t.regex(result.stderr, /DVDI_HTTP_ADDR="192\.0\.2\.1:9650" cannot be listened on: the host is not an address of this network namespace \(EADDRNOTAVAIL\)/);
  t.false(await node.isMounted(join(node.root, 'nohost')));
});
