import test from 'ava';
import { KeyedQueue } from '../../../src/plugin/keyed-queue.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

test('operations on one key run one at a time, in order, even when one fails', async (t) => {
  const queue = new KeyedQueue();
  const events: string[] = [];
  let active = 0;
  const op = (label: string, fail = false) => async () => {
    active++;
    t.is(active, 1, 'never two at once on one key');
    events.push(`start ${label}`);
    await tick();
    events.push(`end ${label}`);
    active--;
    if (fail) throw new Error(label);
    return label;
  };
  const results = await Promise.allSettled([queue.run('v', op('1')), queue.run('v', op('2', true)), queue.run('v', op('3'))]);
  t.deepEqual(events, ['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
  t.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
});

test('different keys run concurrently; idle waits for all', async (t) => {
  const queue = new KeyedQueue();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const slow = queue.run('a', () => gate.then(() => 'a'));
  t.is(await queue.run('b', () => Promise.resolve('b')), 'b', 'b did not wait for a');
  let idle = false;
  const idled = queue.idle().then(() => (idle = true));
  await tick();
  t.false(idle);
  release();
  t.is(await slow, 'a');
  await idled;
  t.true(idle);
});
