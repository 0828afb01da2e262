// esbuild plugin of scripts/bundle.mjs, a module of its own so that a test can build pino with it
// (test/integration/build/pino-main-thread-when-asked.test.ts).
import { readFileSync } from 'node:fs';

// pino's lib/tools.js reads worker_threads' isMainThread as it loads, for one test made only when
// a destination is asynchronous (flush it at exit on the main thread); dvdi's logger writes
// synchronously, so that test never runs. Loading worker_threads (and its MessagePort, worker and
// serialisation internals) at start cost ~4 ms CPU and ~0.5 MiB peak on Node 22 under the image's
// flags (farm-bench, 20 runs, require('http') with and without it). The read moves into that test:
// same answer, asked when needed. The build fails if the two places change (a pino update).
const PINO_MAIN_THREAD = "const { isMainThread } = require('worker_threads')";
const PINO_MAIN_THREAD_USE = '!opts.sync && isMainThread)';
export const pinoMainThreadWhenAsked = {
  name: 'pino-main-thread-when-asked',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]pino[\\/]lib[\\/]tools\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      if (source.split(PINO_MAIN_THREAD).length !== 2 || source.split(PINO_MAIN_THREAD_USE).length !== 2 || source.split('isMainThread').length !== 3) {
        throw new Error(`${args.path}: expected one '${PINO_MAIN_THREAD}' used once as '${PINO_MAIN_THREAD_USE}' (scripts/bundle-stand-ins/pino-main-thread-when-asked.mjs)`);
      }
      const contents = source
        .replace(PINO_MAIN_THREAD, "const isMainThread = () => require('worker_threads').isMainThread")
        .replace(PINO_MAIN_THREAD_USE, '!opts.sync && isMainThread())');
      return { contents, loader: 'js' };
    });
  },
};
