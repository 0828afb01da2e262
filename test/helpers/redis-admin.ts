// One private redis-server for a test file and an admin client on it, for tests that write
// records by hand (forged, malformed) and then run the code under test against them.
import type { TestFn } from 'ava';
import { Redis } from 'ioredis';
import { startRedisServer, stopAllRedis, type RedisServer } from './redis-server.js';

export interface AdminRedis {
  /** Set in the before hook. */
  readonly server: RedisServer;
  readonly admin: Redis;
}

/** Registers the before / after.always hooks; the fields are there once the before hook ran. */
export function useAdminRedis(test: TestFn): AdminRedis {
  const fixture = {} as { server: RedisServer; admin: Redis };
  test.before(async () => {
    fixture.server = await startRedisServer();
    fixture.admin = new Redis(fixture.server.url, { maxRetriesPerRequest: 1 });
  });
  test.after.always(async () => {
    fixture.admin?.disconnect();
    await stopAllRedis();
  });
  return fixture;
}
