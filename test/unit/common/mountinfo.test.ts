import test from 'ava';
import fc from 'fast-check';
import { mountContaining, parseMountInfo, parseMountInfoAt, propagationOf, unescapeMountPath } from '../../../src/common/mountinfo.js';

const sample = [
  '22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw',
  '36 22 0:30 /srv/a /var/lib/dvdi/volumes rw,relatime shared:12 master:3 - ext4 /dev/vda rw,errors=remount-ro',
  '37 36 7:0 / /var/lib/dvdi/volumes/pg\\040data ro,nosuid - ext4 /dev/loop0 rw',
  'garbage line without separator',
].join('\n');

test('parses fields, optional fields and escaped paths', (t) => {
  const entries = parseMountInfo(sample);
  t.is(entries.length, 3);
  const [root, bind, loop] = entries;
  t.is(root!.mountPoint, '/');
  t.deepEqual(bind!.optionalFields, ['shared:12', 'master:3']);
  t.is(bind!.root, '/srv/a');
  t.is(loop!.mountPoint, '/var/lib/dvdi/volumes/pg data');
  t.deepEqual(loop!.options, ['ro', 'nosuid']);
  t.is(loop!.fsType, 'ext4');
  t.is(loop!.source, '/dev/loop0');
  t.deepEqual(propagationOf(bind!), { shared: true, slave: true });
  t.deepEqual(propagationOf(loop!), { shared: false, slave: false });
});

test('mountContaining picks the deepest mount, not a prefix sibling', (t) => {
  const entries = parseMountInfo(sample);
  t.is(mountContaining(entries, '/var/lib/dvdi/volumes/x')!.id, 36);
  t.is(mountContaining(entries, '/var/lib/dvdi/volumes-other')!.id, 22);
  t.is(mountContaining(entries, '/var/lib/dvdi/volumes/pg data/sub')!.id, 37);
});

test('unescape handles backslash and newline', (t) => {
  t.is(unescapeMountPath('a\\134b\\012c'), 'a\\b\nc');
});

test('unescape answers a path without escapes as it is', (t) => {
  t.is(unescapeMountPath('/var/lib/dvdi/volumes/pg'), '/var/lib/dvdi/volumes/pg');
  t.is(unescapeMountPath('a\\101'), 'aA'); // not what the kernel writes, but decoded alike everywhere
});

test('parseMountInfoAt answers the entries at the given paths and nothing else', (t) => {
  t.deepEqual(
    parseMountInfoAt(sample, new Set(['/var/lib/dvdi/volumes/pg data', '/var/lib/dvdi'])).map((e) => e.id),
    [37],
  );
  t.deepEqual(parseMountInfoAt(sample, new Set()), []);
  t.deepEqual(parseMountInfoAt(sample, new Set(['/var/lib/dvdi/volumes'])), parseMountInfo(sample).filter((e) => e.id === 36));
  // a prefix, or a path that only a later field of the line holds, is no match
  t.deepEqual(parseMountInfoAt(sample, new Set(['/var/lib/dvdi/vol', '/dev/vda', 'ext4'])), []);
  // a stacked mount point answers every entry, in the table's order
  const stacked = `${sample}\n40 37 0:50 / /var/lib/dvdi/volumes/pg\\040data rw - tmpfs none rw\n`;
  t.deepEqual(parseMountInfoAt(stacked, new Set(['/var/lib/dvdi/volumes/pg data'])).map((e) => e.id), [37, 40]);
});

// What the kernel writes for a path (proc(5): space, tab, newline and backslash as octal).
const kernelEscape = (path: string): string => path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);

test('parseMountInfoAt agrees with parseMountInfo filtered, on kernel tables and on garbage', (t) => {
  const pathUnit = fc.constantFrom('a', 'b', '/', '-', '_', ' ', '\t', '\n', '\\', '0', '1', '7', '\u00e9', '\u{1F600}');
  const paths = fc.string({ unit: pathUnit, minLength: 1, maxLength: 12 }).map((p) => `/${p}`);
  const kernelLine = fc
    .record({ id: fc.nat(999), parent: fc.nat(999), root: paths, at: paths, optional: fc.constantFrom('', ' shared:1', ' master:2 shared:9', ' unbindable'), source: paths })
    .map((e) => ({ text: `${e.id} ${e.parent} 7:1 ${kernelEscape(e.root)} ${kernelEscape(e.at)} rw,nosuid${e.optional} - ext4 ${kernelEscape(e.source)} rw`, at: e.at }));
  const otherLine = fc.oneof(
    fc.string({ maxLength: 60 }),
    fc.string({ unit: fc.constantFrom('1', ' ', '-', '/', 'a', '\\', '0', '4', '\r', '\t'), maxLength: 40 }),
    paths.map((p) => `1 2 3:4 / ${p} rw - ext4 x rw`), // unescaped, as no kernel writes it
  );
  const tables = fc.array(fc.oneof({ weight: 3, arbitrary: kernelLine }, { weight: 1, arbitrary: otherLine.map((text) => ({ text, at: undefined })) }), { maxLength: 12 });
  let found = 0;
  let runs = 0;
  fc.assert(
    fc.property(tables, fc.array(paths, { maxLength: 3 }), fc.boolean(), (lines, extra, trailingNewline) => {
      const text = lines.map((l) => l.text).join('\n') + (trailingNewline ? '\n' : '');
      const wanted = new Set([...lines.flatMap((l) => (l.at !== undefined && l.text.length % 2 === 0 ? [l.at] : [])), ...extra]);
      const expected = parseMountInfo(text).filter((e) => wanted.has(e.mountPoint));
      const got = parseMountInfoAt(text, wanted);
      runs += 1;
      if (got.length > 0) found += 1;
      t.deepEqual(got, expected);
    }),
    { numRuns: 2000 },
  );
  // The property held on tables that did hold the paths asked for, not only on empty answers.
  t.true(found > runs / 4, `${found} of ${runs} runs found an entry`);
});
