// One private redis-server per test file for the store suites, an admin connection to it, and
// the helpers both Redis runners need: a unique suite prefix, a store whose data has been there
// "for ever" (no quarantine unless a test asks for data loss), and deleting a prefix's keys.
import type { TestFn } from 'ava';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { silentLogger } from '../../src/common/logger.js';
import { createRedisRefcountStore, type RedisRefcountStore } from '../../src/refcount/redis-refcount-store.js';
import { startRedisServer, stopAllRedis, type RedisServer } from '../helpers/redis-server.js';

export interface RedisFixture {
  /** Key prefix shared by every store of this file (`<suite>:<random>` per store). */
  readonly suite: string;
  admin(): Redis;
  /** A fresh prefix under the suite, marked as holding its data for ever (no quarantine). */
  newPrefix(): Promise<string>;
  /** A connected store on `prefix`. */
  openStore(prefix: string): Promise<RedisRefcountStore>;
  /** What a restart without persistence does to a prefix's keys (marker and index included). */
  deleteMatching(pattern: string): Promise<void>;
}

export function useRedisServer(test: TestFn, suiteName: string): RedisFixture {
  const suite = `${suiteName}-${randomBytes(4).toString('hex')}`;
  let server: RedisServer | undefined;
  let admin: Redis | undefined;
  test.before(async () => {
    server = await startRedisServer();
    admin = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await admin.connect();
  });
  test.after.always(async () => {
    admin?.disconnect();
    await stopAllRedis();
  });
  const connected = (): Redis => {
    if (admin === undefined) throw new Error('the redis fixture is used before its before hook ran');
    return admin;
  };
  return {
    suite,
    admin: connected,
    async newPrefix() {
      const prefix = `${suite}:${randomBytes(4).toString('hex')}`;
      await connected().set(`${prefix}:alive`, '0');
      return prefix;
    },
    async openStore(prefix) {
      const store = createRedisRefcountStore({ url: server!.url, prefix, logger: silentLogger() });
      if (!(await store.waitReady(5000))) {
        await store.close();
        throw new Error('redis store did not connect');
      }
      return store;
    },
    async deleteMatching(pattern) {
      let cursor = '0';
      do {
        const [next, keys] = await connected().scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await connected().unlink(...keys);
      } while (cursor !== '0');
    },
  };
}
