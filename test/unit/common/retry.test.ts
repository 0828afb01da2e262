import test from 'ava';
import { backoffDelays, retry } from '../../../src/common/retry.js';
import type { Clock } from '../../../src/common/clock.js';

function fakeClock(): Clock & { slept: number[] } {
  const slept: number[] = [];
  return { slept, now: () => 0, monotonic: () => 0, sleep: async (ms) => { slept.push(ms); } };
}

test('Docker plugin backoff: 1, 2, 4, 8 s and never past 30 s in total', (t) => {
  t.deepEqual(backoffDelays({ initialMs: 1000, maxDelayMs: 16_000, budgetMs: 30_000 }), [1000, 2000, 4000, 8000]);
});

test('retries only what `retryable` accepts', async (t) => {
  const clock = fakeClock();
  let calls = 0;
  const error = await t.throwsAsync(
    retry({ clock, initialMs: 10, maxDelayMs: 100, budgetMs: 1000, retryable: (e) => (e as Error).message === 'conn', attempt: async () => {
      calls++;
      throw new Error(calls < 3 ? 'conn' : 'refused');
    } }),
  );
  t.is(error.message, 'refused');
  t.is(calls, 3);
  t.deepEqual(clock.slept, [10, 20]);
});

test('gives up when the budget is spent and throws the last error', async (t) => {
  const clock = fakeClock();
  let calls = 0;
  await t.throwsAsync(retry({ clock, initialMs: 10, maxDelayMs: 10, budgetMs: 30, retryable: () => true, attempt: async () => { calls++; throw new Error('conn'); } }), { message: 'conn' });
  t.is(calls, 4);
});
