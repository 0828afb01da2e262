// Builds the sidecar image from this repository's Dockerfile on the offline path (DEPS=host):
// bundle src/ into a staging context (scripts/bundle.mjs), add a production-only node_modules
// (a copy of ours, pruned offline: `npm ci` cannot reach the registry here; the Dockerfile
// prunes it further to what the bundle loads), and build on top of the
// debootstrapped stand-in for node:22-bookworm-slim. The repository's own dist/ is left alone
// (other work may be building it at the same time).
import { cp, mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { REPO_ROOT, type DockerCli, type Log } from '../helpers/dockerd.js';
import { ensureNodeBaseImage } from '../helpers/images.js';
import { makeTempDir } from '../helpers/mount-root.js';

export const SIDECAR_IMAGE = 'dvdi-test/sidecar';

export interface BuiltImage {
  image: string;
  sizeBytes: number;
}

export async function buildSidecarImage(docker: DockerCli, log: Log): Promise<BuiltImage> {
  const base = await ensureNodeBaseImage(docker, log);
  const stage = await makeTempDir('sidecar-context');
  try {
    // The image runs the bundle, built here as `npm run build` builds it (without its typecheck:
    // files under construction elsewhere must not stop the e2e tests; tsc checks them on its own).
    await execa(process.execPath, [join(REPO_ROOT, 'scripts', 'bundle.mjs'), '--outdir', join(stage, 'dist')], { cwd: REPO_ROOT, timeout: 120_000 });
    await stat(join(stage, 'dist', 'cli', 'dvdi.js'));
    await cp(join(REPO_ROOT, 'src', 'refcount', 'lua'), join(stage, 'dist', 'refcount', 'lua'), { recursive: true });
    for (const file of ['package.json', 'package-lock.json', 'scripts/prune-runtime-modules.mjs']) await cp(join(REPO_ROOT, file), join(stage, file));
    await cp(join(REPO_ROOT, 'node_modules'), join(stage, 'node_modules'), { recursive: true, verbatimSymlinks: true });
    await execa('npm', ['prune', '--omit=dev', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: stage, timeout: 120_000 });
    await mkdir(join(stage, 'node_modules'), { recursive: true });
    log(`building ${SIDECAR_IMAGE} from ${join(REPO_ROOT, 'Dockerfile')} (DEPS=host, NODE_IMAGE=${base})`);
    await docker(
      ['build', '--build-arg', `NODE_IMAGE=${base}`, '--build-arg', 'DEPS=host', '--label', 'dvdi.test=sidecar', '-t', SIDECAR_IMAGE, '-f', join(REPO_ROOT, 'Dockerfile'), stage],
      { timeoutMs: 600_000 },
    );
    const size = Number((await docker(['image', 'inspect', '--format', '{{.Size}}', SIDECAR_IMAGE])).stdout.trim());
    // Dangling layers of earlier builds would fill the cached data root.
    await docker(['image', 'prune', '--force', '--filter', 'label=dvdi.test=sidecar'], { reject: false });
    return { image: SIDECAR_IMAGE, sizeBytes: size };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}
