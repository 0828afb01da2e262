import test from 'ava';
import fc from 'fast-check';
import { PluginError } from '../../../src/plugin/plugin-errors.js';
import { DEFAULT_OPTIONS, imageSizeBytes, parseVolumeOptions } from '../../../src/plugin/volume-options.js';

test('no options, null options and empty options give the defaults', (t) => {
  t.deepEqual(parseVolumeOptions(undefined), DEFAULT_OPTIONS);
  t.deepEqual(parseVolumeOptions(null), DEFAULT_OPTIONS);
  t.deepEqual(parseVolumeOptions({}), { sizeGiB: 1, fsType: 'ext4', overwriteFs: false, preempt: false });
});

test('keys are case-insensitive, values are trimmed and normalised', (t) => {
  t.deepEqual(parseVolumeOptions({ SIZE: ' 0.05 ', newFsType: 'XFS', OverwriteFS: 'True', preEmpt: 'FALSE' }), {
    sizeGiB: 0.05,
    fsType: 'xfs',
    overwriteFs: true,
    preempt: false,
  });
  t.is(parseVolumeOptions({ size: '.5' }).sizeGiB, 0.5);
  t.is(parseVolumeOptions({ size: '3.' }).sizeGiB, 3);
});

test('unknown keys name the key and the accepted keys', (t) => {
  const error = t.throws(() => parseVolumeOptions({ volumeType: 'gp2' }), { instanceOf: PluginError });
  t.is(error.code, 'DVDI_PLUGIN_BAD_OPTION');
  t.is(error.message, 'unknown option "volumeType": accepted keys are size, newfstype, overwritefs, preempt (case-insensitive)');
});

test('bad values name the key, the value and the accepted form', (t) => {
  const cases: [Record<string, string>, string][] = [
    [{ size: '0' }, 'option size="0" is invalid: expected a positive number of GiB, decimals allowed (e.g. 1, 0.05)'],
    [{ size: '' }, 'option size="" is invalid'],
    [{ size: 'NaN' }, 'option size="NaN" is invalid'],
    [{ size: 'Infinity' }, 'option size="Infinity" is invalid'],
    [{ size: '0x10' }, 'option size="0x10" is invalid'],
    [{ size: '2048' }, 'option size="2048" is invalid'],
    [{ newfstype: 'ext3' }, 'option newfstype="ext3" is invalid: expected one of ext4|xfs'],
    [{ overwritefs: 'yes' }, 'option overwritefs="yes" is invalid: expected a boolean (true|false)'],
    [{ preempt: '1' }, 'option preempt="1" is invalid: expected a boolean (true|false)'],
  ];
  for (const [opts, message] of cases) {
    const error = t.throws(() => parseVolumeOptions(opts), { instanceOf: PluginError }, JSON.stringify(opts));
    t.true(error.message.startsWith(message), error.message);
  }
});

test('a key given twice in different case is refused rather than picked at random', (t) => {
  t.throws(() => parseVolumeOptions({ size: '1', SIZE: '2' }), { message: /option size given twice/ });
});

test('every accepted size becomes a whole-MiB image at least as large as asked', (t) => {
  fc.assert(
    fc.property(fc.double({ min: 0.000_001, max: 1024, noNaN: true }), (size) => {
      const parsed = parseVolumeOptions({ size: size.toFixed(6) }).sizeGiB; // toFixed: no exponent notation
      const bytes = imageSizeBytes(parsed);
      const asked = parsed * 1024 ** 3;
      return bytes % (1024 * 1024) === 0 && bytes >= asked && bytes - asked < 1024 * 1024;
    }),
  );
  t.is(imageSizeBytes(0.1), 103 * 1024 * 1024);
  t.is(imageSizeBytes(1), 1024 ** 3);
});
