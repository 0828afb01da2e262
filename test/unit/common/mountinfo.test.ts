import test from 'ava';
import { mountContaining, parseMountInfo, propagationOf, unescapeMountPath } from '../../../src/common/mountinfo.js';

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
