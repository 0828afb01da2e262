import test from 'ava';
import { createServer, type Server } from 'node:net';
import { mkdir, writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '../../helpers/mount-root.js';
import { DirectoryPluginResolver, candidatePaths, parsePluginDirs } from '../../../src/driver/plugin-discovery.js';
import { hostPathOf, parsePluginAddress, parsePluginJson, PluginSpecSyntaxError, type PluginEndpoint } from '../../../src/driver/plugin-endpoint.js';
import { DriverBadSpecError } from '../../../src/driver/driver-errors.js';

const servers: Server[] = [];
const dirs: string[] = [];

async function socketAt(path: string): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(path, resolve));
  servers.push(server);
}

async function fileAt(path: string, text: string): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, text);
}

async function threeDirs(): Promise<[string, string, string]> {
  const base = await makeTempDir('discovery');
  dirs.push(base);
  const list: [string, string, string] = [join(base, 'run'), join(base, 'etc'), join(base, 'lib')];
  for (const dir of list) await mkdir(dir);
  return list;
}

test.after.always(async () => {
  for (const server of servers) await new Promise<void>((resolve) => server.close(() => resolve()));
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

test('a socket beats a spec, which beats a json file, in the same directory', async (t) => {
  const [run] = await threeDirs();
  const resolver = new DirectoryPluginResolver([run]);
  await fileAt(join(run, 'p.json'), JSON.stringify({ Addr: 'tcp://127.0.0.1:7003' }));
  t.is((await resolver.resolve('p'))?.address, '127.0.0.1:7003');
  await fileAt(join(run, 'p.spec'), 'tcp://127.0.0.1:7002\n');
  t.is((await resolver.resolve('p'))?.address, '127.0.0.1:7002');
  await socketAt(join(run, 'p.sock'));
  t.deepEqual(await resolver.resolve('p'), { name: 'p', transport: 'unix', address: join(run, 'p.sock'), source: join(run, 'p.sock') });
});

test('sockets in any directory come before spec files in any directory (moby order)', async (t) => {
  const [run, etc, lib] = await threeDirs();
  await fileAt(join(run, 'p.spec'), 'tcp://127.0.0.1:7001');
  await socketAt(join(lib, 'p.sock'));
  t.is((await new DirectoryPluginResolver([run, etc, lib]).resolve('p'))?.address, join(lib, 'p.sock'));
});

test('directories are searched in list order; an earlier json beats a later spec', async (t) => {
  const [run, etc, lib] = await threeDirs();
  await fileAt(join(lib, 'p.spec'), 'tcp://127.0.0.1:7003');
  await fileAt(join(etc, 'p.json'), JSON.stringify({ Addr: 'tcp://127.0.0.1:7002' }));
  t.is((await new DirectoryPluginResolver([run, etc, lib]).resolve('p'))?.address, '127.0.0.1:7002');
  t.is((await new DirectoryPluginResolver([run, lib, etc]).resolve('p'))?.address, '127.0.0.1:7003');
});

test('subdirectory layout NAME/NAME.sock is found; the flat file wins over it', async (t) => {
  const [run] = await threeDirs();
  const resolver = new DirectoryPluginResolver([run]);
  await socketAt(join(run, 'p', 'p.sock'));
  t.is((await resolver.resolve('p'))?.address, join(run, 'p', 'p.sock'));
  await socketAt(join(run, 'p.sock'));
  t.is((await resolver.resolve('p'))?.address, join(run, 'p.sock'));
});

test('subdirectory spec and json files are found in order spec, sub/spec, json, sub/json', async (t) => {
  const [run] = await threeDirs();
  const resolver = new DirectoryPluginResolver([run]);
  await fileAt(join(run, 'p', 'p.json'), JSON.stringify({ Addr: 'tcp://127.0.0.1:7004' }));
  t.is((await resolver.resolve('p'))?.address, '127.0.0.1:7004');
  await fileAt(join(run, 'p.json'), JSON.stringify({ Addr: 'tcp://127.0.0.1:7003' }));
  t.is((await resolver.resolve('p'))?.address, '127.0.0.1:7003');
  await fileAt(join(run, 'p', 'p.spec'), 'tcp://127.0.0.1:7002');
  t.is((await resolver.resolve('p'))?.address, '127.0.0.1:7002');
});

test('a regular file named NAME.sock is not a socket and is skipped', async (t) => {
  const [run] = await threeDirs();
  await fileAt(join(run, 'p.sock'), 'not a socket');
  t.is(await new DirectoryPluginResolver([run]).resolve('p'), undefined);
  await fileAt(join(run, 'p.spec'), 'unix:///somewhere/p.sock');
  t.is((await new DirectoryPluginResolver([run]).resolve('p'))?.address, '/somewhere/p.sock');
});

test('not there, or not a plain name: undefined, and the description says what was searched', async (t) => {
  const [run, etc] = await threeDirs();
  const resolver = new DirectoryPluginResolver([run, etc]);
  t.is(await resolver.resolve('absent'), undefined);
  t.is(await resolver.resolve('rexray/ebs:latest'), undefined);
  t.is(await resolver.resolve('..'), undefined);
  t.regex(resolver.describe('absent'), /absent\.sock, absent\/absent\.sock, absent\.spec/);
  t.true(resolver.describe('absent').includes(run) && resolver.describe('absent').includes(etc));
  t.regex(resolver.describe('rexray/ebs:latest'), /managed plugins/);
});

test('a broken spec file is a DVDI_DRIVER_BAD_SPEC naming the file', async (t) => {
  const [run] = await threeDirs();
  await fileAt(join(run, 'p.spec'), '127.0.0.1:8080');
  const error = await t.throwsAsync(new DirectoryPluginResolver([run]).resolve('p'), { instanceOf: DriverBadSpecError });
  t.is(error.code, 'DVDI_DRIVER_BAD_SPEC');
  t.true(error.message.includes(join(run, 'p.spec')));
});

test('spec URL parsing: unix, tcp and http are plain, https is TLS without verification', (t) => {
  t.deepEqual(parsePluginAddress('p', 'unix:///run/p.sock\n', 's'), { name: 'p', transport: 'unix', address: '/run/p.sock', source: 's' });
  t.like(parsePluginAddress('p', 'tcp://127.0.0.1:8080', 's'), { transport: 'http', address: '127.0.0.1:8080', tls: undefined });
  t.like(parsePluginAddress('p', 'http://localhost:8080/ignored', 's'), { transport: 'http', address: 'localhost:8080' });
  t.like(parsePluginAddress('p', 'https://[::1]:8443', 's'), { transport: 'https', address: '[::1]:8443', tls: { insecureSkipVerify: true } });
  for (const bad of ['', 'no-scheme', 'ftp://x:1', 'unix://relative.sock', 'tcp://host-without-port']) {
    t.throws(() => parsePluginAddress('p', bad, 's'), { instanceOf: PluginSpecSyntaxError }, bad);
  }
});

test('json TLS rules: no CAFile forces InsecureSkipVerify; with a CAFile it is honoured', (t) => {
  const noCa = parsePluginJson('p', JSON.stringify({ Name: 'other', Addr: 'https://h:1', TLSConfig: { InsecureSkipVerify: false, CertFile: '/c', KeyFile: '/k' } }), 's');
  t.is(noCa.name, 'p', 'the file name names the plugin, not its Name field');
  t.deepEqual(noCa.tls, { insecureSkipVerify: true, caFile: undefined, certFile: '/c', keyFile: '/k' });
  const withCa = parsePluginJson('p', JSON.stringify({ Addr: 'https://h:1', TLSConfig: { InsecureSkipVerify: false, CAFile: '/ca' } }), 's');
  t.is(withCa.tls?.insecureSkipVerify, false);
  t.is(withCa.tls?.caFile, '/ca');
  const skip = parsePluginJson('p', JSON.stringify({ Addr: 'https://h:1', TLSConfig: { InsecureSkipVerify: true, CAFile: '/ca' } }), 's');
  t.is(skip.tls?.insecureSkipVerify, true);
  t.is(parsePluginJson('p', JSON.stringify({ Addr: 'tcp://h:1', TLSConfig: { CAFile: '/ca' } }), 's').tls, undefined, 'TLS only for https');
  for (const bad of ['not json', '[]', '{}', '{"Addr": 5}', '{"Addr":"https://h:1","TLSConfig":"x"}', '{"Addr":"https://h:1","TLSConfig":{"CAFile":3}}']) {
    t.throws(() => parsePluginJson('p', bad, 's'), { instanceOf: PluginSpecSyntaxError }, bad);
  }
});

test('plugin dirs parse like a PATH and candidates follow moby order', (t) => {
  t.deepEqual(parsePluginDirs('/a::/b:'), ['/a', '/b']);
  t.deepEqual(candidatePaths(['/a', '/b'], 'n'), {
    sockets: ['/a/n.sock', '/a/n/n.sock', '/b/n.sock', '/b/n/n.sock'],
    specs: ['/a/n.spec', '/a/n/n.spec', '/a/n.json', '/a/n/n.json', '/b/n.spec', '/b/n/n.spec', '/b/n.json', '/b/n/n.json'],
  });
});

test('v2 PropagatedMount: plugin paths map to the host; others to the rootfs; v1 unchanged', (t) => {
  const v1: PluginEndpoint = { name: 'p', transport: 'unix', address: '/x.sock', source: 's' };
  t.is(hostPathOf(v1, '/var/lib/p/v'), '/var/lib/p/v');
  const v2: PluginEndpoint = { ...v1, propagatedMount: { inPlugin: '/var/lib/rexray/', onHost: '/docker/plugins/abc/propagated-mount', rootfs: '/docker/plugins/abc/rootfs' } };
  t.is(hostPathOf(v2, '/var/lib/rexray/volumes/v/data'), '/docker/plugins/abc/propagated-mount/volumes/v/data');
  t.is(hostPathOf(v2, '/var/lib/rexray'), '/docker/plugins/abc/propagated-mount');
  t.is(hostPathOf(v2, '/var/lib/rexrayother/v'), '/docker/plugins/abc/rootfs/var/lib/rexrayother/v');
});
