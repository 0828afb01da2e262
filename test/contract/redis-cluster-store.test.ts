// The store contract and the Redis-only index tests on a real Redis Cluster: 3 masters + 3
// replicas of redis-server --cluster-enabled yes on loopback (test/helpers/redis-server.ts).
import test from 'ava';
import { runRedisStoreSuite } from './redis-store-suite.js';

runRedisStoreSuite(test, 'cluster');
