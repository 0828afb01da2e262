#!/usr/bin/env node
// `dvdi`: the command dispatcher. Each subcommand lives in its own `*-command.ts` module that
// exports `run(argv): Promise<number>` (the exit code); they are loaded on demand so that
// `dvdi plugin` does not pay for Redis or Docker clients it never uses.
import { describeError, exitCodeOf } from '../common/errors.js';

type CommandModule = { run(argv: string[]): Promise<number> };

const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  sidecar: { summary: 'the per-task daemon: mount the task volumes, report ready, release on exit', load: () => import('./sidecar-command.js') },
  plugin: { summary: 'the reference Docker volume plugin (dir and loop backends)', load: () => import('./plugin-command.js') },
  driver: { summary: "'driver check --driver NAME': probe a volume plugin end to end", load: () => import('./driver-command.js') },
  status: { summary: 'volumes, nodes, holders, lease ages and mount states from the store', load: () => import('./status-command.js') },
  reconcile: { summary: 'one reconcile sweep for this node, then exit', load: () => import('./reconcile-command.js') },
  wait: { summary: 'wait until the sidecar is ready, then exec a command', load: () => import('./wait-command.js') },
};

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(([name, { summary }]) => `  ${name.padEnd(width)}  ${summary}`);
  return ['Usage: dvdi <command> [options]', '', 'Commands:', ...lines, '', "Run 'dvdi <command> --help' for a command's options."].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === 'version') {
    const { VERSION } = await import('../common/version.js');
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`dvdi: unknown command '${name}'\n\n${usage()}\n`);
    return 2;
  }
  const module = await command.load();
  return module.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`dvdi: ${describeError(error)}\n`);
    process.exitCode = exitCodeOf(error);
  },
);
