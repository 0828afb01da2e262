#!/usr/bin/env node
// `dvdcli`: the drop-in for rexray/dvdcli that Mesos agents execute (mesos-module-dvdi, Mesos'
// docker/volume isolator). The flow is in dvdcli-command.ts, the wiring in main.ts.
import { describeError } from '../common/errors.js';
import { runDvdcliCommand } from '../main.js';

runDvdcliCommand(process.argv.slice(2)).then(
  // Open handles (a Redis reconnect timer, a plugin socket in backoff) must not keep a finished
  // dvdcli alive: the caller waits for its exit.
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`dvdcli: error: ${describeError(error)}\n`);
    process.exit(1);
  },
);
