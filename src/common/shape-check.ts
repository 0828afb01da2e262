// The validator for input the sidecar did not write (plugin replies, the engine's JSON, the
// embedded store's state file, fault files): zod's tree-shakable "mini" build with English
// messages. The classic zod build costs ~80 ms and several MiB at every start; mini keeps the
// same checks. Import it as `import * as z from '../common/shape-check.js'` and name only what is
// used: re-exporting zod's namespace object would defeat the bundle's tree shaking.
import { en } from 'zod/locales';
import { config, type core } from 'zod/mini';

config(en());

export {
  array,
  boolean,
  check,
  enum,
  int,
  literal,
  looseObject,
  maximum,
  minimum,
  minLength,
  nonnegative,
  nullish,
  number,
  object,
  optional,
  parse,
  record,
  safeParse,
  string,
  unknown,
} from 'zod/mini';
export type { infer, ZodMiniType } from 'zod/mini';

/** One line naming each offending field, e.g. `Mountpoint: Invalid input: expected string, received undefined`. */
export function describeIssues(error: core.$ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length === 0 ? '(reply)' : issue.path.join('.')}: ${issue.message}`)
    .join('; ');
}
