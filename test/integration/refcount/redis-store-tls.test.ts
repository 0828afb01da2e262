// The Redis store over rediss:// (TLS, a throwaway self-signed certificate made here) with an
// ACL user and password taken from the URL, limited to the store's key prefix.
import test from 'ava';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { Redis } from 'ioredis';
import { silentLogger } from '../../../src/common/logger.js';
import { createRedisRefcountStore } from '../../../src/refcount/redis-refcount-store.js';
import { makeTempDir } from '../../helpers/mount-root.js';
import { freePort, startRedisServer, stopAllRedis } from '../../helpers/redis-server.js';

let dir: string | undefined;
test.after.always(async () => {
  await stopAllRedis();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('rediss:// with an ACL user from the URL: the store works; a wrong password fails typed', async (t) => {
  dir = await makeTempDir('redis-tls');
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { timeout: 30_000 });
  const tlsPort = await freePort();
  const server = await startRedisServer({
    extraArgs: ['--tls-port', String(tlsPort), '--tls-cert-file', cert, '--tls-key-file', key, '--tls-ca-cert-file', cert, '--tls-auth-clients', 'no'],
  });
  const admin = new Redis(server.url);
  t.teardown(() => admin.disconnect());
  // A least-privilege user: the store's keys only, and only the commands the store documents.
  await admin.call('ACL', 'SETUSER', 'dvdi', 'on', '>s3cret', 'resetkeys', '~tlsacl:*', '-@all', ...['evalsha', 'eval', 'get', 'set', 'time', 'sadd', 'srem', 'sscan', 'zscan', 'zadd', 'zscore', 'zrem', 'pexpire', 'exists', 'ping', 'info', 'quit'].map((c) => `+${c}`));
  await admin.set('tlsacl:alive', '0');
  const ca = await readFile(cert);

  const store = createRedisRefcountStore({ url: `rediss://dvdi:s3cret@127.0.0.1:${tlsPort}/0`, prefix: 'tlsacl', logger: silentLogger(), tls: { ca } });
  t.teardown(() => store.close());
  t.true(await store.waitReady(5000), 'connected over TLS as dvdi');
  t.true(await store.ping());
  const ref = { driver: 'drv', name: 'v1', node: 'A', token: 'a1' };
  t.like(await store.acquire({ ...ref, task: 't', mode: 'exclusive', preempt: false, ttlMs: 30_000 }), { kind: 'mount' });
  // Every other operation, through the same least-privilege user (the node index, the paged list).
  t.like(await store.renew(ref, 30_000), { kind: 'ok' });
  t.deepEqual(await store.reap('A'), []);
  t.deepEqual((await store.listNode('A')).map((v) => v.name), ['v1']);
  t.deepEqual((await store.list()).map((v) => v.name), ['v1']);
  t.is(await admin.call('ACL', 'WHOAMI'), 'default');
  t.true((await admin.exists('tlsacl:{drv/v1}:vol')) === 1, 'written under the prefix the ACL allows');

  const wrong = createRedisRefcountStore({ url: `rediss://dvdi:nope@127.0.0.1:${tlsPort}`, prefix: 'tlsacl', logger: silentLogger(), tls: { ca }, commandTimeoutMs: 500 });
  t.teardown(() => wrong.close());
  t.false(await wrong.waitReady(1500));
  const error = await t.throwsAsync(wrong.renew(ref, 30_000));
  t.is((error as { code?: string }).code, 'DVDI_STORE_UNAVAILABLE');
});
