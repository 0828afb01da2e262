// Builds the shipped bundle (scripts/bundle.mjs + the Lua assets) into a temp package root, so
// tests run what the image runs without touching the repository's own dist/ (other work may be
// building it). Also reads the node flags of the image's ENTRYPOINT from the Dockerfile.
import { execFileSync } from 'node:child_process';
import { cp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO } from './cli.js';
import { makeTempDir } from './mount-root.js';

export interface Bundle {
  /** The package root: dist/ and package.json. */
  root: string;
  dvdi: string;
  dvdcli: string;
}

export async function buildBundle(): Promise<Bundle> {
  const root = await makeTempDir('bundle');
  execFileSync(process.execPath, [join(REPO, 'scripts/bundle.mjs'), '--outdir', join(root, 'dist')], { cwd: REPO });
  execFileSync(process.execPath, [join(REPO, 'scripts/copy-assets.mjs'), join(root, 'dist')], { cwd: REPO });
  await cp(join(REPO, 'package.json'), join(root, 'package.json'));
  return { root, dvdi: join(root, 'dist/cli/dvdi.js'), dvdcli: join(root, 'dist/cli/dvdcli.js') };
}

/** The node flags between `node` and the script in the Dockerfile's ENTRYPOINT. */
export async function imageNodeFlags(): Promise<string[]> {
  const dockerfile = await readFile(join(REPO, 'Dockerfile'), 'utf8');
  const line = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1];
  if (line === undefined) throw new Error('the Dockerfile has no ENTRYPOINT [...] line');
  const argv = JSON.parse(line) as string[];
  const node = argv.indexOf('node');
  return argv.slice(node + 1).filter((arg) => arg.startsWith('--'));
}
