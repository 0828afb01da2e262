// Bundle stand-in for @opentelemetry/api (scripts/bundle.mjs): prom-client reads it only to label
// exemplars with the active span, and the sidecar never enables exemplars. No span is active.
'use strict';
const context = { active: () => undefined };
const trace = { getSpan: () => undefined };
module.exports = { context, trace };
