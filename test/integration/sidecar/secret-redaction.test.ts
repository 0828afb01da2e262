// Finding 7 (secrets): no part of DVDI_REDIS_URL that may hold a secret — the user and password,
// any query value (ioredis honours `?password=`), the fragment — reaches a log line at any
// level, /status, /metrics, or an error on stderr; against a real redis-server with a password.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { runDvdi } from '../../helpers/cli.js';
import { rigsFor } from '../../helpers/node-rig.js';
import { startRedisServer, stopAllRedis, type RedisServer } from '../../helpers/redis-server.js';

const RIGHT = 'rightpass-Zq81';
// The user name is kept on purpose (an ACL identity the operator needs to see); a lone user
// part without password is a password by old convention and is covered by the unit tests.
const SECRETS = ['wrongpass-Xy7', 'querysecret-Kp2', 'sentinelsecret-Mm5', 'fragsecret-Hh3'];

const rig = rigsFor(test);
let redis: RedisServer;
test.before(async () => {
  redis = await startRedisServer();
  // Set after start: the helper's readiness PING has no password.
  execFileSync('redis-cli', ['-p', String(redis.port), 'CONFIG', 'SET', 'requirepass', RIGHT]);
});
test.after.always(() => stopAllRedis());

function leaks(text: string, secrets: readonly string[]): string[] {
  return secrets.filter((secret) => text.includes(secret) || text.includes(encodeURIComponent(secret)));
}

test('finding 7: a wrong password in the userinfo and secrets in the query: exit 4, nothing secret on stderr even at trace', async (t) => {
  const node = await rig();
  const url = `redis://aclUser:wrongpass-Xy7@127.0.0.1:${redis.port}/0?password=querysecret-Kp2&sentinelPassword=sentinelsecret-Mm5#fragsecret-Hh3`;
  const result = await runDvdi(['sidecar'], { ...node.env, DVDI_VOLUME_NAME: 'sec1', DVDI_REDIS_URL: url, DVDI_LOG_LEVEL: 'trace', DVDI_TASK_ID: 'sec-task' });
  t.is(result.code, 4, result.stderr.slice(-2000));
  t.regex(result.stderr, /redis/i, 'the failure is reported');
  t.deepEqual(leaks(result.stderr, SECRETS), []);
  t.regex(result.stderr, /<redacted>/, 'the URL is shown redacted, not dropped');
});

test('finding 7: the right password only in ?password=: ready, and /status, /metrics, logs at trace never show it', async (t) => {
  const node = await rig();
  const url = `redis://127.0.0.1:${redis.port}/0?password=${RIGHT}`;
  const sidecar = await node.sidecar({ DVDI_VOLUME_NAME: 'sec2', DVDI_REDIS_URL: url, DVDI_LOG_LEVEL: 'trace', DVDI_TASK_ID: 'sec-task2' });
  await sidecar.waitReady();
  const statusText = await (await fetch(`${sidecar.url}/status`)).text();
  const metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
  t.like(JSON.parse(statusText), { store: { backend: "redis", up: true } });
  const status = await runDvdi(['status', '--json'], { ...node.env, DVDI_REDIS_URL: url, DVDI_LOG_LEVEL: 'trace' });
  t.is(status.code, 0, status.stderr);
  const result = await sidecar.stop();
  t.is(result.code, 0, result.stderr.slice(-2000));
  t.deepEqual(leaks(result.stderr + statusText + metrics + status.stdout + status.stderr, [RIGHT]), []);
});

test('finding 7: dvdi status with a wrong password: an error without the password or the query', async (t) => {
  const node = await rig();
  const url = `redis://default:wrongpass-Xy7@127.0.0.1:${redis.port}/0?password=querysecret-Kp2`;
  const status = await runDvdi(['status'], { ...node.env, DVDI_REDIS_URL: url, DVDI_LOG_LEVEL: 'trace' });
  t.not(status.code, 0);
  t.deepEqual(leaks(status.stdout + status.stderr, SECRETS), []);
});

test('finding 7: an invalid DVDI_REDIS_URL is refused with exit 2 and its secrets redacted in the message', async (t) => {
  const node = await rig();
  const url = 'redis://aclUser:wrongpass-Xy7@127.0.0.1:6379/notadb?password=querysecret-Kp2#fragsecret-Hh3';
  const sidecar = await runDvdi(['sidecar'], { ...node.env, DVDI_VOLUME_NAME: 'sec3', DVDI_REDIS_URL: url, DVDI_LOG_LEVEL: 'trace' });
  t.is(sidecar.code, 2, sidecar.stderr);
  t.regex(sidecar.stderr, /DVDI_REDIS_URL/);
  t.deepEqual(leaks(sidecar.stderr, SECRETS), []);
});
