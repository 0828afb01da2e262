// Builds the sidecar image from this repository's Dockerfile on the offline path (DEPS=host):
// compile src/ into a staging context, add a production-only node_modules (a copy of ours,
// pruned offline: `npm ci` cannot reach the registry here), and build on top of the
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
    const tsc = await execa(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(REPO_ROOT, 'tsconfig.json'), '--outDir', join(stage, 'dist'), '--sourceMap', 'false'], {
      cwd: REPO_ROOT,
      reject: false,
      all: true,
    });
    // Errors in files under construction elsewhere still emit JavaScript; what the image runs
    // is checked by the tests themselves.
    if (tsc.exitCode !== 0) log(`tsc reported errors (output still emitted):\n${String(tsc.all).split('\n').slice(0, 10).join('\n')}`);
    await stat(join(stage, 'dist', 'cli', 'dvdi.js'));
    await cp(join(REPO_ROOT, 'src', 'refcount', 'lua'), join(stage, 'dist', 'refcount', 'lua'), { recursive: true }).catch(() => undefined);
    for (const file of ['package.json', 'package-lock.json']) await cp(join(REPO_ROOT, file), join(stage, file));
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
