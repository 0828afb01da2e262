// `dvdi wait [--url URL] [--timeout SECONDS] [-- CMD ARGS…]`: block until the sidecar reports
// ready, then run CMD in its place (for pods whose containers start together, e.g. Marathon
// pods). Node 20 has no execve, so CMD runs as a child with inherited stdio; signals are
// forwarded and its exit status becomes ours.
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { parseArgs } from 'node:util';
import { systemClock } from '../common/clock.js';
import { describeError } from '../common/errors.js';
import type { Env } from '../config/index.js';
import { processContext } from '../main.js';
import { readSetting } from './command-settings.js';

const HELP = `Usage: dvdi wait [--url URL] [--timeout SECONDS] [--interval MS] [-- CMD ARGS...]

Waits until GET URL answers 200 (the sidecar's /readyz), then runs CMD with the same
stdin/stdout/stderr, forwards SIGTERM/SIGINT/SIGHUP to it and exits with its status.
Without CMD, exits 0 once ready.

  --url URL          readiness URL (default: /readyz at the sidecar's DVDI_HTTP_ADDR,
                     else http://127.0.0.1:9650/readyz)
  --timeout SECONDS  give up after this long, exit 1 (default 300; 0 = wait forever)
  --interval MS      poll interval (default 500)
`;

/** /readyz at the address the sidecar listens on (DVDI_HTTP_ADDR, as the sidecar reads it). */
export function readinessUrl(env: Env): string {
  const address = readSetting(env, 'DVDI_HTTP_ADDR') ?? { host: '127.0.0.1', port: 9650 };
  const host = address.host === '0.0.0.0' ? '127.0.0.1' : address.host === '::' ? '::1' : address.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}/readyz`;
}

function probe(url: string, timeoutMs: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    req.end();
  });
}

export async function run(argv: string[]): Promise<number> {
  const dashdash = argv.indexOf('--');
  const own = dashdash >= 0 ? argv.slice(0, dashdash) : argv;
  const command = dashdash >= 0 ? argv.slice(dashdash + 1) : [];
  let values;
  try {
    ({ values } = parseArgs({
      args: own,
      options: {
        url: { type: 'string' },
        timeout: { type: 'string', default: '300' },
        interval: { type: 'string', default: '500' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`dvdi wait: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const timeoutS = Number(values.timeout);
  const intervalMs = Number(values.interval);
  if (!Number.isFinite(timeoutS) || timeoutS < 0) {
    process.stderr.write(`dvdi wait: --timeout "${values.timeout}" is not valid: expected seconds >= 0\n`);
    return 2;
  }
  if (!Number.isInteger(intervalMs) || intervalMs < 10) {
    process.stderr.write(`dvdi wait: --interval "${values.interval}" is not valid: expected whole milliseconds >= 10\n`);
    return 2;
  }
  let url: string;
  try {
    url = values.url ?? readinessUrl(processContext().env);
  } catch (error) {
    process.stderr.write(`dvdi wait: ${describeError(error)}\n`);
    return 2;
  }
  try {
    new URL(url);
  } catch {
    process.stderr.write(`dvdi wait: --url "${url}" is not a valid URL\n`);
    return 2;
  }

  const started = systemClock.monotonic();
  let lastReport = started;
  for (;;) {
    const answer = await probe(url, Math.max(intervalMs, 1000));
    if (answer === 200) break;
    const waited = systemClock.monotonic() - started;
    if (timeoutS > 0 && waited >= timeoutS * 1000) {
      process.stderr.write(`dvdi wait: ${url} not ready after ${timeoutS} s (last answer: ${answer})\n`);
      return 1;
    }
    if (systemClock.monotonic() - lastReport >= 10_000) {
      lastReport = systemClock.monotonic();
      process.stderr.write(`dvdi wait: still waiting for ${url} (${Math.round(waited / 1000)} s, last answer: ${answer})\n`);
    }
    await systemClock.sleep(intervalMs);
  }
  process.stderr.write(`dvdi wait: ${url} is ready\n`);
  const [file, ...args] = command;
  if (file === undefined) return 0;

  const child = spawn(file, args, { stdio: 'inherit' });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, forward(signal));
  return new Promise<number>((resolve) => {
    child.on('error', (error: NodeJS.ErrnoException) => {
      process.stderr.write(`dvdi wait: cannot run ${file}: ${error.message}\n`);
      resolve(error.code === 'ENOENT' ? 127 : 126);
    });
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? signalNumber(signal) : 0)));
  });
}

function signalNumber(signal: NodeJS.Signals): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return numbers[signal] ?? 0;
}
