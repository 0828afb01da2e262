import test from 'ava';
import fc from 'fast-check';
import { MountCounts, NO_ID, UNKNOWN_HOLDER } from '../../../src/plugin/mount-counts.js';

test('two IDs: the total reaches 0 only after both release', (t) => {
  const counts = new MountCounts();
  t.is(counts.add('v', 'a'), 1);
  t.is(counts.add('v', 'b'), 2);
  t.deepEqual(counts.release('v', 'a'), { released: true, total: 1 });
  t.deepEqual(counts.release('v', 'b'), { released: true, total: 0 });
  t.deepEqual(counts.names(), []);
});

test('a repeated ID counts again; an unknown ID releases nothing', (t) => {
  const counts = new MountCounts();
  counts.add('v', 'a');
  counts.add('v', 'a');
  t.deepEqual(counts.holders('v'), { a: 2 });
  t.deepEqual(counts.release('v', 'zzz'), { released: false, total: 2 });
  t.deepEqual(counts.release('other', 'a'), { released: false, total: 0 });
  t.deepEqual(counts.release('v', 'a'), { released: true, total: 1 });
  t.deepEqual(counts.release('v', 'a'), { released: true, total: 0 });
  t.deepEqual(counts.release('v', 'a'), { released: false, total: 0 });
});

test('a missing ID counts under the pseudo-ID', (t) => {
  const counts = new MountCounts();
  counts.add('v', undefined);
  counts.add('v', undefined);
  t.deepEqual(counts.holders('v'), { [NO_ID]: 2 });
  t.is(counts.release('v', undefined).total, 1);
});

test('reconcile: mounted without holders → unknown holder; holders without a mount → dropped', (t) => {
  const counts = new MountCounts();
  counts.add('kept', 'a');
  counts.add('stale', 'b');
  const result = counts.reconcile(new Set(['kept', 'adopted']));
  t.deepEqual(result, { adopted: ['adopted'], dropped: ['stale'] });
  t.deepEqual(counts.holders('kept'), { a: 1 });
  t.deepEqual(counts.holders('adopted'), { [UNKNOWN_HOLDER]: 1 });
  t.deepEqual(counts.release('adopted', 'anyone'), { released: false, total: 1 }, 'no Unmount releases the unknown holder');
});

test('round trip through JSON; malformed entries are skipped', (t) => {
  const counts = new MountCounts();
  counts.add('v', 'a');
  counts.add('v', 'a');
  counts.add('w', undefined);
  const copy = MountCounts.fromJSON(JSON.parse(JSON.stringify(counts.toJSON())));
  t.deepEqual(copy.toJSON(), counts.toJSON());
  const messy = MountCounts.fromJSON(
    { version: 1, volumes: { ok: { a: 1, b: 0, c: -1, d: 1.5, e: 'x' }, '../bad': { a: 1 }, empty: {}, notobj: 3 } },
    (name) => !name.includes('/'),
  );
  t.deepEqual(messy.toJSON(), { version: 1, volumes: { ok: { a: 1 } } });
  t.deepEqual(MountCounts.fromJSON(undefined).toJSON(), { version: 1, volumes: {} });
  t.deepEqual(MountCounts.fromJSON('garbage').toJSON(), { version: 1, volumes: {} });
});

test('property: the total equals mounts minus effective unmounts, never negative', (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.constantFrom('a', 'b', 'c', undefined)), { maxLength: 60 }), (ops) => {
      const counts = new MountCounts();
      const model = new Map<string | undefined, number>();
      for (const [mount, id] of ops) {
        if (mount) {
          counts.add('v', id);
          model.set(id, (model.get(id) ?? 0) + 1);
        } else {
          const held = model.get(id) ?? 0;
          const { released } = counts.release('v', id);
          if (released !== held > 0) return false;
          if (held > 0) model.set(id, held - 1);
        }
        const expected = [...model.values()].reduce((sum, n) => sum + n, 0);
        if (counts.total('v') !== expected) return false;
      }
      return true;
    }),
  );
  t.pass();
});
