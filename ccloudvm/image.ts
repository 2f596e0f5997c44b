// The nested VM's base image (SPEC §8): Debian of the host's release from the host's own mirror
// (debootstrap), with systemd, an SSH server, the cluster's packages, the host's Node.js and a
// first-boot unit that runs the user data of the VM's config drive (cloud-init style). It is an
// ext4 disk (qcow2) plus the kernel and initrd that boot it directly; each VM is an overlay of it.
// Cached by a hash of everything that goes into it.
import { createHash } from 'node:crypto';
import { access, chmod, cp, mkdir, readdir, readFile, realpath, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { run } from '../shared/run.ts';
import { buildVmImage, vmImageSourceHash } from '../images/vm-image.ts';
import type { Apt } from '../images/debian-packages.ts';
import { hostDebian, type HostDebian } from './host-debian.ts';

const ROOT = join(import.meta.dirname, '..');
/** The root filesystem's size; a VM's disk may be larger (first boot grows the filesystem). */
export const BASE_DISK_GB = 8;
export const ROOT_LABEL = 'ccloudvm-root';
export const SEED_LABEL = 'cidata';

/** What the VM itself needs: an init, a network, an SSH server, the kernel, and the proxy hops' tools. */
const BASE_PACKAGES = ['systemd-sysv', 'udev', 'kmod', 'iproute2', 'openssh-server', 'ca-certificates', 'curl', 'git',
  'procps', 'initramfs-tools', 'linux-image-cloud-amd64',
  // Docker applies its default AppArmor profile when the kernel has AppArmor (Debian's does).
  'apparmor'];

export interface BaseImage {
  disk: string;
  kernel: string;
  initrd: string;
  hash: string;
}

export interface BuildOptions {
  cacheDir: string;
  progress?: (note: string) => void;
  /** The environment debootstrap and apt run in (the user's proxy variables reach them). */
  env?: NodeJS.ProcessEnv;
}

const exists = (p: string) => access(p).then(() => true, () => false);

/** Runs the first boot's user data (the config drive's `user-data`, a shell script) until it succeeds once. */
const FIRSTBOOT_SCRIPT = `#!/bin/bash
# ccloudvm first boot: runs the user data of the config drive (label ${SEED_LABEL}) until it succeeds once.
set -uo pipefail
say() { echo "ccloudvm: $*" | tee /dev/ttyS0; }
dev=$(blkid -L ${SEED_LABEL}) || { say "no config drive (label ${SEED_LABEL})"; exit 1; }
mkdir -p /run/cidata /var/lib/ccloudvm
mount -o ro "$dev" /run/cidata || { say "cannot mount the config drive $dev"; exit 1; }
say "provisioning"
bash /run/cidata/user-data 2>&1 | tee -a /var/log/ccloudvm-provision.log > /dev/ttyS0
status=\${PIPESTATUS[0]}
umount /run/cidata
if [ "$status" -ne 0 ]; then say "provisioning failed (exit $status): /var/log/ccloudvm-provision.log"; exit 1; fi
touch /var/lib/ccloudvm/provisioned
say "provisioned"
`;

const HOST_KEY = '/etc/ssh/ssh_host_ed25519_key';
const HOST_KEY_COMMAND = `/bin/sh -c 'test -e ${HOST_KEY} || exec /usr/bin/ssh-keygen -q -t ed25519 -N "" -f ${HOST_KEY}'`;

/** Started by the first boot once their proxy settings are written (not at every boot before that:
 *  a start, then a restart for the proxy, cost two starts of Docker under TCG). */
export const STARTED_BY_FIRST_BOOT = ['containerd.service', 'docker.socket', 'docker.service'];

/** Names the build's steps in the hash (files and packages are there by content): change it when
 *  a step changes what the image holds. 2: lists and apt's cache kept, Docker off until the first
 *  boot, the cluster's VM image inside, e2scrub_reap and getty-static masked. 3: the VM image's
 *  packages picked by the image's own apt, its answers kept for the image's lists. */
const RECIPE = 3;

/** Files the image gets, by path; they are part of its hash. */
function imageFiles(debian: HostDebian): Record<string, string> {
  const sources = [`deb ${debian.mirror} ${debian.codename} main`, `deb ${debian.mirror} ${debian.codename}-updates main`];
  if (debian.security) sources.push(`deb ${debian.security} ${debian.codename}-security main`);
  return {
    '/etc/apt/sources.list': sources.join('\n') + '\n',
    '/etc/hostname': 'ccloudvm\n',
    '/etc/hosts': '127.0.0.1 localhost\n127.0.1.1 ccloudvm\n::1 localhost ip6-localhost ip6-loopback\n',
    '/etc/fstab': `LABEL=${ROOT_LABEL} / ext4 defaults,errors=remount-ro 0 1\n`,
    // QEMU's user-mode network: DHCP hands out 10.0.2.15, 10.0.2.2 is the host, 10.0.2.3 its DNS.
    '/etc/systemd/network/80-ccloudvm.network': '[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n',
    '/etc/resolv.conf': 'nameserver 10.0.2.3\n',
    // One host key, Ed25519: made in milliseconds, where `ssh-keygen -A`'s RSA key took 5–30 s of
    // the first boot under TCG (docs/ccloudvm.md, "Where create's time goes").
    '/etc/ssh/sshd_config.d/ccloudvm.conf': 'PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\nHostKey /etc/ssh/ssh_host_ed25519_key\n',
    // The host key is made at the first start of sshd, so no two VMs share it.
    '/etc/systemd/system/ssh.service.d/host-keys.conf': `[Service]\nExecStartPre=\nExecStartPre=${HOST_KEY_COMMAND}\nExecStartPre=/usr/sbin/sshd -t\n`,
    // Package lists without translations: the lists stay in the image, and the first boot's
    // `apt-get update` only checks them (docs/ccloudvm.md).
    '/etc/apt/apt.conf.d/80ccloudvm-lists': 'Acquire::Languages "none";\n',
    // Docker as setup runs it on bare metal: no docker0 bridge (its 172.17/16 is inside the
    // cluster's tenant range), no iptables rules; containers get their network from the cluster.
    '/etc/docker/daemon.json': JSON.stringify({ bridge: 'none', iptables: false, 'ip-masq': false }) + '\n',
    '/usr/local/sbin/ccloudvm-firstboot': FIRSTBOOT_SCRIPT,
    '/etc/systemd/system/ccloudvm-firstboot.service': [
      '[Unit]', 'Description=ccloudvm first-boot provisioning (the config drive\'s user data)',
      'Wants=network-online.target', 'After=network-online.target', 'ConditionPathExists=!/var/lib/ccloudvm/provisioned', '',
      '[Service]', 'Type=oneshot', 'RemainAfterExit=yes', 'TimeoutStartSec=infinity', 'ExecStart=/usr/local/sbin/ccloudvm-firstboot', '',
      '[Install]', 'WantedBy=multi-user.target', '',
    ].join('\n'),
  };
}

/** The cluster's packages: what `install-system-deps.sh --cluster` would install. */
async function clusterPackages(): Promise<string[]> {
  const out = (await run(join(ROOT, 'scripts/install-system-deps.sh'), ['--cluster', '--print'])).stdout;
  return out.split('\n').filter(Boolean);
}

/** The host's Node.js (binary and npm), copied in: the VM runs exactly the host's version. */
async function hostNode(): Promise<{ node: string; npm: string; version: string }> {
  const npmCli = await realpath(join(dirname(process.execPath), 'npm')).catch(async () =>
    realpath((await run('sh', ['-c', 'command -v npm'])).stdout.trim()));
  const npm = npmCli.slice(0, npmCli.lastIndexOf('/node_modules/npm/') + '/node_modules/npm'.length);
  if (!npm.endsWith('/node_modules/npm')) throw new Error(`cannot find npm's folder from ${npmCli}`);
  return { node: process.execPath, npm, version: process.version };
}

export async function buildBaseImage(opts: BuildOptions): Promise<BaseImage> {
  const progress = opts.progress ?? (() => {});
  const debian = await hostDebian();
  const packages = await clusterPackages();
  const node = await hostNode();
  const files = imageFiles(debian);
  // The cluster's VM image inside is built from this tree: its sources are part of the key, or
  // setup inside would rebuild it on an emulated CPU (62–77 s) after guest-init.sh changed.
  const vmImage = (await vmImageSourceHash()).digest('hex');
  const hash = createHash('sha256')
    .update(JSON.stringify({ debian, BASE_PACKAGES, packages, node: node.version, files, BASE_DISK_GB, RECIPE, vmImage }))
    .digest('hex').slice(0, 16);
  const dir = join(opts.cacheDir, `base-${hash}`);
  const image = { disk: join(dir, 'disk.qcow2'), kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.img'), hash };
  if (await exists(image.disk)) return image;

  const work = `${dir}.partial`;
  const root = join(work, 'root');
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const env = opts.env ?? process.env;
  // Both run in a mount namespace of their own: whatever they mount (proc, sys) goes when they end,
  // even if they are killed, and the host's mount table never sees it.
  progress(`debootstrap ${debian.codename} from ${debian.mirror}`);
  await run('unshare', ['--mount', '--propagation', 'private', 'debootstrap', '--variant=minbase', `--include=${BASE_PACKAGES.join(',')}`,
    '--components=main', debian.codename, root, debian.mirror], { env });
  const inRoot = (args: string[]) => run('unshare', ['--mount', '--pid', '--fork', `--mount-proc=${join(root, 'proc')}`, 'chroot', root, ...args],
    { env: { ...env, DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' } });

  progress(`the cluster's packages (${packages.length})`);
  await writeFile(join(root, 'etc/apt/sources.list'), files['/etc/apt/sources.list']);
  await writeFile(join(root, 'etc/resolv.conf'), await readFile('/etc/resolv.conf'));
  // No service starts inside the build.
  await writeFile(join(root, 'usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  await mkdir(join(root, 'etc/apt/apt.conf.d'), { recursive: true });
  await writeFile(join(root, 'etc/apt/apt.conf.d/80ccloudvm-lists'), files['/etc/apt/apt.conf.d/80ccloudvm-lists']);
  await inRoot(['apt-get', 'update', '-qq']);
  await inRoot(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...packages]);
  await inRoot(['apt-get', 'clean']);
  // apt's cache of the lists, made here: made at the first apt command inside, it took 30–60 s of
  // an emulated CPU (and setup inside asks apt-cache for versions).
  await inRoot(['apt-cache', 'gencaches']);
  await rm(join(root, 'usr/sbin/policy-rc.d'));

  progress('configure');
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text, { mode: path.includes('/sbin/') ? 0o755 : 0o644 });
  }
  for (const f of await readdir(join(root, 'etc/ssh'))) if (f.startsWith('ssh_host_')) await rm(join(root, 'etc/ssh', f));
  await cp(node.node, join(root, 'usr/local/bin/node'), { preserveTimestamps: true });
  await cp(node.npm, join(root, 'usr/local/lib/node_modules/npm'), { recursive: true, verbatimSymlinks: true });
  await symlink('../lib/node_modules/npm/bin/npm-cli.js', join(root, 'usr/local/bin/npm'));
  await symlink('../lib/node_modules/npm/bin/npx-cli.js', join(root, 'usr/local/bin/npx'));
  await inRoot(['systemctl', 'enable', '--quiet', 'systemd-networkd', 'systemd-networkd-wait-online', 'ccloudvm-firstboot']);
  await inRoot(['systemctl', 'disable', '--quiet', ...STARTED_BY_FIRST_BOOT]);
  // Timers that would wake apt, man-db and the like in a VM that may run under TCG: off.
  await inRoot(['systemctl', 'mask', '--quiet', 'apt-daily.timer', 'apt-daily-upgrade.timer', 'man-db.timer', 'e2scrub_all.timer', 'fstrim.timer',
    // Nothing for them to do here (no LVM snapshots, no console but the serial one); 6–30 s of boot each under TCG.
    'e2scrub_reap.service', 'getty-static.service']);
  await inRoot(['update-initramfs', '-u', '-k', 'all']);
  // The package lists stay: fetching them inside the VM took two minutes under TCG (slirp, and
  // decompressing 15 MB on an emulated CPU); the first boot's `apt-get update` (through the user's
  // proxy) only checks them and fetches what changed since.

  // The cluster's VM image, as setup inside would build it (its Debian packages unpacked, the
  // initramfs and root disk made): setup inside then starts warm instead of downloading them
  // through QEMU's user network (108 s under TCG). Built here, on the host, with the image's own
  // apt (its lists, in the chroot) picking and fetching the packages, and apt's answers kept for
  // the image's lists: setup inside asks apt nothing (with the host's answers, kept for the host's
  // lists, it asked again: six apt-cache runs on an emulated CPU at its first run). The image's
  // key covers the VM image's sources, so a tree whose guest changed gets a new base. (A VM made
  // from an older base before that still works: setup inside rebuilds it from the packages here.)
  progress("the cluster's VM image");
  await buildVmImage(join(root, 'root/.cache/ciao/images'), () => {}, chrootApt(root, inRoot));

  progress('disk');
  const boot = await readdir(join(root, 'boot'));
  const kernel = boot.find((f) => f.startsWith('vmlinuz-'));
  const initrd = boot.find((f) => f.startsWith('initrd.img-'));
  if (!kernel || !initrd) throw new Error(`the image has no kernel or initrd in /boot (${boot.join(' ')})`);
  await cp(join(root, 'boot', kernel), join(work, 'vmlinuz'));
  await cp(join(root, 'boot', initrd), join(work, 'initrd.img'));
  await chmod(join(work, 'initrd.img'), 0o644);
  const raw = join(work, 'disk.raw');
  await run('mke2fs', ['-q', '-t', 'ext4', '-L', ROOT_LABEL, '-d', root, raw, `${BASE_DISK_GB}G`]);
  await run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, join(work, 'disk.qcow2')]);
  await rm(raw);
  await rm(root, { recursive: true, force: true });
  await rm(dir, { recursive: true, force: true });
  await rename(work, dir);
  return image;
}

/** The apt of the tree being built (its lists, its sources, its pinning), run in the chroot; a
 *  download lands in the tree's apt cache and is moved out to `dir`. */
function chrootApt(root: string, inRoot: (args: string[]) => Promise<{ stdout: string }>): Apt {
  const inside = '/var/cache/apt/archives/ciao-download';
  return {
    root,
    cache: async (args) => (await inRoot(['apt-cache', ...args])).stdout,
    async download(spec, dir) {
      await rm(join(root, inside), { recursive: true, force: true });
      await mkdir(join(root, inside), { recursive: true });
      await inRoot(['sh', '-c', 'cd "$1" && exec apt-get download -q "$2"', 'sh', inside, spec]);
      for (const f of await readdir(join(root, inside))) await rename(join(root, inside, f), join(dir, f));
      await rm(join(root, inside), { recursive: true, force: true });
    },
  };
}

/** Removes cached base images other than `keep` (the newest, and those VMs still boot from). */
export async function pruneBaseImages(cacheDir: string, keep: string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const entry of await readdir(cacheDir).catch(() => [] as string[])) {
    const m = /^base-([0-9a-f]+)(\.partial)?$/.exec(entry);
    if (!m || (keep.includes(m[1]) && !m[2])) continue;
    await rm(join(cacheDir, entry), { recursive: true, force: true });
    removed.push(entry);
  }
  return removed;
}
