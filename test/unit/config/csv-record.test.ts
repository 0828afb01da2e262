// CSV quoting of option items (config/csv-record.ts) as Go's encoding/csv reads a record, and
// DVDI_VOLUME_OPTS on top of it: quoted items keep their commas, unquoted input keeps its old
// meaning, broken quoting is refused naming the variable and the accepted form, values redacted.
import test from 'ava';
import { readCsvRecord } from '../../../src/config/csv-record.js';
import { ConfigError, loadVolumeRequests } from '../../../src/config/index.js';

test('quoted fields keep commas; "" is a quote; empty fields are kept', (t) => {
  t.deepEqual(readCsvRecord('"remote=:local,case_insensitive=false:/dir",type=x'), ['remote=:local,case_insensitive=false:/dir', 'type=x']);
  t.deepEqual(readCsvRecord('"a=say ""hi"", ok"'), ['a=say "hi", ok']);
  t.deepEqual(readCsvRecord('a,,b,'), ['a', '', 'b', '']);
  t.deepEqual(readCsvRecord(''), []);
  t.deepEqual(readCsvRecord('""'), ['']);
});

test('broken quoting is an error naming the field, never quoting the input', (t) => {
  for (const [raw, detail] of [
    ['"secret=abc', /field 1 opens a quote that is never closed/],
    ['a=1,"secret=abc"x', /field 2 has text after its closing quote/],
    ['a=1,b=x"secret', /field 2 has a " but does not start with one/],
  ] as const) {
    const result = readCsvRecord(raw);
    t.false(Array.isArray(result));
    const error = (result as { error: string }).error;
    t.regex(error, detail);
    t.false(error.includes('secret'), error);
  }
});

test('bareQuote literal keeps a quote inside an unquoted field as written', (t) => {
  t.deepEqual(readCsvRecord('a=x"y,b=2', { bareQuote: 'literal' }), ['a=x"y', 'b=2']);
  t.deepEqual(readCsvRecord('token="q"', { bareQuote: 'literal' }), ['token="q"']);
});

test('DVDI_VOLUME_OPTS: a quoted item holds commas; unquoted items mean what they always did', (t) => {
  const { specs } = loadVolumeRequests({ DVDI_VOLUME_NAME: 'v', DVDI_VOLUME_OPTS: '"remote=:local,case_insensitive=false:/dir",type=x, token=a"b=,empty=' });
  t.deepEqual(specs[0]?.opts, { remote: ':local,case_insensitive=false:/dir', type: 'x', token: 'a"b=', empty: '' });
});

test('DVDI_VOLUME_OPTS with broken quoting: exit 2 naming the variable and the CSV form, no value shown', (t) => {
  let caught: unknown;
  try {
    loadVolumeRequests({ DVDI_VOLUME_NAME: 'v', DVDI_VOLUME_OPTS: 'size=1,"password=hunter2,x' });
  } catch (error) {
    caught = error;
  }
  t.true(caught instanceof ConfigError);
  const error = caught as ConfigError;
  t.is(error.exitCode, 2);
  t.regex(error.message, /DVDI_VOLUME_OPTS="<redacted>" is not valid/);
  t.regex(error.message, /field 2 opens a quote that is never closed/);
  t.regex(error.message, /quoted whole, CSV style: "k=a,b"/);
  t.false(error.message.includes('hunter2'), error.message);
});

test('a quoted item is redacted whole when another item is wrong', (t) => {
  let message = '';
  try {
    loadVolumeRequests({ DVDI_VOLUME_NAME: 'v', DVDI_VOLUME_OPTS: '"remote=:s3,secret_access_key=hunter2:/b",bad key=x' });
  } catch (error) {
    message = (error as Error).message;
  }
  t.true(message.includes('DVDI_VOLUME_OPTS="\\"remote=<redacted>\\",<invalid key>=<redacted>" is not valid'), message);
  t.false(message.includes('hunter2'), message);
});
