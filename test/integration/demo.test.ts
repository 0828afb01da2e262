// The README's first command, `npm run demo`, end to end: plugin + sidecar on the embedded
// store, a real loop-backed ext4 volume, then a clean shutdown that leaves nothing behind.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer } from 'node:net';
import { REPO } from '../helpers/cli.js';
import { readMountInfo } from '../../src/common/mountinfo.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

test('npm run demo mounts the demo volume, then unmounts it and removes its files', async (t) => {
  const port = await freePort();
  const { stdout } = await promisify(execFile)('npm', ['run', '--silent', 'demo', '--', '--exit-after-ready', '--port', String(port)], {
    cwd: REPO,
    timeout: 150_000,
  });
  t.regex(stdout, /volume "demo" is mounted at (\S+)\/volumes\/demo \(ext4 on \/dev\/loop\d+\)/);
  t.regex(stdout, /wrote \S+hello\.txt: written by the dvdi-sidecar demo/);
  t.regex(stdout, new RegExp(`readiness  http://127\\.0\\.0\\.1:${port}/readyz`));
  t.regex(stdout, /sidecar exited with 0; \S+ is unmounted/);
  const dir = /removed (\S+)/.exec(stdout)?.[1];
  t.truthy(dir);
  const left = (await readMountInfo()).filter((m) => m.mountPoint.startsWith(dir!));
  t.deepEqual(left, []);
});
