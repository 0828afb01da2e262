// The chaos suite's per-node fault proxy against a real redis-server: pass, delay, blackhole
// (held bytes flow again when it heals, in order), and reset (open and new connections).
import test from 'ava';
import { Redis } from 'ioredis';
import { startRedisServer, stopAllRedis, type RedisServer } from '../helpers/redis-server.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

let redis: RedisServer;
const proxies: TcpProxy[] = [];
const clients: Redis[] = [];

test.before(async () => {
  redis = await startRedisServer();
});
test.after.always(async () => {
  for (const c of clients) c.disconnect();
  await Promise.all(proxies.map((p) => p.close()));
  await stopAllRedis();
});

async function setup(): Promise<{ proxy: TcpProxy; client: Redis }> {
  const proxy = await startTcpProxy(redis.port);
  proxies.push(proxy);
  const client = new Redis(proxy.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null, lazyConnect: true });
  client.on('error', () => undefined);
  clients.push(client);
  await client.connect();
  return { proxy, client };
}

test('pass and delay: commands go through; a delay holds each reply back, in order', async (t) => {
  const { proxy, client } = await setup();
  t.is(await client.ping(), 'PONG');
  proxy.setMode({ kind: 'delay', ms: 300 });
  const started = Date.now();
  const replies = await Promise.all([client.incr('k'), client.incr('k'), client.incr('k')]);
  t.deepEqual(replies, [1, 2, 3]);
  t.true(Date.now() - started >= 300, 'the delay was applied');
  proxy.setMode({ kind: 'pass' });
  t.is(await client.get('k'), '3');
});

test('blackhole: nothing arrives while it lasts; when it heals the held command runs late', async (t) => {
  const { proxy, client } = await setup();
  proxy.setMode({ kind: 'blackhole' });
  const late = client.set('late', 'yes');
  const early = await Promise.race([late.then(() => 'answered'), new Promise((r) => setTimeout(() => r('silent'), 400))]);
  t.is(early, 'silent');
  const direct = new Redis(redis.url);
  clients.push(direct);
  t.is(await direct.get('late'), null, 'the command has not reached Redis');
  proxy.setMode({ kind: 'pass' });
  t.is(await late, 'OK');
  t.is(await direct.get('late'), 'yes');
});

test('reset: open connections are reset and new ones refused until it heals', async (t) => {
  const { proxy, client } = await setup();
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  proxy.setMode({ kind: 'reset' });
  await closed;
  const other = new Redis(proxy.url, { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
  other.on('error', () => undefined);
  clients.push(other);
  await t.throwsAsync(async () => {
    await other.connect();
    await other.ping();
  });
  proxy.setMode({ kind: 'pass' });
  const again = new Redis(proxy.url);
  clients.push(again);
  t.is(await again.ping(), 'PONG');
  t.true(proxy.accepted() >= 3);
});
