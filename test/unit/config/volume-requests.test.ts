import test from 'ava';
import { ExitCode } from '../../../src/common/errors.js';
import { ConfigError, VOLUME_KEYS, loadVolumeRequests } from '../../../src/config/index.js';

type Env = Record<string, string | undefined>;

function requestError(env: Env, labels?: Record<string, string>): ConfigError {
  try {
    loadVolumeRequests(env, labels);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

function accepted(key: string): string {
  const row = VOLUME_KEYS.find((k) => k.key === key);
  if (!row) throw new Error(`no key ${key}`);
  return row.accepted;
}

test('no DVDI_VOLUME_* variable: no volume, no warning', (t) => {
  t.deepEqual(loadVolumeRequests({ PATH: '/bin', DVDI_NODE_ID: 'n' }), { specs: [], warnings: [] });
});

test('one volume with every default', (t) => {
  const { specs } = loadVolumeRequests({ DVDI_VOLUME_NAME: 'pgdata' });
  t.is(specs.length, 1);
  t.like(specs[0], {
    slot: 0,
    name: 'pgdata',
    driver: 'rexray',
    opts: {},
    explicitCreate: false,
    containerPath: undefined,
    access: 'exclusive',
    preempt: false,
    readOnly: false,
  });
  t.deepEqual(specs[0]?.sources.NAME, { source: 'env', variable: 'DVDI_VOLUME_NAME' });
  t.deepEqual(specs[0]?.sources.DRIVER, { source: 'default', variable: 'DVDI_VOLUME_DRIVER' });
});

test('every slot: "" and 1-9, ordered by slot, each key paired by its digit', (t) => {
  const env: Env = { DVDI_VOLUME_NAME: 'v0' };
  for (let n = 1; n <= 9; n++) {
    env[`DVDI_VOLUME_NAME${n}`] = `v${n}`;
    env[`DVDI_VOLUME_CONTAINERPATH${n}`] = `/mnt/v${n}`;
  }
  const { specs } = loadVolumeRequests(env);
  t.deepEqual(specs.map((s) => [s.slot, s.name, s.containerPath]), [
    [0, 'v0', undefined],
    ...Array.from({ length: 9 }, (_, i) => [i + 1, `v${i + 1}`, `/mnt/v${i + 1}`]),
  ]);
});

test('slot 0 spelled "0" is the unsuffixed slot; equal values in both spellings are fine', (t) => {
  t.is(loadVolumeRequests({ DVDI_VOLUME_NAME0: 'a' }).specs[0]?.slot, 0);
  const { specs } = loadVolumeRequests({ DVDI_VOLUME_NAME: 'a', DVDI_VOLUME_NAME0: 'a', DVDI_VOLUME_ACCESS0: 'shared' });
  t.is(specs.length, 1);
  t.is(specs[0]?.access, 'shared');
});

test('"" and "0" with different values is an error naming both', (t) => {
  const error = requestError({ DVDI_VOLUME_NAME: 'a', DVDI_VOLUME_NAME0: 'b' });
  t.is(error.problems.length, 1);
  t.regex(error.message, /DVDI_VOLUME_NAME="a" and DVDI_VOLUME_NAME0="b" set the same slot/);
});

test('every key in its accepted forms', (t) => {
  const { specs } = loadVolumeRequests({
    DVDI_VOLUME_NAME3: 'web.Data-1_x',
    DVDI_VOLUME_DRIVER3: 'rexray/ebs:latest',
    DVDI_VOLUME_OPTS3: 'size=5,volumetype=gp3',
    DVDI_VOLUME_EXPLICITCREATE3: ' TRUE ',
    DVDI_VOLUME_CONTAINERPATH3: '/var//lib/data/',
    DVDI_VOLUME_ACCESS3: 'Shared',
    DVDI_VOLUME_PREEMPT3: 'yes',
    DVDI_VOLUME_READONLY3: '1',
  });
  t.like(specs[0], {
    slot: 3,
    name: 'web.Data-1_x',
    driver: 'rexray/ebs:latest',
    opts: { size: '5', volumetype: 'gp3' },
    explicitCreate: true,
    containerPath: '/var/lib/data',
    access: 'shared',
    preempt: true,
    readOnly: true,
  });
});

test('booleans: true/false, 1/0, yes/no in any case, trimmed', (t) => {
  for (const [raw, value] of [['true', true], ['False', false], [' yes ', true], ['NO', false], ['1', true], ['0', false]] as const) {
    t.is(loadVolumeRequests({ DVDI_VOLUME_NAME: 'v', DVDI_VOLUME_PREEMPT: raw }).specs[0]?.preempt, value, raw);
  }
  const error = requestError({ DVDI_VOLUME_NAME: 'v', DVDI_VOLUME_READONLY: 'ro' });
  t.is(error.message, `invalid configuration: DVDI_VOLUME_READONLY="ro" is not valid: expected ${accepted('READONLY')}`);
});

test('driver names: legacy plugins and managed plugin references', (t) => {
  for (const driver of ['rexray', 'pxd', 'rexray/ebs', 'rexray/ebs:latest', 'vendor/plugin:0.9.1-rc_1', 'registry.local:5000/vendor/plugin:1.2']) {
    t.is(loadVolumeRequests({ DVDI_VOLUME_NAME: 'v', DVDI_VOLUME_DRIVER: driver }).specs[0]?.driver, driver);
  }
  for (const driver of ['RexRay', '../rexray', 'rexray/../../x', 'rexray//ebs', 'rexray/', '-x', 'rex ray', 'a:b:c']) {
    const message = requestError({ DVDI_VOLUME_NAME: 'v', DVDI_VOLUME_DRIVER: driver }).message;
    t.true(message.includes(`DVDI_VOLUME_DRIVER=${JSON.stringify(driver)} is not valid`), message);
    t.true(message.endsWith(`expected ${accepted('DRIVER')}`), message);
  }
});

test('OPTS: values may contain "=", empty items are ignored, blanks around keys are dropped', (t) => {
  const { specs } = loadVolumeRequests({ DVDI_VOLUME_NAME: 'v', DVDI_VOLUME_OPTS: ',size=10,, token=a=b==, note= spaced value ,empty=,' });
  t.deepEqual(specs[0]?.opts, { size: '10', token: 'a=b==', note: ' spaced value ', empty: '' });
  t.true(Object.isFrozen(specs[0]?.opts));
});

test('OPTS errors name the item by position and never the value', (t) => {
  const cases: Array<[string, RegExp, string]> = [
    ['size=1,s3cr3t', /item 2 has no "="/, 'size=<redacted>,<redacted>'],
    ['=s3cr3t', /item 1 has an empty key/, '<invalid key>=<redacted>'],
    ['bad key=s3cr3t', /item 1 has an invalid key/, '<invalid key>=<redacted>'],
    ['size=1,size=s3cr3t', /key size is given more than once/, 'size=<redacted>,size=<redacted>'],
  ];
  for (const [raw, detail, shown] of cases) {
    const message = requestError({ DVDI_VOLUME_NAME: 'v', DVDI_VOLUME_OPTS: raw }).message;
    t.regex(message, detail);
    t.true(message.includes(`DVDI_VOLUME_OPTS=${JSON.stringify(shown)} is not valid`), message);
    t.false(message.includes('s3cr3t'), message);
  }
});

test('CONTAINERPATH must be absolute, without ".." and control characters', (t) => {
  for (const [path, detail] of [['data', /not absolute/], ['/a/../b', /"\.\." segment/], ['/a\nb', /control character/]] as const) {
    const message = requestError({ DVDI_VOLUME_NAME: 'v', DVDI_VOLUME_CONTAINERPATH1: path, DVDI_VOLUME_NAME1: 'w' }).message;
    // Shown through the one external-text sanitizer: the newline becomes a space.
    t.true(message.includes(`DVDI_VOLUME_CONTAINERPATH1=${JSON.stringify(path.replace('\n', ' '))} is not valid`), message);
    t.regex(message, detail);
  }
});

test('ACCESS: the error of the contract, word for word', (t) => {
  const error = requestError({ DVDI_VOLUME_NAME1: 'v', DVDI_VOLUME_ACCESS1: 'exclusiv' });
  t.is(error.code, 'DVDI_CONFIG_INVALID');
  t.is(error.exitCode, ExitCode.Config);
  t.is(error.problems[0]?.message, 'DVDI_VOLUME_ACCESS1="exclusiv" is not valid: expected exclusive or shared');
  t.is(error.problems[0]?.variable, 'DVDI_VOLUME_ACCESS1');
});

test('names follow the contract pattern', (t) => {
  t.notThrows(() => loadVolumeRequests({ DVDI_VOLUME_NAME: `a${'b'.repeat(127)}` }));
  for (const name of [`a${'b'.repeat(128)}`, '-lead', 'with space', 'sl/ash', 'ünï']) {
    const message = requestError({ DVDI_VOLUME_NAME: name }).message;
    t.true(message.includes(`DVDI_VOLUME_NAME=${JSON.stringify(name)} is not valid`), message);
    t.true(message.endsWith(`expected ${accepted('NAME')}`), message);
  }
});

test('precedence per key: explicit env > Marathon label variables > Docker labels', (t) => {
  const labels = {
    DVDI_VOLUME_NAME1: 'from-docker',
    DVDI_VOLUME_DRIVER1: 'docker-driver',
    DVDI_VOLUME_ACCESS1: 'shared',
    DVDI_VOLUME_OPTS1: 'a=1',
    'com.example.other': 'ignored',
  };
  const env = {
    MARATHON_APP_LABEL_DVDI_VOLUME_NAME1: 'from-marathon',
    MARATHON_APP_LABEL_DVDI_VOLUME_DRIVER1: 'marathon-driver',
    MARATHON_APP_LABEL_DVDI_VOLUME_PREEMPT1: 'true',
    DVDI_VOLUME_NAME1: 'from-env',
  };
  const spec = loadVolumeRequests(env, labels).specs[0];
  t.like(spec, { name: 'from-env', driver: 'marathon-driver', access: 'shared', preempt: true, opts: { a: '1' } });
  t.deepEqual(spec?.sources, {
    NAME: { source: 'env', variable: 'DVDI_VOLUME_NAME1' },
    DRIVER: { source: 'marathon-label', variable: 'MARATHON_APP_LABEL_DVDI_VOLUME_DRIVER1' },
    OPTS: { source: 'docker-label', variable: 'DVDI_VOLUME_OPTS1' },
    EXPLICITCREATE: { source: 'default', variable: 'DVDI_VOLUME_EXPLICITCREATE1' },
    CONTAINERPATH: { source: 'default', variable: 'DVDI_VOLUME_CONTAINERPATH1' },
    ACCESS: { source: 'docker-label', variable: 'DVDI_VOLUME_ACCESS1' },
    PREEMPT: { source: 'marathon-label', variable: 'MARATHON_APP_LABEL_DVDI_VOLUME_PREEMPT1' },
    READONLY: { source: 'default', variable: 'DVDI_VOLUME_READONLY1' },
  });
  t.is(loadVolumeRequests({ MARATHON_APP_LABEL_DVDI_VOLUME_NAME1: 'm' }, labels).specs[0]?.name, 'm');
  t.is(loadVolumeRequests({}, labels).specs[0]?.name, 'from-docker');
});

test('a key from one source can complete a slot named by another', (t) => {
  const { specs } = loadVolumeRequests({ DVDI_VOLUME_READONLY2: 'true' }, { DVDI_VOLUME_NAME2: 'v' });
  t.like(specs[0], { slot: 2, name: 'v', readOnly: true });
});

test('errors in labels name the label as the operator wrote it', (t) => {
  t.regex(requestError({}, { DVDI_VOLUME_NAME: 'v', DVDI_VOLUME_ACCESS: 'both' }).message, /Docker label DVDI_VOLUME_ACCESS="both" is not valid/);
  t.regex(requestError({ MARATHON_APP_LABEL_DVDI_VOLUME_NAME: 'v', MARATHON_APP_LABEL_DVDI_VOLUME_PREEMPT: 'sure' }).message, /MARATHON_APP_LABEL_DVDI_VOLUME_PREEMPT="sure" is not valid/);
});

test('a slot that sets keys but no NAME is an error (a slot-number typo)', (t) => {
  const error = requestError({ DVDI_VOLUME_NAME1: 'v', DVDI_VOLUME_OPTS2: 'size=9', DVDI_VOLUME_ACCESS2: 'shared' });
  t.is(error.problems.length, 1);
  t.is(error.problems[0]?.message, 'DVDI_VOLUME_OPTS2, DVDI_VOLUME_ACCESS2 are set but DVDI_VOLUME_NAME2 is not: expected a DVDI_VOLUME_NAME2 for the slot (a typo in the slot number?)');
});

test('blank values count as unset: a blank NAME leaves its slot unused', (t) => {
  t.deepEqual(loadVolumeRequests({ DVDI_VOLUME_NAME: '', DVDI_VOLUME_NAME1: 'v', DVDI_VOLUME_DRIVER1: ' ' }).specs.map((s) => [s.slot, s.driver]), [[1, 'rexray']]);
});

test('the same volume twice in one task is an error naming both slots', (t) => {
  const error = requestError({ DVDI_VOLUME_NAME: 'data', DVDI_VOLUME_NAME4: 'logs' }, { DVDI_VOLUME_NAME7: 'data' });
  t.is(error.problems.length, 1);
  t.is(
    error.problems[0]?.message,
    'DVDI_VOLUME_NAME="data" and Docker label DVDI_VOLUME_NAME7="data" request the same volume name twice (driver rexray); both would appear at DVDI_MOUNT_ROOT/data: expected each volume name once per task',
  );
});

test('finding 9: the same volume name in two slots with different drivers is refused (exit 2), naming both variables and drivers', (t) => {
  const error = requestError({ DVDI_VOLUME_NAME: 'data', DVDI_VOLUME_NAME1: 'data', DVDI_VOLUME_DRIVER1: 'pxd' });
  t.is(error.exitCode, 2);
  t.is(error.problems.length, 1);
  t.regex(error.message, /DVDI_VOLUME_NAME="data" and DVDI_VOLUME_NAME1="data" request the same volume name twice \(drivers rexray and pxd\)/);
});

test('names differing only in case are two volumes (two paths on Linux)', (t) => {
  t.is(loadVolumeRequests({ DVDI_VOLUME_NAME: 'data', DVDI_VOLUME_NAME1: 'Data' }).specs.length, 2);
});

test('a duplicate is found even when the slot has another bad key', (t) => {
  const error = requestError({ DVDI_VOLUME_NAME: 'data', DVDI_VOLUME_NAME1: 'data', DVDI_VOLUME_ACCESS1: 'x' });
  t.is(error.problems.length, 2);
  t.regex(error.message, /request the same volume/);
});

test('unknown DVDI_VOLUME_* names are errors naming the variable and the accepted names', (t) => {
  for (const name of ['DVDI_VOLUME_NAMES', 'DVDI_VOLUME_NAME10', 'DVDI_VOLUME_OPTS11', 'DVDI_VOLUME_SIZE', 'DVDI_VOLUME_name', 'DVDI_VOLUME_', 'DVDI_VOLUME_NAME_1']) {
    const error = requestError({ DVDI_VOLUME_NAME: 'v', [name]: 'x' });
    t.is(error.problems.length, 1, name);
    t.true(error.message.includes(`${name} is not a known variable`), error.message);
    t.true(error.message.includes('DVDI_VOLUME_<KEY>[n] with KEY one of NAME, DRIVER, OPTS, EXPLICITCREATE, CONTAINERPATH, ACCESS, PREEMPT, READONLY, DVDCLI'), error.message);
  }
  t.regex(requestError({ DVDI_VOLUME_NAME10: 'x' }).message, /at most 10 volume slots/);
  t.regex(requestError({ MARATHON_APP_LABEL_DVDI_VOLUME_NAMES: 'x' }).message, /MARATHON_APP_LABEL_DVDI_VOLUME_NAMES is not a known variable/);
  t.regex(requestError({}, { DVDI_VOLUME_DRIVERS: 'x' }).message, /Docker label DVDI_VOLUME_DRIVERS is not a known variable/);
  t.regex(requestError({}, { dvdi_volume_name: 'x' }).message, /Docker label dvdi_volume_name is not a known label: label names are case-sensitive/);
});

test('an unknown variable never shows its value (it may be a mistyped OPTS)', (t) => {
  t.false(requestError({ DVDI_VOLUME_OPT: 'password=s3cr3t' }).message.includes('s3cr3t'));
});

test('DVDI_VOLUME_DVDCLI[n] is accepted and ignored with a warning', (t) => {
  const { specs, warnings } = loadVolumeRequests({ DVDI_VOLUME_NAME: 'v', DVDI_VOLUME_DVDCLI: '/usr/bin/dvdcli', DVDI_VOLUME_DVDCLI5: '/opt/dvdcli' });
  t.is(specs.length, 1);
  t.deepEqual(warnings, [
    'DVDI_VOLUME_DVDCLI is ignored: dvdi-sidecar talks to the volume plugin itself and needs no dvdcli',
    'DVDI_VOLUME_DVDCLI5 is ignored: dvdi-sidecar talks to the volume plugin itself and needs no dvdcli',
  ]);
});

test('every problem is reported at once', (t) => {
  const error = requestError(
    {
      DVDI_VOLUME_NAME: 'ok',
      DVDI_VOLUME_NAME0: 'other',
      DVDI_VOLUME_NAME1: 'bad name',
      DVDI_VOLUME_ACCESS2: 'shared',
      DVDI_VOLUME_NAME3: 'x',
      DVDI_VOLUME_ACCESS3: 'exclusiv',
      DVDI_VOLUME_PREEMPT3: 'maybe',
      DVDI_VOLUME_NAMES: 'typo',
      DVDI_VOLUME_NAME4: 'dup',
      DVDI_VOLUME_NAME5: 'dup',
    },
    { DVDI_VOLUME_OPTS6: 'junk' },
  );
  const variables = error.problems.map((p) => p.variable).sort();
  t.deepEqual(variables, [
    'DVDI_VOLUME_ACCESS2',
    'DVDI_VOLUME_ACCESS3',
    'DVDI_VOLUME_NAME',
    'DVDI_VOLUME_NAME1',
    'DVDI_VOLUME_NAME4',
    'DVDI_VOLUME_NAMES',
    'DVDI_VOLUME_OPTS6',
    'DVDI_VOLUME_PREEMPT3',
  ]);
  t.regex(error.message, /^invalid configuration \(8 problems\):/);
});

test('specs are frozen', (t) => {
  const result = loadVolumeRequests({ DVDI_VOLUME_NAME: 'v', DVDI_VOLUME_OPTS: 'a=1' });
  t.true(Object.isFrozen(result));
  t.true(Object.isFrozen(result.specs));
  t.true(Object.isFrozen(result.specs[0]));
  t.true(Object.isFrozen(result.specs[0]?.sources));
  t.true(Object.isFrozen(result.specs[0]?.sources.NAME));
});

test('ConfigError.combine joins the problems of both loads', (t) => {
  const a = requestError({ DVDI_VOLUME_NAMES: 'x' });
  const b = requestError({ DVDI_VOLUME_NAME: '-' });
  const both = ConfigError.combine([a, b]);
  t.is(both.problems.length, 2);
  t.is(both.exitCode, ExitCode.Config);
});
