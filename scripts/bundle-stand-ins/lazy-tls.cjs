// Bundle stand-in for ioredis' `tls` (scripts/bundle.mjs): ioredis calls tls.connect() only for
// rediss:// URLs and TLS options, and that is all it uses of the module; node:tls (on Node 22
// ~3 MiB of RSS, loaded with every Redis store otherwise) is loaded on that first call.
'use strict';
let tls;
exports.connect = (...args) => (tls ??= require('node:tls')).connect(...args);
