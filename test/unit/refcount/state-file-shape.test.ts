import test from 'ava';
import { StoreStateCorruptError } from '../../../src/refcount/refcount-errors.js';
import { parseState } from '../../../src/refcount/state-file.js';

const holder = { token: 't', node: 'n1', task: 'a', role: 'holder', expiresAt: 1 };
const node = { node: 'n1', state: 'mounted', mountpoint: '/m', lastLiveAt: 1 };
const volume = { driver: 'd', name: 'v', mode: 'exclusive', epoch: 2, holders: [holder], nodes: [node] };
const text = (volumes: unknown, version: unknown = 1) => JSON.stringify({ version, volumes });

test('a valid state parses; unknown fields are dropped', (t) => {
  const state = parseState(text({ 'd/v': { ...volume, extra: 1 } }), '/s');
  t.deepEqual(state, { version: 1, volumes: { 'd/v': volume } });
});

test('every wrong shape is a StoreStateCorruptError naming the file', (t) => {
  const bad: unknown[] = [
    text({}, 2),
    text([]),
    text({ 'd/v': { ...volume, epoch: -1 } }),
    text({ 'd/v': { ...volume, epoch: 1.5 } }),
    text({ 'd/v': { ...volume, mode: 'open' } }),
    text({ 'd/v': { ...volume, holders: [{ ...holder, role: 'owner' }] } }),
    text({ 'd/v': { ...volume, holders: [{ ...holder, expiresAt: '1' }] } }),
    text({ 'd/v': { ...volume, nodes: [{ ...node, state: 'gone' }] } }),
    text({ 'd/v': { ...volume, nodes: [{ ...node, mountId: 5 }] } }),
    text({ 'd/v': { ...volume, name: undefined } }),
    'not json',
    'null',
  ];
  for (const input of bad) {
    const error = t.throws(() => parseState(input as string, '/x/state.json'), { instanceOf: StoreStateCorruptError }, String(input));
    t.regex(error.message, /\/x\/state\.json/);
  }
});
