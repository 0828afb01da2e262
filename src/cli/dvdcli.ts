#!/usr/bin/env node
// `dvdcli`: the drop-in for rexray/dvdcli that Mesos agents execute (mesos-module-dvdi, Mesos'
// docker/volume isolator). The flow is in dvdcli-command.ts; the process context is main.ts'.
import { describeError } from '../common/errors.js';
import { processContext } from '../main.js';

const ctx = processContext();
// Loaded on demand like dvdi's commands: the bin stays a small entry and the command a chunk.
import('./dvdcli-command.js')
  .then(({ runDvdcli }) => runDvdcli(process.argv.slice(2), { ...ctx, mountRootConfigured: (ctx.env.DVDI_MOUNT_ROOT ?? '').trim() !== '' }))
  .then(
    // Open handles (a Redis reconnect timer, a plugin socket in backoff) must not keep a finished
    // dvdcli alive: the caller waits for its exit.
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`dvdcli: error: ${describeError(error)}\n`);
      process.exit(1);
    },
  );
