import test from 'ava';
import { parseMountInfo } from '../../../src/common/mountinfo.js';
import {
  CAP_SYS_ADMIN,
  bindIdentityOf,
  bindsUnder,
  hasEffectiveCapability,
  saysPermissionDenied,
  topMountAt,
  visibleMountOf,
} from '../../../src/mounter/mount-table.js';

const R = '/var/lib/dvdi/volumes';
const table = parseMountInfo(
  [
    '22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
    `30 22 254:0 /var/lib/dvdi/volumes ${R} rw,relatime shared:5 - ext4 /dev/vda rw`,
    '31 22 0:40 / /var/lib/plugin/mnt rw - tmpfs tmpfs rw',
    '32 22 7:3 / /var/lib/plugin/loop/db rw - ext4 /dev/loop3 rw',
    `40 30 0:40 /vols/a ${R}/a rw,relatime shared:7 - tmpfs tmpfs rw`,
    // stacked three times, as in rexray#1130; listed out of order on purpose
    `43 42 7:3 /data ${R}/db ro,relatime - ext4 /dev/loop3 rw`,
    `41 30 7:3 /data ${R}/db rw,relatime - ext4 /dev/loop3 rw`,
    `42 41 7:3 /data ${R}/db rw,relatime - ext4 /dev/loop3 rw`,
    `44 30 0:41 / ${R}/.dvdi-probe-7-aa rw - tmpfs tmpfs rw`,
    `45 40 0:42 / ${R}/a/inner rw - tmpfs tmpfs rw`,
    `46 22 0:43 / ${R}-other/x rw - tmpfs tmpfs rw`,
  ].join('\n'),
);

test('topMountAt picks the uncovered mount of a stack regardless of order', (t) => {
  t.is(topMountAt(table, `${R}/db`)!.id, 43);
  t.is(topMountAt(table, R)!.id, 30);
  t.is(topMountAt(table, `${R}/none`), undefined);
});

test('visibleMountOf finds the deepest mount holding a path, not a prefix sibling', (t) => {
  t.is(visibleMountOf(table, '/var/lib/plugin/mnt/vols/a')!.id, 31);
  t.is(visibleMountOf(table, '/var/lib/plugin/mntx')!.id, 22);
  t.is(visibleMountOf(table, `${R}/db/x`)!.id, 43);
});

test('bindIdentityOf composes the mount root with the path inside the mount', (t) => {
  const tmpfs = visibleMountOf(table, '/var/lib/plugin/mnt/vols/a')!;
  t.deepEqual(bindIdentityOf(tmpfs, '/var/lib/plugin/mnt/vols/a'), { device: '0:40', root: '/vols/a' });
  t.deepEqual(bindIdentityOf(tmpfs, '/var/lib/plugin/mnt'), { device: '0:40', root: '/' });
  const bindOfSubdir = topMountAt(table, `${R}/a`)!;
  t.deepEqual(bindIdentityOf(bindOfSubdir, `${R}/a/x/y`), { device: '0:40', root: '/vols/a/x/y' });
});

test('bindsUnder lists direct volume children once, with stack depth and ro from the top', (t) => {
  const binds = bindsUnder(table, R);
  t.deepEqual(
    binds.map((b) => [b.name, b.device, b.rootInFs, b.readOnly, b.mountCount, b.source]),
    [
      ['a', '0:40', '/vols/a', false, 1, 'tmpfs'],
      ['db', '7:3', '/data', true, 3, '/dev/loop3'],
    ],
  );
});

test('hasEffectiveCapability reads bit 21 of CapEff', (t) => {
  t.true(hasEffectiveCapability('Name:\tnode\nCapInh:\t0\nCapEff:\t000001fffeffffff\n', CAP_SYS_ADMIN));
  t.false(hasEffectiveCapability('CapEff:\t000001fffedfffff\n', CAP_SYS_ADMIN));
  t.false(hasEffectiveCapability('CapEff:\t0000000000000000\n', CAP_SYS_ADMIN));
  t.true(hasEffectiveCapability('CapEff:\t0000000000200000\n', CAP_SYS_ADMIN));
  t.false(hasEffectiveCapability('no such line', CAP_SYS_ADMIN));
});

test('saysPermissionDenied recognises mount(8) EPERM texts only', (t) => {
  t.true(saysPermissionDenied('mount: /x: permission denied.\n       dmesg(1) may have more information after failed mount system call.'));
  t.true(saysPermissionDenied('mount: only root can use "--bind" option (effective UID is 1000)\nmount: must be superuser to use mount.'));
  t.true(saysPermissionDenied('umount: /x: Operation not permitted'));
  t.false(saysPermissionDenied('umount: /x: not mounted.'));
  t.false(saysPermissionDenied('mount: /x: special device /y does not exist.'));
});
