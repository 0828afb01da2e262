import test from 'ava';
import fc from 'fast-check';
import { posix } from 'node:path';
import { MounterError } from '../../../src/mounter/mounter-error.js';
import { volumeNameOf, volumePathUnder } from '../../../src/mounter/path-safety.js';

const ROOT = '/var/lib/dvdi/volumes';

test('a valid name lands directly below the root', (t) => {
  t.is(volumePathUnder(ROOT, 'pg-data_1.x'), `${ROOT}/pg-data_1.x`);
  t.is(volumePathUnder(ROOT, 'a'.repeat(128)), `${ROOT}/${'a'.repeat(128)}`);
  t.is(volumePathUnder('/', 'v'), '/v');
});

for (const hostile of ['../x', 'a/b', '-rf', '', 'a'.repeat(129), 'a\nb', '.', '..', '.hidden', '/etc', 'a\0b', 'a b', 'ä']) {
  test(`refuses the name ${JSON.stringify(hostile).slice(0, 40)}`, (t) => {
    const error = t.throws(() => volumePathUnder(ROOT, hostile), { instanceOf: MounterError });
    t.is(error.code, 'DVDI_MOUNT_INVALID_NAME');
    t.is(error.exitCode, 3);
  });
}

test('refuses a root that is not absolute and normalised', (t) => {
  for (const root of ['relative/root', '/a/../b', '/a/b/']) {
    const error = t.throws(() => volumePathUnder(root, 'v'), { instanceOf: MounterError });
    t.is(error.code, 'DVDI_MOUNT_PATH_UNSAFE');
  }
});

test('property: any string either is refused or resolves to a direct child of the root', (t) => {
  const roots = fc.constantFrom(ROOT, '/', '/srv/x', '/tmp/dvdi-test/root');
  const names = fc.oneof(
    fc.string({ maxLength: 140 }),
    fc.string({ unit: fc.constantFrom('a', '.', '/', '-', '_', '\n', '\\', 'Z', '0'), maxLength: 20 }),
    fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/),
  );
  fc.assert(
    fc.property(roots, names, (root, name) => {
      let path: string;
      try {
        path = volumePathUnder(root, name);
      } catch (error) {
        return error instanceof MounterError && (error.code === 'DVDI_MOUNT_INVALID_NAME' || error.code === 'DVDI_MOUNT_PATH_UNSAFE');
      }
      return posix.dirname(path) === root && posix.basename(path) === name && posix.resolve(path) === path && volumeNameOf(root, path) === name;
    }),
  );
  t.pass();
});

test('volumeNameOf recognises only direct children with valid names', (t) => {
  t.is(volumeNameOf(ROOT, `${ROOT}/v1`), 'v1');
  t.is(volumeNameOf(ROOT, `${ROOT}/v1/sub`), undefined);
  t.is(volumeNameOf(ROOT, `${ROOT}/.dvdi-probe-1-ab`), undefined);
  t.is(volumeNameOf(ROOT, `${ROOT}-other/v1`), undefined);
});
