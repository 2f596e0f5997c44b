// The container image (SPEC §3 "images"): a busybox root filesystem from Debian's busybox-static,
// imported with `docker import` (there is no registry here), tagged by a hash of its contents.
import { createHash } from 'node:crypto';
import { mkdir, copyFile, symlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { spawn } from 'node:child_process';
import type Docker from 'dockerode';
import { run } from '../shared/run.ts';
import { withTempDir } from '../shared/temp-dir.ts';
import { unpackPackages } from './debian-packages.ts';

export const CONTAINER_IMAGE_REPO = 'ciao-busybox';

/** Builds (or finds) the image; returns its name, e.g. "ciao-busybox:3f2a…". */
export async function buildContainerImage(docker: Docker, cacheDir: string): Promise<string> {
  const dirs = await unpackPackages(join(cacheDir, 'debs'), ['busybox-static']);
  const pkgDir = dirs.get('busybox-static')!;
  const tag = createHash('sha256').update(basename(pkgDir)).digest('hex').slice(0, 16);
  const name = `${CONTAINER_IMAGE_REPO}:${tag}`;
  if (await docker.getImage(name).inspect().then(() => true, () => false)) return name;

  await withTempDir('ciao-container-root', async (root) => {
    for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'root']) await mkdir(join(root, d), { recursive: true });
    const busybox = join(root, 'bin/busybox');
    await copyFile(join(pkgDir, 'bin/busybox'), busybox);
    const applets = (await run(busybox, ['--list'])).stdout.split('\n').filter((a) => a && a !== 'busybox');
    for (const a of applets) await symlink('busybox', join(root, 'bin', a));
    const tar = spawn('tar', ['-C', root, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const stream = await docker.importImage(tar.stdout, { repo: CONTAINER_IMAGE_REPO, tag, changes: 'CMD ["/bin/sh"]' });
    await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err) => (err ? reject(err) : resolve())));
  });
  await docker.getImage(name).tag({ repo: CONTAINER_IMAGE_REPO, tag: 'latest' });
  return name;
}
