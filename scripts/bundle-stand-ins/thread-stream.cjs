// Bundle stand-in for thread-stream (scripts/bundle.mjs): pino needs it only for pino.transport(),
// which dvdi never calls (its logger writes to stderr synchronously); the real one loads
// worker_threads at start.
'use strict';
module.exports = class ThreadStream {
  constructor() {
    throw new Error('pino transports (thread-stream) are not part of the dvdi bundle (scripts/bundle.mjs)');
  }
};
