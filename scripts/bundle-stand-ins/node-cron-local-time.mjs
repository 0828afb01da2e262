// esbuild plugin of scripts/bundle.mjs, a module of its own so that tests can build node-cron with
// it (test/integration/build/node-cron-local-time.test.ts).
import { readFileSync } from 'node:fs';
import { URL, fileURLToPath } from 'node:url';

// node-cron reads every date through Intl.DateTimeFormat, whose first use loads ICU's locale data
// (+8.6 MiB RSS on Node 22). Its two constructions get a stand-in that answers node-cron's two
// option shapes from Date's local getters when no timeZone is given, and the real formatter
// otherwise (scripts/bundle-stand-ins/cron-date-time-format.mjs says why that is the same). The
// build fails if node-cron's source no longer has exactly those two (a node-cron update): look again then.
const CRON_INTL = 'new Intl.DateTimeFormat(';
const CRON_DATE_TIME_FORMAT = fileURLToPath(new URL('cron-date-time-format.mjs', import.meta.url));
export const cronLocalTime = {
  name: 'node-cron-local-time',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]node-cron[\\/]dist[\\/]_shared\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      if (source.split(CRON_INTL).length !== 3 || source.split('Intl.').length !== 3) throw new Error(`${args.path}: expected two '${CRON_INTL}' and no other Intl use (scripts/bundle.mjs, node-cron-local-time)`);
      const contents = `import { DateTimeFormat as __dvdiCronDateTimeFormat } from ${JSON.stringify(CRON_DATE_TIME_FORMAT)};\n${source.replaceAll(CRON_INTL, 'new __dvdiCronDateTimeFormat(')}`;
      return { contents, loader: 'js' };
    });
  },
};
