// Bundle stand-in for `assert` in redis-errors and sonic-boom (scripts/bundle.mjs): each checks
// a condition with assert() and assert.strictEqual(), the only two it calls; node:assert (and
// the diff machinery it loads) is loaded only to report a check that fails.
'use strict';
const real = () => require('node:assert');
function assert(value, message) {
  if (!value) real()(value, message);
}
assert.strictEqual = (actual, expected, message) => {
  if (!Object.is(actual, expected)) real().strictEqual(actual, expected, message);
};
module.exports = assert;
