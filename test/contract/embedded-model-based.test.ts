// Model-based tests (test/contract/refcount-store-model-based.ts) against the embedded file store:
// one fresh state directory per property run, every client of a run sharing it and one fake
// store clock that the suite steps (lease expiry without real waiting).
import test from 'ava';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../../src/common/clock.js';
import { systemClock } from '../../src/common/clock.js';
import { silentLogger } from '../../src/common/logger.js';
import { EmbeddedRefcountStore } from '../../src/refcount/embedded-refcount-store.js';
import type { RefcountStore } from '../../src/refcount/refcount-store.js';
import { makeTempDir } from '../helpers/mount-root.js';
import { runModelBasedSuite, type ModelWorld } from './refcount-store-model-based.js';

function steppedClock(): Clock & { step(ms: number): void } {
  let offset = 0;
  const base = Date.UTC(2030, 0, 1);
  return {
    now: () => base + offset,
    monotonic: () => offset,
    sleep: (ms, signal) => systemClock.sleep(ms, signal),
    step(ms) {
      offset += ms;
    },
  };
}

const dirs = new Set<string>();
test.after.always(async () => {
  await Promise.all([...dirs].map((d) => rm(d, { recursive: true, force: true })));
});

async function newWorld(): Promise<ModelWorld> {
  const dir = await makeTempDir('embedded-mbt');
  dirs.add(dir);
  const clock = steppedClock();
  const stores: RefcountStore[] = [];
  return {
    async open() {
      const store = new EmbeddedRefcountStore({ dir: join(dir, '.dvdi'), clock, logger: silentLogger() });
      stores.push(store);
      return store;
    },
    async pass(ms) {
      clock.step(ms);
    },
    async dispose() {
      await Promise.all(stores.map((s) => s.close()));
      await rm(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
  };
}

runModelBasedSuite(test, 'embedded', { newWorld, sequentialRuns: 100, interleavingRuns: 25 });
