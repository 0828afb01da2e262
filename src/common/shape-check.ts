// The validator for input the sidecar did not write (plugin replies, the engine's JSON, the
// embedded store's state file, fault files): zod's tree-shakable "mini" build with English
// messages. The classic zod build costs ~80 ms and several MiB at every start; mini keeps the
// same checks and bundles to a few kB.
import { en } from 'zod/locales';
import * as z from 'zod/mini';

z.config(en());

export { z };

/** One line naming each offending field, e.g. `Mountpoint: Invalid input: expected string, received undefined`. */
export function describeIssues(error: z.core.$ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length === 0 ? '(reply)' : issue.path.join('.')}: ${issue.message}`)
    .join('; ');
}
