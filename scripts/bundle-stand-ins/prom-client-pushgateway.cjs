// Bundle stand-in for prom-client's Pushgateway (scripts/bundle.mjs): the sidecar is scraped,
// never pushes, and the real one loads http, https, tls and zlib at start.
'use strict';
module.exports = class Pushgateway {
  constructor() {
    throw new Error("prom-client's Pushgateway is not part of the dvdi bundle (scripts/bundle.mjs)");
  }
};
