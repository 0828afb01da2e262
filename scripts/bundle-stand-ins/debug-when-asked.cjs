// Bundle stand-in for ioredis' `debug` (scripts/bundle.mjs): its lines are written only when the
// DEBUG environment variable names them (DEBUG=ioredis:* for a Redis trouble-shoot), read once at
// start as `debug` itself does. With DEBUG set this is the real module; without it, loggers that
// are never enabled, and neither `debug` nor the tty module it loads (~1 MiB) is loaded.
'use strict';
if (process.env.DEBUG) {
  module.exports = require('debug');
} else {
  const disabled = (namespace) => {
    const fn = () => {};
    fn.enabled = false;
    fn.namespace = namespace;
    fn.destroy = () => true;
    fn.log = () => {};
    return fn;
  };
  disabled.default = disabled;
  module.exports = disabled;
}
