// Model-based tests against the Redis store on a real 3 masters + 3 replicas Redis Cluster.
// Fewer runs than on one server: each run marks 16,384 slot markers and opens Cluster clients
// (seconds of CPU per hundred runs on a shared CI machine); the rules under test are the same.
import test from 'ava';
import { runRedisModelBasedSuite } from './redis-model-based-suite.js';

runRedisModelBasedSuite(test, 'cluster', { sequentialRuns: 40, interleavingRuns: 20 });
