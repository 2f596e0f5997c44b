// The qemu backend: a VM per instance, run inside the node's network namespace with a tap on the
// tenant bridge, the image's kernel and initramfs, a config drive (hostname = instance id, user
// data), its own qcow2 disk, a serial console log kept for diagnosis, and QMP to stop it. Each
// instance has a folder (spec, pid, console, QMP socket) so a restarted launcher re-adopts it.
// Volumes are virtio disks on PCIe root ports (hot-pluggable through QMP); a root volume becomes
// the guest's "/" (its initramfs mounts the disk whose serial is on the kernel command line).
// A QEMU that ends unasked is reported with its exit status and the console's last lines.
// A suspend saves the guest's memory to the folder (QMP migrate) and ends QEMU; a resume starts it
// again from there (-incoming). A rescue boots another image's kernel and initramfs with the
// instance's own disks attached (rescue.json in its folder says so).
// Every start but a resume (a first start, a restart, a rescue, a root-volume boot) is restored from
// a snapshot template when one is ready (vm-snapshot.ts, vm-restore.ts, docs/vm-snapshots.md);
// otherwise, or when that fails, it cold-boots.
import { access, appendFile, copyFile, mkdir, open, readdir, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StartPayload, VolumeRef } from '../protocol/payloads.ts';
import { AbortError, waitFor } from '../shared/wait-for.ts';
import { run } from '../shared/run.ts';
import { isAlive } from '../shared/is-alive.ts';
import { readPidFile, startDetached, stopProcess } from '../shared/detached.ts';
import { fileFor, isUuid } from '../shared/safe-path.ts';
import { makeConfigDrive } from '../images/config-drive.ts';
import type { VmImage } from '../images/vm-image.ts';
import { ipIn } from '../network/ip.ts';
import { parseCidr } from '../controller/addresses.ts';
import { qmp } from './qmp.ts';
import { consoleTailOf } from './console-tail.ts';
import { consoleOfFile, type ConsoleText } from './console.ts';
import { accelArgs, CONFIG_DRIVE_BYTES, VOLUME_PORTS, PORTS, templateMachineArgs, type Template, type TemplateLookup, type VmSnapshots } from './vm-snapshot.ts';
import { restoreArgs, restoreFromTemplate, restoredDeviceArgs, type PluggedDisk } from './vm-restore.ts';
import { LaunchError, type AdoptedInstance, type Backend, type ExitListener, type Running } from './backend.ts';
import { mapLimit } from '../shared/map-limit.ts';

export interface QemuBackendOptions {
  /** Where instance folders live. */
  stateDir: string;
  /** The images this node can boot, by the id (or name) a START names. */
  images: Record<string, Pick<VmImage, 'kernel' | 'initrd'>>;
  /** The node's network namespace, and how an instance's tap finds its tenant bridge. */
  nodeNs: string;
  network: TenantNetwork;
  accel: 'tcg' | 'kvm';
  /** Named in each QEMU's -name, so cleanup finds a cluster's VMs by name too. */
  cluster: string;
  /** Variables every guest's login shells get, through its config drive (the proxies, docs/egress.md). */
  environment?: Record<string, string>;
  /** Snapshot templates to restore first starts from; absent: every VM cold-boots. */
  snapshots?: VmSnapshots;
  /** Says which way each VM started (restored, or cold and why). */
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

/** What the backend needs of the node's tenant networks (launcher/node-network.ts). */
export interface TenantNetwork {
  /** Makes the instance's tenant segment; resolves to the bridge its tap joins. */
  join(spec: StartPayload): Promise<string>;
  adopt(spec: StartPayload): void;
  leave(instanceId: string): Promise<void>;
}

/** Root ports for volumes: a VM holds at most this many. */
export { VOLUME_PORTS };

/** The disk's serial as the guest sees it (/sys/block/vdX/serial): virtio allows 20 characters. */
export const volumeSerial = (volumeId: string) => volumeId.replace(/-/g, '').slice(0, 20);
const volumeNode = (volumeId: string) => `vol${volumeSerial(volumeId)}`;
const volumeDevice = (volumeId: string) => `vol-${volumeId}`;

/** tap names are at most 15 characters: "tap" + 12 of the instance id. */
export const tapName = (instanceId: string) => `tap${instanceId.replace(/-/g, '').slice(0, 12)}`;

/** A suspended VM's memory, in its folder; `.part` while the migration writes it. */
const MEMORY_FILE = 'memory.state';
/** QEMU's exec: migration runs its command through /bin/sh: the path must need no quoting. */
const SHELL_SAFE_PATH = /^[A-Za-z0-9_./-]+$/;
/** How long saving or loading a guest's memory may take (a few hundred MB through a pipe). */
const MIGRATION_TIMEOUT_MS = 120_000;

/** In the folder of a VM whose QEMU was restored from a template: that template (a resume needs its machine). */
const RESTORED_FILE = 'restored.json';

/** In a rescued VM's folder while its rescue QEMU runs: `{image}`. */
const RESCUE_FILE = 'rescue.json';

const exists = (path: string) => access(path).then(() => true, () => false);

/** A qcow2 file's virtual size in bytes, from its header (big-endian, at byte 24): no process. */
export async function qcow2Size(path: string): Promise<number> {
  const file = await open(path);
  try {
    const { buffer, bytesRead } = await file.read(Buffer.alloc(32), 0, 32, 0);
    if (bytesRead < 32 || buffer.readUInt32BE(0) !== 0x514649fb) throw new Error(`${path} is not a qcow2 disk`);
    return Number(buffer.readBigUInt64BE(24));
  } finally {
    await file.close();
  }
}

/** The path of a suspended VM's memory file, refused when a shell would read it as more than a path. */
export function memoryFile(dir: string, part = false): string {
  const path = join(dir, part ? `${MEMORY_FILE}.part` : MEMORY_FILE);
  if (!SHELL_SAFE_PATH.test(path)) throw new Error(`the instance folder ${dir} has characters QEMU's exec: migration would pass to a shell`);
  return path;
}

/** Beside a suspended VM's memory: its machine has no VGA. Memory saved before machines lost their
 *  VGA (template format 7) has no such file, and is loaded on a machine with one: QEMU refuses a
 *  migration stream for devices the machine lacks or has more of. */
const NO_VGA_FILE = 'memory.no-vga';

/** A machine's arguments for memory saved on a machine with QEMU's default VGA (the `-vga none` dropped). */
export function withDefaultVga(args: string[]): string[] {
  return args.filter((a, n) => !(a === '-vga' && args[n + 1] === 'none') && !(a === 'none' && args[n - 1] === '-vga'));
}

/** A restored guest's network, as its DHCP lease would give it (the CNCI's dnsmasq has the same). */
const guestNetwork = ({ network: n }: StartPayload) => ({ mac: n.mac, address: `${n.ip}/${parseCidr(n.subnet).bits}`, gateway: n.gateway });

/** How often the QEMUs of re-adopted instances (not this process's children) are checked. */
const ADOPTED_POLL_MS = 500;

/** Why a QEMU that was this process's child ended. */
export function qemuExitReason(code: number | null, signal: NodeJS.Signals | null): string {
  if (code === null) return `QEMU was killed by ${signal}`;
  if (code === 0) return 'QEMU exited with code 0: the guest powered off or panicked';
  return `QEMU exited with code ${code}`;
}

export class QemuBackend implements Backend {
  readonly kind = 'qemu';
  /** QEMU's pid for each instance that runs and was not asked to stop: an end of one is a death. */
  private readonly watched = new Map<string, number>();
  /** Those of them that a restarted launcher re-adopted: polled, as they are not our children. */
  private readonly adopted = new Set<string>();
  private listener?: ExitListener;
  /** Empty qcow2 disks by size (MB), copied for each new VM's disk. */
  private readonly emptyDisks = new Map<number, Promise<string>>();

  constructor(private readonly opts: QemuBackendOptions) {}

  watchExits(listener: ExitListener): () => void {
    this.listener = listener;
    const poll = setInterval(() => {
      for (const id of this.adopted) {
        const pid = this.watched.get(id);
        if (pid && !isAlive(pid)) this.ended(id, pid, `QEMU (pid ${pid}) ended; its exit status is unknown: the launcher was restarted since it started it`);
      }
    }, ADOPTED_POLL_MS);
    poll.unref();
    return () => {
      clearInterval(poll);
      this.listener = undefined;
    };
  }

  private ended(id: string, pid: number, reason: string) {
    if (this.watched.get(id) !== pid) return; // asked to stop, or started again since
    this.watched.delete(id);
    this.adopted.delete(id);
    const listener = this.listener;
    if (listener) void consoleTailOf(join(this.dir(id), 'console.log')).then((console) => listener(id, { reason, console }));
  }

  private dir(id: string) {
    return fileFor(join(this.opts.stateDir, 'instances'), id);
  }

  private pid(id: string): Promise<number | undefined> {
    return readPidFile(join(this.dir(id), 'qemu.pid'));
  }

  async start(spec: StartPayload): Promise<Running> {
    return this.launch(spec);
  }

  /** Nova's rescue: the rescue image's kernel and initramfs boot with the instance's own config
   *  drive, disk and volumes attached as they are (a root volume too, not as "/"): the user repairs
   *  the disk from a system that works. The spec (its own image) is kept for the unrescue. */
  async rescue(spec: StartPayload, image: string): Promise<Running> {
    return this.launch({ ...spec, restart: true }, { rescue: image });
  }

  async unrescue(spec: StartPayload): Promise<Running> {
    return this.launch({ ...spec, restart: true });
  }

  /** The kernel and initramfs of an image this node boots; a name from a payload is looked up
   *  among its own keys only ("constructor" or "__proto__" is no image). */
  private bootable(name: string) {
    if (!Object.hasOwn(this.opts.images, name)) throw new LaunchError('image_failure', `image ${name} cannot boot on this node (it boots ${Object.keys(this.opts.images).join(', ') || 'no image'})`);
    return this.opts.images[name];
  }

  /** Starts QEMU; with `incoming`, it takes the guest's memory and devices from that saved file;
   *  with `rescue`, it boots that image instead of the instance's own. */
  private async launch(spec: StartPayload, { incoming, rescue, cold }: { incoming?: string; rescue?: string; cold?: boolean } = {}): Promise<Running> {
    const t0 = performance.now();
    const id = spec.instanceId;
    const dir = this.dir(id);
    if (await this.pid(id)) throw new LaunchError('already_running', `VM ${id} is already running`);
    const image = this.bootable(rescue ?? spec.image);
    await mkdir(dir, { recursive: true });
    if (rescue) await writeFile(join(dir, RESCUE_FILE), JSON.stringify({ image: rescue }));
    else await rm(join(dir, RESCUE_FILE), { force: true });
    const disk = join(dir, 'disk.qcow2');
    await writeFile(join(dir, 'spec.json'), JSON.stringify(spec));
    const tap = tapName(id);
    // Milliseconds from the start to each step done before QEMU starts (logged with a restore's).
    const prelude: Record<string, number> = {};
    const since = () => Math.round(performance.now() - t0);
    // The disks and the tap at once: neither needs the other.
    const made = await Promise.allSettled([
      spec.restart ? undefined : this.makeDisks(spec).then(() => { prelude.disks = since(); }),
      this.makeTap(spec, tap).then(() => { prelude.tap = since(); }),
    ]);
    for (const m of made) if (m.status === 'rejected') throw m.reason;
    const qmpSocket = join(dir, 'qmp.sock');
    await rm(qmpSocket, { force: true });
    const volumes = spec.volumes ?? [];
    if (volumes.length > VOLUME_PORTS) throw new LaunchError('invalid_data', `a VM holds at most ${VOLUME_PORTS} volumes, not ${volumes.length}`);
    const ports = Object.fromEntries(volumes.map((v, n) => [v.id, n]));
    await writeFile(join(dir, 'ports.json'), JSON.stringify(ports));
    const root = rescue ? undefined : volumes.find((v) => v.root);
    const identitySocket = join(dir, 'identity.sock');
    await rm(identitySocket, { force: true });
    // A suspended VM that was restored from a template resumes on that template's machine.
    const resumed = incoming ? await readFile(join(dir, RESTORED_FILE), 'utf8').then((s) => JSON.parse(s) as Template, () => undefined) : undefined;
    const template = resumed ? undefined : await this.templateFor(spec, image, { incoming, cold });
    if (!resumed) await rm(join(dir, RESTORED_FILE), { force: true });
    if (template) {
      await writeFile(join(dir, RESTORED_FILE), JSON.stringify(template));
      // The console shows the template's boot, after the boots before (a restart's), as a cold boot's shows its own.
      await appendFile(join(dir, 'console.log'), await readFile(template.console));
    }
    const devices = { disks: this.restoredDisks(spec, ports), nic: { tap, mac: spec.network.mac } };
    // A restored VM's config drive and disk take the template's stand-ins' places; its volumes are hot-plugged.
    const own = devices.disks.filter((d) => d.port === PORTS.config || d.port === PORTS.disk);
    const current = template ? restoreArgs(template, identitySocket, { ...devices, disks: own })
      : resumed ? [...templateMachineArgs(resumed.shape, resumed.ram, false), '-chardev', `socket,id=ident,path=${identitySocket},server=on,wait=off`, ...restoredDeviceArgs(devices)] : [
      '-machine', 'q35', ...accelArgs(this.opts.accel), '-vga', 'none', '-cpu', this.opts.accel === 'kvm' ? 'host' : 'max',
      '-m', String(spec.resources.memMB), '-smp', String(spec.resources.vcpus), '-nographic', '-no-reboot',
      '-kernel', image.kernel, '-initrd', image.initrd,
      // no_timer_check: under TCG on a loaded host the kernel's IO-APIC timer check can miss its
      // ticks and panic ("IO-APIC + timer doesn't work!"), as it did in BAT's reboots side by side.
      '-append', `console=ttyS0 panic=-1 no_timer_check${root ? ` ciao.root=${volumeSerial(root.id)}` : ''}`,
      '-drive', `file=${join(dir, 'config.iso')},if=virtio,format=raw,readonly=on`,
      ...(spec.resources.diskMB > 0 ? ['-drive', `file=${disk},if=virtio,format=qcow2`] : []),
      ...Array.from({ length: VOLUME_PORTS }, (_, n) => ['-device', `pcie-root-port,id=vp${n},chassis=${n + 1}`]).flat(),
      ...volumes.flatMap((v) => [
        '-blockdev', `driver=qcow2,node-name=${volumeNode(v.id)},file.driver=file,file.filename=${v.path}`,
        '-device', `virtio-blk-pci,drive=${volumeNode(v.id)},id=${volumeDevice(v.id)},bus=vp${ports[v.id]},serial=${volumeSerial(v.id)}`,
      ]),
      '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=n0,mac=${spec.network.mac}`,
    ];
    const machine = incoming && !(await exists(join(dir, NO_VGA_FILE))) ? withDefaultVga(current) : current;
    const args = [
      'netns', 'exec', this.opts.nodeNs, 'qemu-system-x86_64', '-name', `ciao-${this.opts.cluster}-${id}`, ...machine,
      '-qmp', `unix:${qmpSocket},server=on,wait=off`, '-pidfile', join(dir, 'qemu.pid'),
      ...(incoming ? ['-incoming', `exec:cat ${incoming}`] : []),
    ];
    this.adopted.delete(id);
    let pid: number;
    try {
      ({ pid } = await startDetached({
        name: `QEMU of ${id}`, command: 'ip', args, log: join(dir, 'console.log'), pidFile: join(dir, 'qemu.pid'), pidFileBy: 'process',
        ready: () => qmp(qmpSocket, 'query-status').then(() => true, () => false), pollMs: 10,
        onExit: (pid, code, signal) => this.ended(id, pid, qemuExitReason(code, signal)),
      }));
    } catch (err) {
      throw new LaunchError('launch_failure', (err as Error).message);
    }
    if (template) {
      const started = performance.now();
      try {
        const phases = await restoreFromTemplate(qmpSocket, identitySocket, template,
          { volumes: devices.disks.filter((d) => !own.includes(d)), blockDevices: devices.disks.length, network: guestNetwork(spec), rootSerial: root && volumeSerial(root.id) },
          () => isAlive(pid));
        // ms: the restore (QEMU up → the guest took its identity); the rest, from the start's beginning.
        this.opts.log?.('VM restored from a snapshot', {
          instance: id, template: template.key, ms: Math.round(performance.now() - started),
          phases: { ...prelude, qemuUp: Math.round(started - t0), ...Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Math.round(started - t0) + v])) },
        });
      } catch (err) {
        this.opts.log?.('VM cold-boots', { instance: id, reason: `restoring failed: ${(err as Error).message}` });
        await this.stop(id);
        return this.launch(spec, { rescue, cold: true });
      }
    }
    // Watched from here: an end before it was ready (or restored) is a failed start, not a death.
    this.watched.set(id, pid);
    return { sshIp: spec.network.ip, sshPort: 22 };
  }

  /** The instance's tap on its tenant bridge, made in one `ip -batch` (a tap a crash left is
   *  removed and the batch run again). */
  private async makeTap(spec: StartPayload, tap: string): Promise<void> {
    const bridge = await this.opts.network.join(spec);
    const batch = () => run('ip', ['-n', this.opts.nodeNs, '-batch', '-'], { input: `tuntap add ${tap} mode tap\nlink set ${tap} master ${bridge} up\n` });
    try {
      await batch().catch(async () => {
        await ipIn(this.opts.nodeNs, 'link', 'del', tap).catch(() => undefined);
        await batch();
      });
    } catch (err) {
      throw new LaunchError('network_failure', `could not make tap ${tap} on the tenant bridge: ${(err as Error).message}`);
    }
  }

  /** The template a start restores from, or none (a cold boot), logged with the reason. A restart
   *  restores too: the template's kernel has read nothing of the instance's disks that the guest
   *  does not drop before it reads them (docs/vm-snapshots.md, "Restarts, rescues, resizes, root volumes"). The template is the
   *  one of the image it boots (a rescue's) and of its disk's size as it is now (a resize grows it,
   *  a revert keeps it grown): the guest knows a disk's size from the template's probe. */
  private async templateFor(spec: StartPayload, image: Pick<VmImage, 'kernel' | 'initrd'>, why: { incoming?: string; cold?: boolean }): Promise<Template | undefined> {
    if (why.cold) return undefined; // the failed restore was logged
    const dir = this.dir(spec.instanceId);
    const configBytes = async () => (await stat(join(dir, 'config.iso'))).size;
    const diskBytes = spec.resources.diskMB > 0 ? await qcow2Size(join(dir, 'disk.qcow2')).catch((err: Error) => err) : 0;
    const reason = !this.opts.snapshots ? 'snapshots are off' : why.incoming ? 'a resume loads its own saved machine'
      : await configBytes() !== CONFIG_DRIVE_BYTES ? `its config drive is larger than a template's (${CONFIG_DRIVE_BYTES} bytes)`
      : diskBytes instanceof Error ? `its disk's size is unknown: ${diskBytes.message}`
      : diskBytes % 2 ** 20 !== 0 ? `its disk's size (${diskBytes} bytes) is not a whole number of MB, as a template's is` : undefined;
    const lookup: TemplateLookup = reason ? { reason }
      : await this.opts.snapshots!.lookup({ ...image, vcpus: spec.resources.vcpus, memMB: spec.resources.memMB, diskMB: (diskBytes as number) / 2 ** 20, accel: this.opts.accel });
    if ('reason' in lookup) this.opts.log?.('VM cold-boots', { instance: spec.instanceId, reason: lookup.reason });
    return 'template' in lookup ? lookup.template : undefined;
  }

  /** A restored VM's disks, in the order a cold boot's command line has them. */
  private restoredDisks(spec: StartPayload, ports: Record<string, number>): PluggedDisk[] {
    const dir = this.dir(spec.instanceId);
    return [
      { node: 'config', device: 'config', port: PORTS.config, file: join(dir, 'config.iso'), format: 'raw', readOnly: true },
      ...(spec.resources.diskMB > 0 ? [{ node: 'disk', device: 'disk', port: PORTS.disk, file: join(dir, 'disk.qcow2'), format: 'qcow2' as const }] : []),
      ...(spec.volumes ?? []).map((v) => ({ node: volumeNode(v.id), device: volumeDevice(v.id), port: `vp${ports[v.id]}`, file: v.path, format: 'qcow2' as const, serial: volumeSerial(v.id) })),
    ];
  }

  /** The config drive and the instance's own disk, made anew (a first start, a rebuild). */
  private async makeDisks(spec: StartPayload) {
    const id = spec.instanceId;
    const dir = this.dir(id);
    const iso = join(dir, 'config.iso');
    const configDrive = async () => {
      await makeConfigDrive(iso, { instanceId: id, hostname: spec.hostname ?? id, userData: spec.userData, publicKeys: spec.publicKeys, files: spec.files, environment: this.opts.environment })
        .catch((err) => { throw new LaunchError('image_failure', `could not make the config drive: ${(err as Error).message}`); });
      // One size for every config drive (zeros after the ISO's end), as a snapshot template's stand-in has.
      if ((await stat(iso)).size < CONFIG_DRIVE_BYTES) await truncate(iso, CONFIG_DRIVE_BYTES);
    };
    // The instance's own disk: kept across stop/restart, gone with the instance (or its rebuild).
    const ownDisk = async () => {
      const disk = join(dir, 'disk.qcow2');
      await rm(disk, { force: true });
      if (spec.resources.diskMB > 0) {
        await copyFile(await this.emptyDisk(spec.resources.diskMB), disk)
          .catch((err) => { throw new LaunchError('image_failure', `could not make the instance disk: ${(err as Error).message}`); });
      }
    };
    const made = await Promise.allSettled([configDrive(), ownDisk()]);
    for (const m of made) if (m.status === 'rejected') throw m.reason;
  }

  /** An empty qcow2 disk of this size, made once (qemu-img) and copied for each VM: a copy costs
   *  no process, and an empty qcow2 holds only its header and tables (a few hundred KB). */
  private emptyDisk(diskMB: number): Promise<string> {
    if (!this.emptyDisks.has(diskMB)) {
      const made = (async () => {
        const dir = join(this.opts.stateDir, 'empty-disks');
        const file = join(dir, `${diskMB}.qcow2`);
        if (await exists(file)) return file;
        await mkdir(dir, { recursive: true });
        const part = `${file}.${process.pid}.part`;
        await run('qemu-img', ['create', '-q', '-f', 'qcow2', part, `${diskMB}M`]);
        await rename(part, file);
        return file;
      })();
      // A failure is not kept: the next start tries again.
      made.catch(() => this.emptyDisks.delete(diskMB));
      this.emptyDisks.set(diskMB, made);
    }
    return this.emptyDisks.get(diskMB)!;
  }

  /** The stopped VM's disk and config drive made again; the new image (its kernel and initramfs)
   *  is in its spec from now on, so every later start boots it. Its volumes stay attached. */
  async rebuild(spec: StartPayload): Promise<void> {
    if (await this.pid(spec.instanceId)) throw new Error(`VM ${spec.instanceId} still runs: it is rebuilt stopped`);
    this.bootable(spec.image);
    await this.makeDisks(spec);
    await writeFile(join(this.dir(spec.instanceId), 'spec.json'), JSON.stringify(spec));
  }

  /** The stopped VM's disk grows to the new flavor's (qemu-img resize; made when it had none, never
   *  shrunk: a revert keeps it grown, as Nova's), and its spec takes the new vcpus and memory, so
   *  the next start runs QEMU with them (-smp, -m). */
  async resize(spec: StartPayload): Promise<void> {
    const dir = this.dir(spec.instanceId);
    if (await this.pid(spec.instanceId)) throw new Error(`VM ${spec.instanceId} still runs: it is resized stopped`);
    const disk = join(dir, 'disk.qcow2');
    const wanted = spec.resources.diskMB * 2 ** 20;
    if (wanted > 0) {
      const size = await exists(disk)
        ? (JSON.parse((await run('qemu-img', ['info', '--output=json', '-f', 'qcow2', disk])).stdout) as { 'virtual-size': number })['virtual-size'] : undefined;
      if (size === undefined) await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, `${spec.resources.diskMB}M`]);
      else if (wanted > size) await run('qemu-img', ['resize', '-q', '-f', 'qcow2', disk, `${spec.resources.diskMB}M`]);
    }
    await writeFile(join(dir, 'spec.json'), JSON.stringify(spec));
  }

  /** The serial console QEMU writes to the instance's folder (its stdout: -nographic puts ttyS0
   *  there), appended across restarts and reboots: a stopped VM's last boot is still in it. */
  async console(instanceId: string, lines: number | null): Promise<ConsoleText> {
    return consoleOfFile(join(this.dir(instanceId), 'console.log'), lines);
  }

  async stop(instanceId: string): Promise<void> {
    this.watched.delete(instanceId);
    this.adopted.delete(instanceId);
    const pid = await this.pid(instanceId);
    if (!pid) return;
    // QEMU's own way out first; SIGTERM, then SIGKILL, if it has not gone in 10 s.
    await qmp(join(this.dir(instanceId), 'qmp.sock'), 'quit').catch(() => undefined);
    await stopProcess(pid, 10_000);
    await ipIn(this.opts.nodeNs, 'link', 'del', tapName(instanceId)).catch(() => undefined);
  }

  /** QMP stop/cont: the vCPUs halt, memory and devices stay as they are. */
  async pause(instanceId: string): Promise<void> {
    await qmp(join(this.dir(instanceId), 'qmp.sock'), 'stop');
  }

  async unpause(instanceId: string): Promise<void> {
    await qmp(join(this.dir(instanceId), 'qmp.sock'), 'cont');
  }

  /** Managed save, as libvirt does it: the vCPUs stop, the whole machine state goes to a file
   *  through QMP `migrate` (exec:, as QEMU 7.2 has no file: URI), then QEMU quits. The file is
   *  written as `.part` and renamed once complete, so a half-written one is never resumed from. */
  async suspend(instanceId: string): Promise<void> {
    const dir = this.dir(instanceId);
    const sock = join(dir, 'qmp.sock');
    const part = memoryFile(dir, true);
    await qmp(sock, 'stop');
    try {
      await rm(part, { force: true });
      await writeFile(join(dir, NO_VGA_FILE), '');
      // Unlimited bandwidth: QEMU's default cap (32 MiB/s) is for live migration over a network.
      await qmp(sock, 'migrate-set-parameters', { 'max-bandwidth': 1024 ** 4 });
      // A VM restored from a template loaded it with x-ignore-shared: its own memory (private) is saved whole.
      await qmp(sock, 'migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: false }] });
      await qmp(sock, 'migrate', { uri: `exec:cat > ${part}` });
      await waitFor(`the memory of ${instanceId} to be saved`, async () => {
        const { status, 'error-desc': error } = (await qmp(sock, 'query-migrate')) as { status?: string; 'error-desc'?: string };
        if (status === 'failed' || status === 'cancelled') throw new AbortError(`saving the memory of ${instanceId} ${status}${error ? `: ${error}` : ''}`);
        return status === 'completed';
      }, { timeoutMs: MIGRATION_TIMEOUT_MS, intervalMs: 100 });
      await rename(part, memoryFile(dir));
    } catch (err) {
      // Not saved: the guest goes on as it was.
      await qmp(sock, 'cont').catch(() => undefined);
      await rm(part, { force: true });
      throw err;
    }
    await this.stop(instanceId);
  }

  /** A QEMU as for a restart (same disk, volumes, tap and MAC) that loads the saved machine and
   *  goes on with it; the saved copy goes once the guest runs again. */
  async resume(spec: StartPayload): Promise<Running> {
    const dir = this.dir(spec.instanceId);
    const saved = memoryFile(dir);
    if (!(await exists(saved))) throw new Error(`VM ${spec.instanceId} has no saved memory (${saved})`);
    const running = await this.launch({ ...spec, restart: true }, { incoming: saved });
    await this.goOnFromSaved(spec.instanceId);
    return running;
  }

  /** The QEMU of a resume loads the saved memory, then the guest goes on and the saved copy goes;
   *  one that fails is stopped (the saved copy stays: still suspended). */
  private async goOnFromSaved(instanceId: string) {
    const dir = this.dir(instanceId);
    const sock = join(dir, 'qmp.sock');
    try {
      const status = await waitFor(`VM ${instanceId} to load its saved memory`, async () => {
        const { status } = (await qmp(sock, 'query-status')) as { status: string };
        return status !== 'inmigrate' && status;
      }, { timeoutMs: MIGRATION_TIMEOUT_MS, intervalMs: 100 });
      // Saved while stopped, it comes back stopped.
      if (status !== 'running') await qmp(sock, 'cont');
    } catch (err) {
      await this.stop(instanceId);
      throw err;
    }
    await rm(memoryFile(dir), { force: true });
    await rm(join(dir, NO_VGA_FILE), { force: true });
  }

  /** Shelved, the VM is stopped (no QEMU, no tap): only its place on the tenant network is left. */
  async offload(instanceId: string): Promise<void> {
    if (await this.pid(instanceId)) throw new Error(`VM ${instanceId} still runs: it is offloaded stopped`);
    await this.opts.network.leave(instanceId);
  }

  async delete(instanceId: string): Promise<void> {
    await this.stop(instanceId);
    // The console outlives the instance (until the cluster goes), for whoever diagnoses it later.
    await mkdir(join(this.opts.stateDir, 'consoles'), { recursive: true });
    await rename(join(this.dir(instanceId), 'console.log'), fileFor(join(this.opts.stateDir, 'consoles'), instanceId, '.log')).catch(() => undefined);
    await rm(this.dir(instanceId), { recursive: true, force: true });
    await this.opts.network.leave(instanceId);
  }

  async attach(spec: StartPayload, volume: VolumeRef, running: boolean): Promise<void> {
    const dir = this.dir(spec.instanceId);
    if (running) {
      const ports = await this.ports(spec.instanceId);
      const free = Array.from({ length: VOLUME_PORTS }, (_, n) => n).find((n) => !Object.values(ports).includes(n));
      if (free === undefined) throw new Error(`VM ${spec.instanceId} already holds ${VOLUME_PORTS} volumes`);
      const sock = join(dir, 'qmp.sock');
      const node = volumeNode(volume.id);
      await qmp(sock, 'blockdev-add', { driver: 'qcow2', 'node-name': node, file: { driver: 'file', filename: volume.path } });
      try {
        await qmp(sock, 'device_add', { driver: 'virtio-blk-pci', drive: node, id: volumeDevice(volume.id), bus: `vp${free}`, serial: volumeSerial(volume.id) });
      } catch (err) {
        await qmp(sock, 'blockdev-del', { 'node-name': node }).catch(() => undefined);
        throw err;
      }
      await writeFile(join(dir, 'ports.json'), JSON.stringify({ ...ports, [volume.id]: free }));
    }
    await writeFile(join(dir, 'spec.json'), JSON.stringify(spec));
  }

  /** Unplugging needs the guest's consent (ACPI hot-plug): wait until QEMU says the device is gone. */
  async detach(spec: StartPayload, volumeId: string, running: boolean): Promise<void> {
    const dir = this.dir(spec.instanceId);
    if (running) {
      const sock = join(dir, 'qmp.sock');
      const device = volumeDevice(volumeId);
      const plugged = async () => ((await qmp(sock, 'qom-list', { path: '/machine/peripheral' })) as { name: string }[]).some((d) => d.name === device);
      if (await plugged()) {
        await qmp(sock, 'device_del', { id: device });
        await waitFor(`the guest of ${spec.instanceId} to release volume ${volumeId}`, async () => !(await plugged()), { timeoutMs: 15_000, intervalMs: 100 });
      }
      await qmp(sock, 'blockdev-del', { 'node-name': volumeNode(volumeId) }).catch(() => undefined);
      const { [volumeId]: _gone, ...ports } = await this.ports(spec.instanceId);
      await writeFile(join(dir, 'ports.json'), JSON.stringify(ports));
    }
    await writeFile(join(dir, 'spec.json'), JSON.stringify(spec));
  }

  private async ports(instanceId: string): Promise<Record<string, number>> {
    return readFile(join(this.dir(instanceId), 'ports.json'), 'utf8').then((s) => JSON.parse(s) as Record<string, number>, () => ({}));
  }

  async list(): Promise<AdoptedInstance[]> {
    const ids = (await readdir(join(this.opts.stateDir, 'instances')).catch(() => [] as string[])).filter(isUuid);
    // Side by side: a QEMU slow to answer its QMP (a loaded host) does not hold up the others.
    const adopted = await mapLimit(ids, 8, async (id): Promise<AdoptedInstance | undefined> => {
      const spec = await readFile(join(this.dir(id), 'spec.json'), 'utf8').then((s) => JSON.parse(s) as StartPayload, () => undefined);
      if (!spec) return undefined;
      this.opts.network.adopt(spec);
      const pid = await this.pid(id);
      if (pid && !this.watched.has(id)) {
        this.watched.set(id, pid);
        this.adopted.add(id);
      }
      const saved = await exists(join(this.dir(id), MEMORY_FILE));
      // A QEMU beside a saved memory is a resume the last launcher did not see through (killed while
      // the guest loaded it): it is seen through now, or, failing, the VM is suspended as it was.
      const resumed = pid && saved ? await this.goOnFromSaved(id).then(() => true, (err: Error) => {
        this.opts.log?.('a resume cut short could not go on: the VM stays suspended', { instanceId: id, error: err.message });
        return false;
      }) : !!pid;
      const running = resumed && !!(await this.pid(id));
      const status = running ? await qmp(join(this.dir(id), 'qmp.sock'), 'query-status').catch(() => undefined) as { status?: string } | undefined : undefined;
      const suspended = !running && (await exists(join(this.dir(id), MEMORY_FILE)));
      // A rescue whose QEMU is gone (the node stopped) is over: its next start boots its own image.
      const rescued = running && (await exists(join(this.dir(id), RESCUE_FILE)));
      return { spec, running, paused: status?.status === 'paused', suspended, rescued, sshIp: spec.network.ip, sshPort: 22 };
    });
    return adopted.filter((a) => !!a);
  }
}
