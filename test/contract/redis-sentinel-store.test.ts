// The store contract and the Redis-only index tests through Sentinel (primary + replica + three
// sentinels on loopback): the store finds the primary via the sentinels.
import test from 'ava';
import { runRedisStoreSuite } from './redis-store-suite.js';

runRedisStoreSuite(test, 'sentinel');
