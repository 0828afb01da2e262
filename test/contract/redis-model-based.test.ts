// Model-based tests against the Redis store on one private redis-server.
import test from 'ava';
import { runRedisModelBasedSuite } from './redis-model-based-suite.js';

runRedisModelBasedSuite(test, 'standalone', { sequentialRuns: 200, interleavingRuns: 100 });
