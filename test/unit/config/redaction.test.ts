// Secrets never leave config/: option values and the Redis password appear in no error message,
// no error context and no describeConfig output, whatever their content.
import test from 'ava';
import fc from 'fast-check';
import { describeError } from '../../../src/common/errors.js';
import { ConfigError, describeConfig, loadSidecarConfig, loadVolumeRequests, type VolumeSpec } from '../../../src/config/index.js';
import { urlSecrets } from '../../../src/config/secret-redaction.js';

const RUNS = { numRuns: 300 };

// A marker prefix no message text contains, so a hit is a leak and not a coincidence; the rest
// is arbitrary text (commas, "=", quotes, control characters, non-ASCII).
const secret = fc.string({ maxLength: 24, unit: 'binary' }).map((s) => `Zq7${s}`);
const optionKey = fc.stringMatching(/^[a-z][a-z0-9_.-]{0,10}$/);
const options = fc.uniqueArray(fc.tuple(optionKey, secret), { minLength: 1, maxLength: 5, selector: ([k]) => k });

function leaks(text: string, secrets: readonly string[]): string | undefined {
  // Messages quote values with JSON.stringify, so look for the escaped form too.
  return secrets.find((s) => text.includes(s) || text.includes(JSON.stringify(s).slice(1, -1)));
}

function everythingSaid(error: unknown): string {
  if (!(error instanceof ConfigError)) throw error;
  return [error.message, describeError(error), JSON.stringify(error.context), JSON.stringify(error.problems)].join('\n');
}

function failure(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return everythingSaid(error);
  }
  throw new Error('expected a ConfigError');
}

const optsText = (pairs: ReadonlyArray<readonly [string, string]>): string => pairs.map(([k, v]) => `${k}=${v}`).join(',');

test('option values never appear in an error, whichever key of the slot is wrong', (t) => {
  fc.assert(
    fc.property(options, fc.integer({ min: 0, max: 9 }), fc.constantFrom('env', 'marathon', 'docker'), (pairs, slot, where) => {
      const n = slot === 0 ? '' : String(slot);
      const vars: Record<string, string> = { [`DVDI_VOLUME_NAME${n}`]: 'vol', [`DVDI_VOLUME_OPTS${n}`]: optsText(pairs), [`DVDI_VOLUME_ACCESS${n}`]: 'exclusiv' };
      const prefixed = (prefix: string) => Object.fromEntries(Object.entries(vars).map(([k, v]) => [prefix + k, v]));
      const text =
        where === 'env' ? failure(() => loadVolumeRequests(vars)) : where === 'marathon' ? failure(() => loadVolumeRequests(prefixed('MARATHON_APP_LABEL_'))) : failure(() => loadVolumeRequests({}, vars));
      return leaks(text, pairs.map(([, v]) => v)) === undefined;
    }),
    RUNS,
  );
  t.pass();
});

test('option values never appear when OPTS itself is malformed', (t) => {
  fc.assert(
    fc.property(options, secret, fc.constantFrom('no-eq', 'bad-key', 'dup'), (pairs, extra, kind) => {
      const first = pairs[0] as [string, string];
      const bad = kind === 'no-eq' ? extra : kind === 'bad-key' ? `bad key=${extra}` : `${first[0]}=${extra}`;
      const text = failure(() => loadVolumeRequests({ DVDI_VOLUME_NAME: 'vol', DVDI_VOLUME_OPTS: `${optsText(pairs)},${bad}` }));
      const values = [...pairs.map(([, v]) => v), extra];
      return leaks(text, values) === undefined;
    }),
    RUNS,
  );
  t.pass();
});

test('option values never appear when the two spellings of slot 0 disagree', (t) => {
  fc.assert(
    fc.property(options, options, (a, b) => {
      fc.pre(optsText(a) !== optsText(b));
      const text = failure(() => loadVolumeRequests({ DVDI_VOLUME_NAME: 'vol', DVDI_VOLUME_OPTS: optsText(a), DVDI_VOLUME_OPTS0: optsText(b) }));
      return leaks(text, [...a, ...b].map(([, v]) => v)) === undefined;
    }),
    RUNS,
  );
  t.pass();
});

test('option values never appear in describeConfig, and the keys do', (t) => {
  const config = loadSidecarConfig({}, 'node-a');
  fc.assert(
    fc.property(options, (pairs) => {
      const values = pairs.map(([, v]) => v).filter((v) => !v.includes(','));
      fc.pre(values.length === pairs.length);
      const { specs } = loadVolumeRequests({ DVDI_VOLUME_NAME: 'vol', DVDI_VOLUME_OPTS: optsText(pairs) });
      const described = JSON.stringify(describeConfig(config, specs));
      const spec = specs[0] as VolumeSpec;
      return (
        leaks(described, values) === undefined &&
        Object.keys(spec.opts).every((k) => described.includes(`"${k}":"<redacted>"`)) &&
        Object.keys(spec.opts).length === pairs.length
      );
    }),
    RUNS,
  );
  t.pass();
});

const password = fc.stringMatching(/^[A-Za-z0-9._~-]{1,20}$/).map((s) => `Pw9${s}`);

test('the redis password never appears in describeConfig or in an error', (t) => {
  fc.assert(
    fc.property(password, fc.option(fc.stringMatching(/^[a-z]{1,8}$/), { nil: undefined }), (pw, user) => {
      const userinfo = `${user ?? ''}:${pw}@`;
      const config = loadSidecarConfig({ DVDI_REDIS_URL: `redis://${userinfo}redis.local:6379/1` }, 'node-a');
      const described = JSON.stringify(describeConfig(config, []));
      const errorText = failure(() => loadSidecarConfig({ DVDI_REDIS_URL: `redis://${userinfo}redis.local:6379/x`, DVDI_LOG_LEVEL: 'loud' }, 'node-a'));
      return (
        config.redisUrl?.includes(pw) === true &&
        !described.includes(pw) &&
        described.includes(`redis://${user ?? ''}:<redacted>@redis.local:6379/1`) &&
        !errorText.includes(pw)
      );
    }),
    RUNS,
  );
  t.pass();
});

test('a password in a URL that does not even parse is still hidden', (t) => {
  for (const url of ['redis://:Pw9x@', 'redis//u:Pw9x@h', 'u:Pw9x@h:1', 'redis://u:Pw9x@h:99999']) {
    const text = failure(() => loadSidecarConfig({ DVDI_REDIS_URL: url }, 'node-a'));
    t.false(text.includes('Pw9x'), text);
  }
});

const queryValue = fc.stringMatching(/^[A-Za-z0-9._~-]{1,20}$/).map((s) => `Qv8${s}`);

test('finding 7: every query value and the fragment of DVDI_REDIS_URL are redacted, keys kept', (t) => {
  fc.assert(
    fc.property(password, queryValue, queryValue, (pw, q1, frag) => {
      const url = `redis://acl:${pw}@redis.local:6379/1?password=${q1}&sentinelPassword=${q1}x#${frag}`;
      const config = loadSidecarConfig({ DVDI_REDIS_URL: url }, 'node-a');
      const described = JSON.stringify(describeConfig(config, []));
      const errorText = failure(() => loadSidecarConfig({ DVDI_REDIS_URL: url.replace('/1?', '/x?') }, 'node-a'));
      return (
        config.redisUrl === url &&
        leaks(described + errorText, [pw, q1, frag]) === undefined &&
        described.includes('redis://acl:<redacted>@redis.local:6379/1?password=<redacted>&sentinelPassword=<redacted>#<redacted>')
      );
    }),
    RUNS,
  );
  t.pass();
});

test('finding 7: a query in a URL that does not parse is dropped from the message', (t) => {
  for (const url of ['redis://h:99999/0?password=Qv8x', 'redis://h:1/zz#Qv8frag', 'redis//h?password=Qv8y']) {
    const text = failure(() => loadSidecarConfig({ DVDI_REDIS_URL: url }, 'node-a'));
    t.false(text.includes('Qv8'), text);
  }
});

test('finding 7: the log scrubber gets the secret-looking URL values, not plain option values that would mangle JSON', (t) => {
  const secrets = urlSecrets('redis://u:pw-one@h:6379/0?tls=true&family=4&password=123456&extra=opaque-xyz#frag-abc');
  t.true(secrets.includes('pw-one'));
  t.true(secrets.includes('123456'), 'a numeric password still counts: its key says so');
  t.true(secrets.includes('opaque-xyz'));
  t.true(secrets.includes('frag-abc'));
  t.false(secrets.includes('true'));
  t.false(secrets.includes('4'));
});
