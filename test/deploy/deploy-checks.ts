// Shared checks of the deployment files (k8s-style-manifests/, marathon-examples/): every
// DVDI_* variable a file sets is one config/ knows, and the set as a whole is accepted by
// loadSidecarConfig + loadVolumeRequests, exactly as the sidecar would read it.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isKnownVariable, loadSidecarConfig, loadVolumeRequests, type Config, type VolumeRequests } from '../../src/config/index.js';
import { REPO } from '../helpers/cli.js';

export { REPO };
export const MOUNT_ROOT = '/var/lib/dvdi/volumes';

export interface CheckedEnv {
  config: Config;
  requests: VolumeRequests;
}

/** Throws naming the variable when a DVDI_* name is unknown; config/ throws on bad values. */
export function checkSidecarEnv(env: Record<string, string>, labels: Record<string, string> = {}): CheckedEnv {
  for (const name of [...Object.keys(env), ...Object.keys(labels)]) {
    const bare = name.replace(/^MARATHON_APP_LABEL_/, '');
    if (bare.startsWith('DVDI_') && !isKnownVariable(bare)) throw new Error(`${name} is not a variable config/ knows`);
  }
  const config = loadSidecarConfig(env, 'example-host');
  const requests = loadVolumeRequests(env, labels);
  return { config, requests };
}

/** Marathon's label → variable cleaning (runs outside [A-Za-z0-9_] become "_", upper case). */
export function marathonLabelEnv(labels: Record<string, string> | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels ?? {})) env[`MARATHON_APP_LABEL_${key.replace(/[^A-Za-z0-9_]+/g, '_').toUpperCase()}`] = value;
  return env;
}

export function filesIn(dir: string, ext: string): string[] {
  return readdirSync(join(REPO, dir)).filter((f) => f.endsWith(ext)).sort().map((f) => join(REPO, dir, f));
}

export function readText(path: string): string {
  return readFileSync(path, 'utf8');
}
