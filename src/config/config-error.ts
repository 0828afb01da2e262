// The one error of config/: every problem found in the environment and the label sources,
// collected and reported together so an operator fixes everything in one go. Each problem
// names the variable, the value (secrets redacted) and the accepted form.
import { DvdiError, ExitCode } from '../common/errors.js';
import { quote } from './secret-redaction.js';

export interface ConfigProblem {
  /** The variable (or `Docker label NAME`) the problem is about; the first one when several. */
  readonly variable: string;
  /** A complete sentence naming the variable, the redacted value and the accepted form. */
  readonly message: string;
}

export class ConfigError extends DvdiError {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    const list = Object.freeze(problems.map((p) => Object.freeze({ ...p })));
    const message =
      list.length === 1
        ? `invalid configuration: ${list[0]?.message ?? ''}`
        : `invalid configuration (${list.length} problems):\n${list.map((p) => `  - ${p.message}`).join('\n')}`;
    super('DVDI_CONFIG_INVALID', message, {
      context: { variables: [...new Set(list.map((p) => p.variable))].join(','), problemCount: list.length },
      exitCode: ExitCode.Config,
    });
    this.problems = list;
  }

  /** One error holding the problems of several loads (sidecar settings + volume requests). */
  static combine(errors: readonly ConfigError[]): ConfigError {
    return new ConfigError(errors.flatMap((e) => e.problems));
  }
}

/** `VAR="value" is not valid: <detail>; expected <accepted form>`; pass secrets redacted. */
export function invalidValueMessage(where: string, shownValue: string, accepted: string, detail: string | undefined): string {
  return `${where}=${quote(shownValue)} is not valid: ${detail === undefined ? '' : `${detail}; `}expected ${accepted}`;
}
