// A plugin described by a `.json` file with an https Addr and a TLSConfig, as Docker allows:
// the client verifies the plugin's certificate against TLSConfig.CAFile and refuses one it does
// not sign. node:https (and tls) load only on this path, so it is tested for real: a TLS server
// on loopback with a certificate made by openssl(1) for the test, answering the plugin protocol.
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { VolumeDriverClient } from '../../../src/driver/volume-driver-client.js';
import { makeTempDir } from '../../helpers/mount-root.js';

interface Tls {
  dir: string;
  cert: string;
  key: string;
  otherCert: string;
}

async function makeCertificates(): Promise<Tls> {
  const dir = await makeTempDir('plugin-https');
  const cert = join(dir, 'plugin.crt');
  const key = join(dir, 'plugin.key');
  const otherCert = join(dir, 'other.crt');
  const selfSigned = (crt: string, keyFile: string): void => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', crt], { stdio: 'ignore' });
  };
  selfSigned(cert, key);
  selfSigned(otherCert, join(dir, 'other.key'));
  return { dir, cert, key, otherCert };
}

/** The smallest volume plugin: Activate, and Get of one volume. */
async function startTlsPlugin(tls: Tls): Promise<{ server: Server; port: number; calls: string[] }> {
  const calls: string[] = [];
  const server = createServer({ cert: await readFile(tls.cert), key: await readFile(tls.key) }, (req, res) => {
    calls.push(req.url ?? '');
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      res.setHeader('Content-Type', 'application/vnd.docker.plugins.v1.2+json');
      if (req.url === '/Plugin.Activate') return res.end(JSON.stringify({ Implements: ['VolumeDriver'] }));
      if (req.url === '/VolumeDriver.Get') {
        const { Name } = JSON.parse(body) as { Name: string };
        return res.end(JSON.stringify(Name === 'tlsvol' ? { Volume: { Name, Mountpoint: '' }, Err: '' } : { Err: 'no such volume' }));
      }
      res.statusCode = 404;
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, calls };
}

/**
 * A TLS plugin on loopback, described to the client by `NAME.json` with an https Addr and
 * TLSConfig.CAFile = the plugin's own certificate or (`otherCa`) one that did not sign it.
 */
async function tlsPluginClient(t: ExecutionContext, name: string, ca: 'own' | 'otherCa'): Promise<{ client: VolumeDriverClient; calls: string[] }> {
  const tls = await makeCertificates();
  const plugin = await startTlsPlugin(tls);
  t.teardown(async () => {
    plugin.server.close();
    await rm(tls.dir, { recursive: true, force: true });
  });
  const plugins = join(tls.dir, `plugins-${name}`);
  await mkdir(plugins);
  const spec = { Name: name, Addr: `https://127.0.0.1:${plugin.port}`, TLSConfig: { CAFile: ca === 'own' ? tls.cert : tls.otherCert } };
  await writeFile(join(plugins, `${name}.json`), JSON.stringify(spec));
  return { client: new VolumeDriverClient({ driver: name, pluginDirs: [plugins], backoff: { budgetMs: 0 } }), calls: plugin.calls };
}

test('an https plugin whose certificate TLSConfig.CAFile signs: Activate and Get go through', async (t) => {
  const { client, calls } = await tlsPluginClient(t, 'tlsdriver', 'own');
  const volume = await client.get('tlsvol');
  t.is(volume?.Name, 'tlsvol');
  t.deepEqual(calls, ['/Plugin.Activate', '/VolumeDriver.Get']);
});

test('an https plugin whose certificate the CA file does not sign is refused, and nothing is sent', async (t) => {
  const { client, calls } = await tlsPluginClient(t, 'wrongca', 'otherCa');
  const error = await t.throwsAsync(client.get('tlsvol'));
  t.regex(error?.message ?? '', /https:\/\/127\.0\.0\.1:\d+/);
  t.regex(error?.message ?? '', /certificate|self.signed|UNABLE_TO_VERIFY|DEPTH_ZERO/i);
  t.deepEqual(calls, [], 'no request reached the plugin');
});
