// Snapshot templates (docs/vm-snapshots.md): per image and shape (vcpus, memory), one VM booted
// until its init parks waiting for an identity, then saved (its memory in a file, its devices and
// CPU in a migration stream), kept on disk under a key of everything it depends on. VMs of that
// shape (first starts, restarts, rescues: every start but a resume) are restored from it (vm-restore.ts) instead of booting.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { setPriority } from 'node:os';
import { access, mkdir, readdir, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../shared/run.ts';
import { startDetached, stopProcess } from '../shared/detached.ts';
import { AbortError, waitFor } from '../shared/wait-for.ts';
import { qmp } from './qmp.ts';

/** Changes whenever the template's machine (its arguments below, the identity line) changes. */
export const TEMPLATE_FORMAT = 7;
/** The guest's init says this on its console once parked (images/guest-init.sh). */
export const PARKED_LINE = 'ciao-vm: parked for a snapshot';
/** Root ports: vp0…vp7 for volumes (as every VM has), then the config drive, the disk and the NIC.
 *  The template boots with stand-ins for the last three (a restored VM's own take their place: the
 *  guest finds them there at once, no hot-plug), probed in bus order: the config drive is vda and
 *  the disk vdb, as on a cold boot's command line; volumes are hot-plugged after them. */
export const VOLUME_PORTS = 8;
export const PORTS = { config: 'vcfg', disk: 'vdisk', nic: 'vnic' } as const;
/** The template's NIC's MAC, which no instance has (controller/addresses.ts: 02:00 and its IPv4
 *  address); a restored guest sets its own, from the identity line. */
export const TEMPLATE_MAC = '02:00:00:00:00:00';
/** Every config drive is this size (padded with zeros: ISO 9660 ignores them), the template's
 *  stand-in too: the guest knows a disk's size from its probe, in the template. */
export const CONFIG_DRIVE_BYTES = 8 * 2 ** 20;
/** Paths go into QEMU's option syntax (commas) and exec: migration's shell: nothing that needs quoting. */
const PLAIN_PATH = /^[A-Za-z0-9_./-]+$/;
const BOOT_TIMEOUT_MS = 120_000;
/** A template made in the background takes only the CPU nothing else wants. */
const BACKGROUND_NICE = 19;
/** …and may wait long for it on a busy machine. */
const BACKGROUND_TIMEOUT_MS = 600_000;

/** A virtio disk to hot-plug: on a root port, with a serial (volumes) or none (config drive, disk). */
export interface PluggedDisk {
  node: string;
  device: string;
  port: string;
  file: string;
  format: 'raw' | 'qcow2';
  readOnly?: boolean;
  serial?: string;
}

export interface RestoreDevices {
  disks: PluggedDisk[];
  /** Its tap; none: a NIC on no network (a template's). */
  nic: { tap?: string; mac: string };
}

/** The stand-ins a template boots with, in its folder: the config drive and disk a restored VM's
 *  own replace (same node names, ids and ports: restoredDeviceArgs), and a NIC without a network. */
export function templateDevices(shape: SnapshotShape, dir: string): RestoreDevices {
  return {
    disks: [
      { node: 'config', device: 'config', port: PORTS.config, file: join(dir, 'config.stand-in'), format: 'raw', readOnly: true },
      ...(shape.diskMB > 0 ? [{ node: 'disk', device: 'disk', port: PORTS.disk, file: join(dir, 'disk.stand-in.qcow2'), format: 'qcow2' as const }] : []),
    ],
    nic: { mac: TEMPLATE_MAC },
  };
}

/** Devices on a command line, where a template and its machine have them (same ids and ports):
 *  the template's stand-ins, a restored VM's own in their place, and a restored VM resumed after
 *  a suspend (its volumes too: its saved machine has them). */
export function restoredDeviceArgs(devices: RestoreDevices): string[] {
  const { tap, mac } = devices.nic;
  return [
    ...devices.disks.flatMap((d) => [
      '-blockdev', `driver=${d.format},node-name=${d.node},read-only=${d.readOnly ? 'on' : 'off'},file.driver=file,file.filename=${plainPath(d.file)}`,
      '-device', `virtio-blk-pci,drive=${d.node},id=${d.device},bus=${d.port}${d.serial ? `,serial=${d.serial}` : ''}`,
    ]),
    ...(tap ? ['-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`] : []),
    // romfile "": no option ROM (a cold-booted VM's BIOS uses it; a running guest does not).
    '-device', `virtio-net-pci,${tap ? 'netdev=n0,' : ''}id=nic0,mac=${mac},bus=${PORTS.nic},romfile=`,
  ];
}

export interface SnapshotShape {
  kernel: string;
  initrd: string;
  vcpus: number;
  memMB: number;
  /** The instance's own disk (0: none): the template's stand-in has its size. */
  diskMB: number;
  accel: 'tcg' | 'kvm';
}

export interface Template {
  key: string;
  dir: string;
  ram: string;
  state: string;
  console: string;
  shape: SnapshotShape;
}

export type TemplateLookup = { template: Template } | { reason: string };

const exists = (path: string) => access(path).then(() => true, () => false);

export function plainPath(path: string): string {
  if (!PLAIN_PATH.test(path)) throw new Error(`${path} has characters QEMU's options or its exec: migration would misread`);
  return path;
}

/** The accelerator, for every VM's QEMU (a template's, a restored VM's, a cold boot's). TCG's
 *  code buffer as two mappings of a memfd (split-wx): QEMU asks for transparent huge pages on the
 *  anonymous buffer it uses otherwise, and each 2 MiB page it touches is zeroed whole; on a host
 *  that is itself a VM handing freed memory back to its hypervisor, that zeroing is paid again per
 *  page (about a fifth of a BAT's QEMU CPU, measured: docs/vm-snapshots.md, "Where the CPU goes").
 *  Shared memory gets no huge pages by default. */
export function accelArgs(accel: 'tcg' | 'kvm'): string[] {
  return ['-accel', accel === 'tcg' ? 'tcg,split-wx=on' : 'kvm'];
}

/** The machine a template and every VM restored from it share: QEMU refuses a migration stream
 *  for devices it does not have, so both are built here. */
export function templateMachineArgs(shape: SnapshotShape, ram: string, share: boolean): string[] {
  return [
    '-machine', 'q35,memory-backend=ram0', ...accelArgs(shape.accel), '-cpu', shape.accel === 'kvm' ? 'host' : 'max',
    '-m', String(shape.memMB), '-smp', String(shape.vcpus), '-nographic', '-no-reboot',
    // No default NIC (q35 would add an e1000e on a user-mode network): the VM's is on PORTS.nic.
    // No VGA (q35's default: 16 MiB of video memory in every copy's migration stream and memory;
    // the console is ttyS0).
    '-nic', 'none', '-vga', 'none',
    '-object', `memory-backend-file,id=ram0,size=${shape.memMB}M,mem-path=${plainPath(ram)},share=${share ? 'on' : 'off'}`,
    '-kernel', plainPath(shape.kernel), '-initrd', plainPath(shape.initrd), '-append', 'console=ttyS0 panic=-1 no_timer_check ciao.snapshot',
    ...Array.from({ length: VOLUME_PORTS }, (_, n) => ['-device', `pcie-root-port,id=vp${n},chassis=${n + 1}`]).flat(),
    ...Object.values(PORTS).flatMap((id, n) => ['-device', `pcie-root-port,id=${id},chassis=${VOLUME_PORTS + n + 1}`]),
    // ttyS0 is the console (as -nographic makes it); ttyS1 carries the identity (chardev "ident").
    '-serial', 'mon:stdio', '-serial', 'chardev:ident',
  ];
}

async function fileHash(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export interface VmSnapshotsOptions {
  /** Where templates are kept (shared by every cluster of the machine). */
  dir: string;
  /** Where a template's QEMU keeps its QMP socket and pid file while it is made: the node's state
   *  folder, so the cluster's stop and cleanup find that QEMU by path as they find its VMs. */
  runDir: string;
  log: (message: string, fields?: Record<string, unknown>) => void;
}

/** The templates of one launcher: looked up by shape, made in the background when missing. */
export class VmSnapshots {
  private readonly making = new Map<string, Promise<void>>();
  private readonly failed = new Map<string, string>();
  /** The QEMUs of templates made in the background (niced), by key: hurried when a VM waits for one. */
  private readonly background = new Map<string, { pid?: number; hurried: boolean }>();
  private readonly fileHashes = new Map<string, Promise<string>>();
  private qemuVersion?: Promise<string>;

  constructor(private readonly opts: VmSnapshotsOptions) {
    plainPath(opts.dir);
  }

  /** The key of everything a template depends on. */
  async keyOf(shape: SnapshotShape): Promise<string> {
    this.qemuVersion ??= run('qemu-system-x86_64', ['--version']).then((r) => r.stdout.split('\n')[0]);
    const hashOf = (path: string) => {
      if (!this.fileHashes.has(path)) this.fileHashes.set(path, fileHash(path));
      return this.fileHashes.get(path)!;
    };
    const inputs = [TEMPLATE_FORMAT, await hashOf(shape.kernel), await hashOf(shape.initrd), shape.vcpus, shape.memMB, shape.diskMB, shape.accel, await this.qemuVersion];
    return createHash('sha256').update(JSON.stringify(inputs)).digest('hex').slice(0, 24);
  }

  private templateAt(key: string, shape: SnapshotShape): Template {
    const dir = join(this.opts.dir, key);
    return { key, dir, ram: join(dir, 'ram'), state: join(dir, 'state'), console: join(dir, 'console.log'), shape };
  }

  /** The template for this shape when it is ready; otherwise why not, and (once) it is made. */
  async lookup(shape: SnapshotShape): Promise<TemplateLookup> {
    const key = await this.keyOf(shape);
    const template = this.templateAt(key, shape);
    if (await exists(join(template.dir, 'template.json'))) return { template };
    const failure = this.failed.get(key);
    if (failure) return { reason: `the template could not be made: ${failure}` };
    this.hurry(key);
    void this.prepare(shape);
    return { reason: 'no template yet for this image and shape: it is being made' };
  }

  /** Makes the template for this shape unless it exists or is being made; resolves when it is there.
   *  In the `background`, its QEMU runs niced (a VM waiting for it hurries it: lookup), and a failure
   *  is not kept (a VM of that shape tries again). */
  async prepare(shape: SnapshotShape, { background = false } = {}): Promise<void> {
    const key = await this.keyOf(shape);
    const template = this.templateAt(key, shape);
    if (await exists(join(template.dir, 'template.json'))) return;
    if (!this.making.has(key)) {
      const started = performance.now();
      if (background) this.background.set(key, { hurried: false });
      const made = this.make(template, background)
        .then(() => this.opts.log('VM snapshot template made', { key, vcpus: shape.vcpus, memMB: shape.memMB, diskMB: shape.diskMB, background, ms: Math.round(performance.now() - started) }))
        .catch((err: Error) => {
          if (!background) this.failed.set(key, err.message);
          this.opts.log('VM snapshot template could not be made', { key, background, error: err.message });
        })
        .finally(() => {
          this.making.delete(key);
          this.background.delete(key);
        });
      this.making.set(key, made);
    }
    await this.making.get(key);
  }

  /** A VM waits for this template: its QEMU, if niced, runs at the launcher's priority from now on
   *  (every thread: nice is per thread, and QEMU's vCPUs are threads). */
  private hurry(key: string): void {
    const made = this.background.get(key);
    if (!made || made.hurried) return;
    made.hurried = true;
    if (made.pid !== undefined) this.renice(key, made.pid);
  }

  private renice(key: string, pid: number): void {
    void readdir(`/proc/${pid}/task`).then((tids) => {
      for (const tid of tids) {
        try {
          setPriority(Number(tid), 0);
        } catch { /* ended since */ }
      }
      this.opts.log('VM snapshot template hurried: a VM waits for it', { key });
    }, () => undefined);
  }

  private async make(template: Template, background = false): Promise<void> {
    await mkdir(this.opts.dir, { recursive: true });
    // What a crashed make left (never a template in use: those have no ".tmp-").
    for (const old of await readdir(this.opts.dir)) {
      if (old.startsWith(`${template.key}.tmp-`)) await rm(join(this.opts.dir, old), { recursive: true, force: true });
    }
    const work = this.templateAt(`${template.key}.tmp-${randomBytes(4).toString('hex')}`, template.shape);
    await mkdir(work.dir);
    await mkdir(this.opts.runDir, { recursive: true });
    const sock = join(this.opts.runDir, `snapshot-${template.key}.qmp`);
    const pidFile = join(this.opts.runDir, `snapshot-${template.key}.pid`);
    let pid: number | undefined;
    try {
      // Stand-ins for a restored VM's config drive, disk and NIC (restoredDeviceArgs): zeros of the
      // same size, and a NIC on no network (the guest does not use it before it parks).
      const standIns = templateDevices(template.shape, work.dir);
      await writeFile(standIns.disks[0].file, '');
      await truncate(standIns.disks[0].file, CONFIG_DRIVE_BYTES);
      if (template.shape.diskMB > 0) await run('qemu-img', ['create', '-q', '-f', 'qcow2', standIns.disks[1].file, `${template.shape.diskMB}M`]);
      const args = [...templateMachineArgs(template.shape, work.ram, true), ...restoredDeviceArgs(standIns), '-chardev', 'null,id=ident',
        '-name', `ciao-snapshot-template-${template.key}`, '-qmp', `unix:${sock},server=on,wait=off`, '-pidfile', pidFile];
      // nice execs QEMU: the pid, the pid file's and the command line are QEMU's.
      ({ pid } = await startDetached({
        name: `QEMU of snapshot template ${template.key}`, log: work.console,
        ...(background ? { command: 'nice', args: ['-n', String(BACKGROUND_NICE), 'qemu-system-x86_64', ...args] } : { command: 'qemu-system-x86_64', args }),
        pidFile, pidFileBy: 'process', ready: () => qmp(sock, 'query-status').then(() => true, () => false), pollMs: 50,
        readyTimeoutMs: background ? BACKGROUND_TIMEOUT_MS : undefined,
      }));
      const niced = this.background.get(template.key);
      if (niced) {
        niced.pid = pid;
        if (niced.hurried) this.renice(template.key, pid);
      }
      await waitFor(`the snapshot template's guest to park (console: ${work.console})`,
        async () => (await readFile(work.console, 'utf8')).includes(PARKED_LINE), { timeoutMs: background ? BACKGROUND_TIMEOUT_MS : BOOT_TIMEOUT_MS, intervalMs: 50 });
      await qmp(sock, 'stop');
      await qmp(sock, 'migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] });
      await qmp(sock, 'migrate-set-parameters', { 'max-bandwidth': 1024 ** 4 });
      await qmp(sock, 'migrate', { uri: `exec:cat > ${plainPath(work.state)}` });
      await waitFor('the snapshot template to be saved', async () => {
        const { status, 'error-desc': error } = (await qmp(sock, 'query-migrate')) as { status?: string; 'error-desc'?: string };
        if (status === 'failed' || status === 'cancelled') throw new AbortError(`saving the template ${status}${error ? `: ${error}` : ''}`);
        return status === 'completed';
      }, { timeoutMs: BOOT_TIMEOUT_MS, intervalMs: 20 });
      await qmp(sock, 'quit').catch(() => undefined);
      await stopProcess(pid, 10_000);
      pid = undefined;
      await writeFile(join(work.dir, 'template.json'), JSON.stringify({ format: TEMPLATE_FORMAT, ...template.shape, made: new Date().toISOString() }) + '\n');
      // Another launcher may have made the same one meanwhile: then its copy stays and this one goes.
      await rename(work.dir, template.dir).catch(async (err: NodeJS.ErrnoException) => {
        if (!(await exists(join(template.dir, 'template.json')))) throw err;
      });
    } finally {
      if (pid) await stopProcess(pid, 5_000).catch(() => undefined);
      await rm(sock, { force: true });
      await rm(pidFile, { force: true });
      await rm(work.dir, { recursive: true, force: true });
    }
  }
}
