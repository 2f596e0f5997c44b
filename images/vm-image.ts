// The small VM image (SPEC §3 "images"): Debian's cloud kernel and an initramfs with busybox,
// the virtio modules, dropbear and an init that reads a config-2 config drive (guest-init.sh);
// the same tree as an ext4 disk (qcow2) for VMs that boot from a volume.
// Built offline from Debian packages, cached by a hash of everything that goes into it.
import { createHash, type Hash } from 'node:crypto';
import { access, chmod, copyFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createReadStream, createWriteStream } from 'node:fs';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { run } from '../shared/run.ts';
import { withTempDir } from '../shared/temp-dir.ts';
import { HOST_APT, resolveMetaPackage, unpackPackages, type Apt } from './debian-packages.ts';

/** Loaded in this order at boot (SPEC §10: virtio-net needs this chain; the rest is the config drive). */
export const GUEST_MODULES = [
  'virtio_ring', 'virtio', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci',
  'failover', 'net_failover', 'virtio_net', 'virtio_blk', 'cdrom', 'isofs',
];
const GUEST_INIT = join(import.meta.dirname, 'guest-init.sh');
/** Applies a restored VM's clock and random seed (docs/vm-snapshots.md); compiled static at build time. */
const GUEST_RESTORE = join(import.meta.dirname, 'guest-restore.c');
/** Size of the root disk image (a volume made from it may be larger; the filesystem stays this size). */
const ROOT_DISK_MB = 32;

export interface VmImage {
  kernel: string;
  initrd: string;
  /** The initramfs tree as an ext4 filesystem (qcow2): what a root volume is made from. */
  root: string;
  /** Content hash of the inputs: the cache key. */
  hash: string;
}

const exists = (p: string) => access(p).then(() => true, () => false);

/** The Debian packages the image is made of: the cloud kernel apt would install now, busybox, dropbear. */
export async function vmImagePackages(cacheDir: string, apt = HOST_APT): Promise<string[]> {
  const kernelPkg = await resolveMetaPackage('linux-image-cloud-amd64', 'linux-image-', join(cacheDir, 'debs'), apt);
  return [kernelPkg, 'busybox-static', 'dropbear-bin', 'libtomcrypt1', 'libtommath1'];
}

/** The image's inputs from this tree (its init, ciao-restore, modules, disk size), hashed: the
 *  packages' versions go in after. ccloudvm's base image, which holds a built VM image, takes it
 *  into its own key, so a base never carries a VM image the tree has moved on from. */
export async function vmImageSourceHash(): Promise<Hash> {
  return createHash('sha256')
    .update(await readFile(GUEST_INIT))
    .update(await readFile(GUEST_RESTORE))
    .update(GUEST_MODULES.join(','))
    .update(`root disk ${ROOT_DISK_MB} MB`);
}

/** `apt` picks the packages' versions and downloads them: the host's, or (ccloudvm's base image)
 *  the apt of the tree the image goes into, so setup there finds the versions its apt picks. */
export async function buildVmImage(cacheDir: string, progress: (note: string) => void = () => {}, apt: Apt = HOST_APT): Promise<VmImage> {
  const packages = await vmImagePackages(cacheDir, apt);
  const kernelPkg = packages[0];
  progress('Debian packages');
  const dirs = await unpackPackages(join(cacheDir, 'debs'), packages, apt);
  const hash = (await vmImageSourceHash())
    .update([...dirs.values()].map((d) => basename(d)).join(','))
    .digest('hex').slice(0, 16);
  const outDir = join(cacheDir, `vm-${hash}`);
  const image = { kernel: join(outDir, 'vmlinuz'), initrd: join(outDir, 'initrd.gz'), root: join(outDir, 'root.qcow2'), hash };
  if (await exists(image.initrd) && await exists(image.root)) return image;

  progress('initramfs');
  const kernelRoot = dirs.get(kernelPkg)!;
  const kernelVersion = kernelPkg.replace(/^linux-image-/, '');
  // work/root is the tree; the cpio and ext4 made from it go beside it, not into it.
  await withTempDir('ciao-initramfs', async (work) => {
    const root = join(work, 'root');
    await mkdir(root);
    // It becomes the guest's "/": 0755 whatever the umask, or users could not reach their keys.
    await chmod(root, 0o755);
    for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'lib/modules', 'lib64', 'lib/x86_64-linux-gnu', 'etc', 'proc', 'sys', 'dev', 'tmp', 'run', 'mnt/config', 'home', 'root', 'var/log']) {
      await mkdir(join(root, d), { recursive: true });
    }
    await copyFile(join(dirs.get('busybox-static')!, 'bin/busybox'), join(root, 'bin/busybox'));
    const dropbear = join(dirs.get('dropbear-bin')!, 'usr/sbin/dropbear');
    await copyFile(dropbear, join(root, 'usr/sbin/dropbear'));
    for (const lib of await sharedLibraries(dropbear, [...dirs.values()].map((d) => join(d, 'usr/lib/x86_64-linux-gnu')))) {
      const dest = lib.endsWith('ld-linux-x86-64.so.2') ? join(root, 'lib64', basename(lib)) : join(root, 'lib/x86_64-linux-gnu', basename(lib));
      await copyFile(lib, dest);
    }
    for (const m of GUEST_MODULES) {
      const found = (await run('find', [join(kernelRoot, 'lib/modules', kernelVersion), '-name', `${m}.ko`])).stdout.trim().split('\n')[0];
      if (!found) throw new Error(`kernel ${kernelVersion} has no module ${m}`);
      await copyFile(found, join(root, 'lib/modules', `${m}.ko`));
    }
    await writeFile(join(root, 'lib/modules/load-order'), GUEST_MODULES.join('\n') + '\n');
    await run('gcc', ['-static', '-Os', '-s', '-Wall', '-o', join(root, 'sbin/ciao-restore'), GUEST_RESTORE]);
    await copyFile(GUEST_INIT, join(root, 'init'));
    await chmod(join(root, 'init'), 0o755);

    await mkdir(outDir, { recursive: true });
    const files = (await run('find', ['.'], { cwd: root })).stdout;
    const cpio = join(work, 'initramfs.cpio');
    await run('cpio', ['-o', '-H', 'newc', '-O', cpio, '--quiet'], { cwd: root, input: files });
    await pipeline(createReadStream(cpio), createGzip({ level: 1 }), createWriteStream(`${image.initrd}.partial`));
    progress('root disk');
    const raw = join(work, 'root.ext4');
    await run('mke2fs', ['-q', '-t', 'ext4', '-L', 'ciao-root', '-d', root, '-F', raw, `${ROOT_DISK_MB}M`]);
    await run('qemu-img', ['convert', '-q', '-c', '-f', 'raw', '-O', 'qcow2', raw, image.root]);
    await copyFile(join(kernelRoot, 'boot', `vmlinuz-${kernelVersion}`), image.kernel);
    await rename(`${image.initrd}.partial`, image.initrd);
  });
  return image;
}

/** The shared libraries a binary loads, found in the unpacked packages first, then the host's (same Debian release). */
async function sharedLibraries(binary: string, extraDirs: string[]): Promise<string[]> {
  const { stdout } = await run('ldd', [binary], { env: { ...process.env, LD_LIBRARY_PATH: extraDirs.join(':') } });
  const libs: string[] = [];
  for (const line of stdout.split('\n')) {
    const m = /=>\s+(\S+)/.exec(line) ?? /^\s*(\/\S+ld-linux\S*)/.exec(line);
    if (m && m[1].startsWith('/')) libs.push(m[1]);
    else if (/not found/.test(line)) throw new Error(`${basename(binary)} needs ${line.trim()}`);
  }
  return libs;
}
