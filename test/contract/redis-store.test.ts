// The store contract and the Redis-only index tests on one private redis-server.
import test from 'ava';
import { runRedisStoreSuite } from './redis-store-suite.js';

runRedisStoreSuite(test, 'standalone');
