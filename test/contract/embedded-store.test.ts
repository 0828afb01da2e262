// The RefcountStore contract against the embedded file store, on a fresh state directory per
// test and a fake store clock that the suite advances (lease expiry without real waiting).
import test from 'ava';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { EmbeddedRefcountStore } from '../../src/refcount/embedded-refcount-store.js';
import { silentLogger } from '../../src/common/logger.js';
import type { Clock } from '../../src/common/clock.js';
import { systemClock } from '../../src/common/clock.js';
import { makeTempDir } from '../helpers/mount-root.js';
import { runStoreContract } from './refcount-store-contract.js';

/** Store time that moves only when the suite says so: timing on a loaded machine cannot matter. */
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

runStoreContract(test, 'embedded', async () => {
  const dir = await makeTempDir('embedded-store');
  const clock = steppedClock();
  const store = new EmbeddedRefcountStore({ dir: join(dir, '.dvdi'), clock, logger: silentLogger() });
  return {
    store,
    advance: async (ms) => clock.step(ms),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

// The same suite without `advance`, as a Redis store will run it: real short leases and sleeps.
// Keeps the suite's real-time path honest before a second store depends on it.
runStoreContract(test, 'embedded (real clock)', async () => {
  const dir = await makeTempDir('embedded-store-rt');
  const store = new EmbeddedRefcountStore({ dir: join(dir, '.dvdi'), clock: systemClock, logger: silentLogger() });
  return { store, cleanup: () => rm(dir, { recursive: true, force: true }) };
});
