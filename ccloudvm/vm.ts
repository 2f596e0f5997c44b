// One nested VM: its folder, its record, and its processes. QEMU boots the base image's kernel on
// a copy-on-write overlay of its disk, with a config drive (first boot), QEMU's user-mode network
// (forwards on the host's loopback only: nothing is added to the host's network) and the project
// tree shared through virtiofs. QEMU and virtiofsd run detached, so the VM outlives the command.
import { access, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { isAlive } from '../shared/is-alive.ts';
import { readPidFile, startDetached, stopFromPidFile, stopProcess } from '../shared/detached.ts';
import { run } from '../shared/run.ts';
import { waitFor } from '../shared/wait-for.ts';
import { qmp } from '../launcher/qmp.ts';
import { ROOT_LABEL } from './image.ts';
import type { ProxySettings } from './proxy.ts';

export const VIRTIOFSD = '/usr/lib/qemu/virtiofsd';
/** The tag the guest mounts the shared tree by. */
export const SHARE_TAG = 'ciao';

export interface Forward {
  host: number;
  guest: number;
  what: string;
}

export interface VmRecord {
  name: string;
  cpus: number;
  memMB: number;
  diskGB: number;
  accel: 'kvm' | 'tcg';
  accelWhy: string;
  /** Host loopback port → guest port; the first is SSH. */
  forwards: Forward[];
  /** The project tree, shared at the same path inside. */
  share: string;
  /** The proxy as the user gave it, and as the guest uses it. */
  proxy: { host: ProxySettings; guest: ProxySettings };
  image: { hash: string; kernel: string; initrd: string; disk: string };
  /** The Debian mirror the image came from (doctor fetches from it through the proxy). */
  mirror: string;
  createdAt: string;
  /** When the first boot's provisioning finished (absent until then). */
  readyAt?: string;
}

export const vmsDir = (home = process.env.CIAO_HOME ?? join(homedir(), 'local')) => join(home, 'ccloudvm');

export function vmPaths(name: string) {
  const dir = join(vmsDir(), name);
  return {
    dir,
    record: join(dir, 'vm.json'),
    disk: join(dir, 'disk.qcow2'),
    seed: join(dir, 'seed.iso'),
    key: join(dir, 'id_ed25519'),
    knownHosts: join(dir, 'known_hosts'),
    console: join(dir, 'console.log'),
    qmp: join(dir, 'qmp.sock'),
    qemuPid: join(dir, 'qemu.pid'),
    qemuLog: join(dir, 'qemu.log'),
    fsSocket: join(dir, 'virtiofs.sock'),
    fsPid: join(dir, 'virtiofsd.pid'),
    fsLog: join(dir, 'virtiofsd.log'),
    /** The SSH connection every command shares (guest.ts, sshArgs). */
    sshControl: join(dir, 'ssh.sock'),
  };
}

/** The longest path a unix socket may have (sun_path, less its terminating NUL). */
export const UNIX_PATH_MAX = 107;

/** Closes the VM's shared SSH connection (its master process runs on the host until then). */
export async function closeSshConnection(name: string): Promise<void> {
  const control = vmPaths(name).sshControl;
  if (!await access(control).then(() => true, () => false)) return;
  await run('ssh', ['-o', `ControlPath=${control}`, '-O', 'exit', 'ccloudvm'], { allowFailure: true, timeout: 10_000 });
  await rm(control, { force: true });
}

/** Under TCG: everything QEMU emulates but the AVX family, whose emulation is new in QEMU 7.2
 *  (`qemu64`, with far less, was no better: docs/ccloudvm.md). SVM stays for whoever forces nested
 *  KVM inside; by default the cluster's VMs inside run under TCG (docs/ccloudvm.md, "VMs inside"). */
export const TCG_CPU = 'max,avx=off,avx2=off,f16c=off,fma=off,vaes=off,vpclmulqdq=off';

/** Under TCG, a thread per vCPU. With it, processes inside die of SIGSEGV or SIGILL now and then
 *  (QEMU 7.2); one thread for all (`thread=single`) was not seen to do so but boots the cluster's
 *  VMs inside more than twice as slowly (docs/ccloudvm.md, "Processes dying inside a TCG VM"). */
export const TCG_ACCEL = 'tcg,thread=multi';

export const validVmName = (name: string) => /^[a-z][a-z0-9-]{0,31}$/.test(name);

export async function readRecord(name: string): Promise<VmRecord | undefined> {
  return readFile(vmPaths(name).record, 'utf8').then((s) => JSON.parse(s) as VmRecord, () => undefined);
}

export async function writeRecord(r: VmRecord): Promise<void> {
  const file = vmPaths(r.name).record;
  await writeFile(`${file}.tmp`, JSON.stringify(r, null, 2) + '\n');
  await rename(`${file}.tmp`, file);
}

export async function listVms(): Promise<string[]> {
  const names = await readdir(vmsDir()).catch(() => [] as string[]);
  const out: string[] = [];
  for (const n of names.sort()) if (await access(vmPaths(n).record).then(() => true, () => false)) out.push(n);
  return out;
}

export const qemuPid = (name: string) => readPidFile(vmPaths(name).qemuPid);

/** The QEMU command line of a VM (without the binary). */
export function qemuArgs(r: VmRecord): string[] {
  const p = vmPaths(r.name);
  const hostfwd = r.forwards.map((f) => `hostfwd=tcp:127.0.0.1:${f.host}-:${f.guest}`).join(',');
  return [
    '-name', `ccloudvm-${r.name}`,
    '-machine', 'q35', '-accel', r.accel === 'kvm' ? 'kvm' : TCG_ACCEL, '-cpu', r.accel === 'kvm' ? 'host' : TCG_CPU,
    '-smp', String(r.cpus), '-m', String(r.memMB),
    // virtiofs needs the guest's memory shared with virtiofsd.
    '-object', `memory-backend-memfd,id=mem,size=${r.memMB}M,share=on`, '-numa', 'node,memdev=mem',
    '-kernel', r.image.kernel, '-initrd', r.image.initrd,
    '-append', `root=LABEL=${ROOT_LABEL} rw console=ttyS0 quiet`,
    '-drive', `file=${p.disk},if=virtio,format=qcow2`,
    '-drive', `file=${p.seed},if=virtio,format=raw,readonly=on`,
    '-netdev', `user,id=n0,${hostfwd}`, '-device', 'virtio-net-pci,netdev=n0',
    '-chardev', `socket,id=fs0,path=${p.fsSocket}`, '-device', `vhost-user-fs-pci,chardev=fs0,tag=${SHARE_TAG}`,
    '-display', 'none', '-serial', `file:${p.console}`, '-monitor', 'none',
    '-qmp', `unix:${p.qmp},server=on,wait=off`, '-pidfile', p.qemuPid,
  ];
}

/** Starts virtiofsd and QEMU (both detached); returns once QEMU answers on QMP. */
export async function startVm(r: VmRecord): Promise<void> {
  const p = vmPaths(r.name);
  if (await qemuPid(r.name)) throw new Error(`VM ${r.name} is already running`);
  await stopVirtiofsd(r.name);
  for (const f of [p.fsSocket, p.qmp, p.qemuPid]) await rm(f, { force: true });

  await startDetached({
    name: 'virtiofsd', command: VIRTIOFSD, args: ['-f', `--socket-path=${p.fsSocket}`, '-o', `source=${r.share}`, '-o', 'cache=auto', '-o', 'xattr'],
    log: p.fsLog, pidFile: p.fsPid, ready: () => access(p.fsSocket).then(() => true, () => false), pollMs: 50,
  });
  try {
    await startDetached({
      name: 'QEMU', command: 'qemu-system-x86_64', args: qemuArgs(r), log: p.qemuLog, pidFile: p.qemuPid, pidFileBy: 'process',
      ready: () => qmp(p.qmp, 'query-status').then(() => true, () => false), pollMs: 50,
    });
  } catch (err) {
    await stopFromPidFile(p.fsPid);
    throw err;
  }
}

const stopVirtiofsd = (name: string) => stopFromPidFile(vmPaths(name).fsPid, 5000);

/** Stops a VM: the guest is asked to power off (`askGuest`; by default ACPI's power button) and
 *  given `graceMs` to sync its disk and go; then QEMU quits. */
export async function stopVm(name: string, graceMs: number, askGuest?: () => Promise<boolean>): Promise<'shut down' | 'killed' | 'not running'> {
  const p = vmPaths(name);
  const pid = await qemuPid(name);
  let how: 'shut down' | 'killed' | 'not running' = 'not running';
  if (pid) {
    how = 'shut down';
    const gone = () => !isAlive(pid);
    const ask = askGuest ?? (() => qmp(p.qmp, 'system_powerdown').then(() => true, () => false));
    const asked = graceMs > 0 && await ask();
    if (!asked || !await waitFor('the guest to shut down', gone, { timeoutMs: graceMs, intervalMs: 200 }).catch(() => false)) {
      how = 'killed';
      await qmp(p.qmp, 'quit').catch(() => undefined);
      await stopProcess(pid, 10_000);
    }
  }
  await closeSshConnection(name);
  await stopVirtiofsd(name);
  return how;
}

export async function deleteVm(name: string): Promise<void> {
  await stopVm(name, 0);
  await rm(vmPaths(name).dir, { recursive: true, force: true });
}

export async function ensureDir(name: string): Promise<void> {
  await mkdir(vmPaths(name).dir, { recursive: true, mode: 0o700 });
}
