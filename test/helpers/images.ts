// Test images built on this machine, since there is no registry to pull from:
// - `dvdi-test/busybox`: the host's static busybox with a link per applet (~1 s to import);
// - `dvdi-test/node-base`: a debootstrapped bookworm minbase plus the host's node binary, the
//   stand-in for node:22-bookworm-slim in Dockerfile tests (~30-60 s the first time). It already
//   holds the sidecar's runtime packages (NODE_BASE_PACKAGES): the Dockerfile apt-installs only
//   what its base lacks, and apt cannot reach a mirror inside `docker build` here.
// Both are cached in the private daemon's data root; the debootstrapped tree is also cached
// under `.test-tmp/cache/`. The mirror is read from the machine's apt sources at run time, so
// no mirror host name is ever written into the repository.
import { chmod, cp, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { makeTempDir, unmountBelow } from './mount-root.js';
import { TEST_TMP, type DockerCli, type Log } from './dockerd.js';

export const BUSYBOX_IMAGE = 'dvdi-test/busybox';
export const NODE_BASE_IMAGE = 'dvdi-test/node-base';
/** Debian packages the Dockerfile's runtime stage needs (tini as PID 1, mount tools, mkfs). */
export const NODE_BASE_PACKAGES: readonly string[] = ['tini', 'util-linux', 'mount', 'e2fsprogs', 'xfsprogs'];
const CACHE_DIR = join(TEST_TMP, 'cache');
const defaultLog: Log = (line) => process.stderr.write(`[images-helper] ${line}\n`);

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** The value of `label` on `image`, null when the image is absent, '' when the label is. */
async function imageLabel(docker: DockerCli, image: string, label: string): Promise<string | null> {
  const r = await docker(['image', 'inspect', '--format', `{{ index .Config.Labels "${label}" }}`, image], { reject: false });
  if (r.exitCode !== 0) return null;
  const value = r.stdout.trim();
  return value === '<no value>' ? '' : value;
}

async function tarAndImport(docker: DockerCli, rootfs: string, image: string, changes: readonly string[], log: Log): Promise<void> {
  const tmp = await makeTempDir('image-tar');
  try {
    const tarball = join(tmp, 'rootfs.tar');
    await execa('tar', ['--numeric-owner', '-C', rootfs, '-cf', tarball, '.'], { timeout: 300_000 });
    log(`importing ${image} (${Math.round((await stat(tarball)).size / 1e6)} MB)`);
    await docker(['import', ...changes.flatMap((c) => ['--change', c]), tarball, image], { timeoutMs: 300_000 });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Import `dvdi-test/busybox` from /bin/busybox (busybox-static) unless it is already there. */
export async function ensureBusyboxImage(docker: DockerCli, log: Log = defaultLog): Promise<string> {
  const busybox = '/bin/busybox';
  const { stdout: version } = await execa(busybox, ['--help'], { reject: false }).then((r) => ({ stdout: String(r.stdout).split('\n')[0] ?? '' }));
  const key = version.trim();
  if ((await imageLabel(docker, BUSYBOX_IMAGE, 'dvdi.test.busybox')) === key) return BUSYBOX_IMAGE;
  const ldd = await execa('ldd', [busybox], { reject: false });
  if (!/not a dynamic executable|statically linked/.test(`${String(ldd.stdout)}${String(ldd.stderr)}`)) {
    throw new Error(`${busybox} is not static: apt-get install -y busybox-static`);
  }
  log(`building ${BUSYBOX_IMAGE} from ${busybox} (${key})`);
  const dir = await makeTempDir('busybox-rootfs');
  try {
    const bin = join(dir, 'bin');
    await mkdir(bin);
    await cp(busybox, join(bin, 'busybox'));
    const applets = String((await execa(busybox, ['--list'])).stdout)
      .split('\n')
      .map((s) => s.trim())
      .filter((s) => s !== '' && s !== 'busybox' && !s.includes('/'));
    for (const applet of applets) await symlink('busybox', join(bin, applet));
    await mkdir(join(dir, 'usr'));
    await symlink('../bin', join(dir, 'usr', 'bin'));
    await symlink('bin', join(dir, 'sbin'));
    await symlink('../bin', join(dir, 'usr', 'sbin'));
    for (const d of ['etc', 'tmp', 'data', 'proc', 'sys', 'dev', 'root']) await mkdir(join(dir, d));
    await chmod(join(dir, 'tmp'), 0o1777);
    await writeFile(join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
    await writeFile(join(dir, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
    await tarAndImport(
      docker,
      dir,
      BUSYBOX_IMAGE,
      ['ENV PATH=/bin:/usr/bin:/sbin:/usr/sbin', 'CMD ["sh"]', `LABEL dvdi.test.busybox="${key}"`],
      log,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return BUSYBOX_IMAGE;
}

/** The Debian mirror URI for `suite` from this machine's apt sources (deb822 first, then one-line). */
export async function aptMirrorFor(suite: string): Promise<string> {
  const dir = '/etc/apt/sources.list.d';
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.sources')).sort();
  for (const file of files) {
    const text = await readFile(join(dir, file), 'utf8');
    for (const stanza of text.split(/\n\s*\n/)) {
      const fields = new Map<string, string>();
      for (const line of stanza.split('\n')) {
        const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
        if (m) fields.set(m[1]!.toLowerCase(), m[2]!.trim());
      }
      if (fields.get('enabled')?.toLowerCase() === 'no') continue;
      const types = (fields.get('types') ?? '').split(/\s+/);
      const suites = (fields.get('suites') ?? '').split(/\s+/);
      const uri = (fields.get('uris') ?? '').split(/\s+/)[0];
      if (types.includes('deb') && suites.includes(suite) && uri) return uri;
    }
  }
  const legacy = await readFile('/etc/apt/sources.list', 'utf8').catch(() => '');
  for (const line of legacy.split('\n')) {
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line.trim());
    if (m && m[2] === suite) return m[1]!;
  }
  throw new Error(`no apt source for suite '${suite}' in ${dir}/*.sources or /etc/apt/sources.list`);
}

/** A bookworm minbase tree (plus `include`), debootstrapped once and kept under .test-tmp/cache. */
async function ensureBookwormRootfs(log: Log, include: readonly string[] = []): Promise<string> {
  const target = join(CACHE_DIR, include.length === 0 ? 'bookworm-minbase' : `bookworm-minbase+${[...include].sort().join('+')}`);
  const done = `${target}.complete`;
  if (await exists(done)) return target;
  const mirror = await aptMirrorFor('bookworm');
  await mkdir(CACHE_DIR, { recursive: true });
  await rm(target, { recursive: true, force: true });
  log(`debootstrap --variant=minbase bookworm into ${target} (takes ~30-60 s the first time)`);
  const started = Date.now();
  const progress = setInterval(() => log(`debootstrap still running: ${Math.round((Date.now() - started) / 1000)} s`), 15_000);
  try {
    const includeArgs = include.length === 0 ? [] : [`--include=${include.join(',')}`];
    const r = await execa('debootstrap', ['--variant=minbase', ...includeArgs, 'bookworm', target, mirror], { reject: false, timeout: 600_000, all: true });
    if (r.exitCode !== 0) {
      throw new Error(`debootstrap failed (exit ${r.exitCode}): ${String(r.all ?? '').trim().split('\n').slice(-15).join('\n')}`);
    }
  } finally {
    clearInterval(progress);
    // debootstrap mounts /proc and /sys in the target while it works
    await unmountBelow(target);
  }
  // Debootstrap leaves the build host's mirror in the tree's apt sources; nothing in the image
  // needs apt, and the image must not carry a host name.
  await rm(join(target, 'etc', 'apt', 'sources.list'), { force: true });
  await rm(join(target, 'var', 'lib', 'apt', 'lists'), { recursive: true, force: true });
  await mkdir(join(target, 'var', 'lib', 'apt', 'lists', 'partial'), { recursive: true });
  await rm(join(target, 'var', 'cache', 'apt', 'archives'), { recursive: true, force: true });
  await mkdir(join(target, 'var', 'cache', 'apt', 'archives', 'partial'), { recursive: true });
  await writeFile(done, `${new Date().toISOString()}\n`);
  log(`debootstrap done in ${Math.round((Date.now() - started) / 1000)} s`);
  return target;
}

/** Import `dvdi-test/node-base` (bookworm minbase + NODE_BASE_PACKAGES + the host's /usr/bin/node), keyed by node's version and the packages. */
export async function ensureNodeBaseImage(docker: DockerCli, log: Log = defaultLog): Promise<string> {
  const node = '/usr/bin/node';
  const version = String((await execa(node, ['--version'])).stdout).trim();
  const key = `${version} ${[...NODE_BASE_PACKAGES].sort().join(',')}`;
  if ((await imageLabel(docker, NODE_BASE_IMAGE, 'dvdi.test.node-base')) === key) return NODE_BASE_IMAGE;
  const rootfs = await ensureBookwormRootfs(log, NODE_BASE_PACKAGES);
  await mkdir(join(rootfs, 'usr', 'local', 'bin'), { recursive: true });
  await cp(node, join(rootfs, 'usr', 'local', 'bin', 'node'));
  await tarAndImport(
    docker,
    rootfs,
    NODE_BASE_IMAGE,
    [
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'ENV NODE_VERSION=' + version.replace(/^v/, ''),
      'CMD ["node"]',
      `LABEL dvdi.test.node-base="${key}"`,
    ],
    log,
  );
  return NODE_BASE_IMAGE;
}
