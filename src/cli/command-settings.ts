// The settings every node command shares with the sidecar: the same DVDI_* environment, read by
// config/ (plugin dirs, mount root, store, node ID…), where a command-line flag overrides its
// variable. One table of those flags, so `dvdi reconcile`, `dvdi status`, `dvdi driver check`
// and `dvdi wait` read them alike.
import type { Env } from '../config/index.js';

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
