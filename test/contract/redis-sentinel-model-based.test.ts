// Model-based tests against the Redis store through Sentinel (primary + replica + three sentinels).
import test from 'ava';
import { runRedisModelBasedSuite } from './redis-model-based-suite.js';

runRedisModelBasedSuite(test, 'sentinel', { sequentialRuns: 60, interleavingRuns: 30 });
