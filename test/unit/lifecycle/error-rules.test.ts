// The one error-code list and the one "the Mount may have happened" rule.
import test from 'ava';
import { ErrorCode } from '../../../src/common/error-codes.js';
import {
  DriverAbortedError,
  DriverBadReplyError,
  DriverNotFoundError,
  DriverRefusedError,
  DriverTimeoutError,
  DriverUnreachableError,
  mountMayHaveHappened,
} from '../../../src/driver/driver-errors.js';
import { MounterErrorCode } from '../../../src/mounter/mounter-error.js';
import { StoreUnavailableError } from '../../../src/refcount/refcount-errors.js';

const site = { driver: 'p', method: 'Mount', volume: 'v' };

test('every error code is listed once, and the mounter codes are among them', (t) => {
  const values = Object.values(ErrorCode);
  t.is(new Set(values).size, values.length, 'no code under two names');
  for (const code of Object.values(MounterErrorCode)) t.true((values as string[]).includes(code), code);
  for (const code of values) t.regex(code, /^DVDI_[A-Z0-9_]+$/);
});

test('a Mount that reached the plugin without a refusal may have happened', (t) => {
  t.true(mountMayHaveHappened(new DriverTimeoutError(site, 10)));
  t.true(mountMayHaveHappened(new DriverAbortedError(site)));
  t.true(mountMayHaveHappened(new DriverBadReplyError(site, 'Mountpoint missing')));
  t.true(mountMayHaveHappened(new DriverUnreachableError(site, '/x.sock', 'ECONNRESET', false)), 'the reply had started');
});

test('a refused Mount, or one that never reached the plugin, did not happen', (t) => {
  t.false(mountMayHaveHappened(new DriverRefusedError(site, 500, 'no')));
  t.false(mountMayHaveHappened(new DriverUnreachableError(site, '/x.sock', 'ECONNREFUSED', true)));
  t.false(mountMayHaveHappened(new DriverNotFoundError(site, 'none')));
  t.false(mountMayHaveHappened(new Error('not a driver error')));
});

test('the store-unavailable error names the operation, the volume and the wait, exit 4', (t) => {
  const error = new StoreUnavailableError('redis', 'acquire', new Error('ECONNREFUSED'), { volume: 'pg' });
  t.is(error.code, ErrorCode.StoreUnavailable);
  t.is(error.exitCode, 4);
  t.regex(error.message, /redis refcount store unavailable during acquire of volume pg/);
  t.regex(new StoreUnavailableError('embedded', 'connect', undefined, { waitedMs: 10_000 }).message, /no answer within 10000 ms/);
});
