// The settings every node command shares with the sidecar: the same DVDI_* environment, read by
// config/ (plugin dirs, mount root, store, node ID…), where a command-line flag overrides its
// variable. One table of those flags, so `dvdi reconcile`, `dvdi status`, `dvdi driver check`
// and `dvdi wait` read them alike.
import { invalidValueMessage } from '../config/config-error.js';
import { ConfigError, type Env } from '../config/index.js';
import { SETTING_RULES } from '../config/settings-table.js';
import { InvalidValue } from '../config/value-rules.js';

/** Flag → the variable it overrides. */
export const SETTING_FLAGS = {
  'mount-root': 'DVDI_MOUNT_ROOT',
  'node-id': 'DVDI_NODE_ID',
  'plugin-dirs': 'DVDI_PLUGIN_DIRS',
  'redis-url': 'DVDI_REDIS_URL',
  'http-addr': 'DVDI_HTTP_ADDR',
} as const;
export type SettingFlag = keyof typeof SETTING_FLAGS;

/** parseArgs options for the given setting flags. */
export function settingOptions<F extends SettingFlag>(flags: readonly F[]): Record<F, { type: 'string' }> {
  return Object.fromEntries(flags.map((flag) => [flag, { type: 'string' as const }])) as Record<F, { type: 'string' }>;
}

/** The environment with every given flag's value in place of its variable. */
export function envWithFlags(env: Env, values: Partial<Record<SettingFlag, string | undefined>>): Env {
  const out: Record<string, string | undefined> = { ...env };
  for (const [flag, variable] of Object.entries(SETTING_FLAGS) as Array<[SettingFlag, string]>) {
    const value = values[flag];
    if (value !== undefined) out[variable] = value;
  }
  return out;
}

/** Help lines for the setting flags a command takes. */
export function settingHelp(flags: readonly SettingFlag[]): string {
  return flags.map((flag) => `  --${`${flag} VALUE`.padEnd(22)} overrides ${SETTING_FLAGS[flag]}`).join('\n');
}

type RuleOf<V extends keyof typeof SETTING_RULES> = (typeof SETTING_RULES)[V]['rule'];
type ValueOf<V extends keyof typeof SETTING_RULES> = ReturnType<RuleOf<V>['parse']>;

/**
 * One setting as the sidecar reads it: the flag's value when given, else the variable, else the
 * documented default; checked by the same rule (ConfigError naming the flag or variable).
 */
export function readSetting<V extends keyof typeof SETTING_RULES>(env: Env, variable: V, flag?: { name: string; value: string | undefined }): ValueOf<V> | undefined {
  const row = SETTING_RULES[variable] as { rule: { parse(raw: string): unknown; accepted: string }; default: string | undefined };
  const fromFlag = flag?.value !== undefined;
  const raw = fromFlag ? flag.value : env[variable] !== undefined && env[variable].trim() !== '' ? env[variable] : row.default;
  if (raw === undefined) return undefined;
  try {
    return row.rule.parse(raw) as ValueOf<V>;
  } catch (error) {
    if (!(error instanceof InvalidValue)) throw error;
    const source = fromFlag ? `--${flag.name}` : variable;
    throw new ConfigError([{ variable: source, message: invalidValueMessage(source, raw, row.rule.accepted, error.detail) }]);
  }
}
