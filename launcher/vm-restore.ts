// A VM restored from a snapshot template (docs/vm-snapshots.md, "A VM restored from it"): the
// arguments of its QEMU, then, once QEMU answers, the template's machine loaded, the instance's
// devices hot-plugged (config drive, disk, volumes, NIC) and its identity line written to ttyS1.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { AbortError, waitFor } from '../shared/wait-for.ts';
import { qmp } from './qmp.ts';
import { PORTS, plainPath, templateMachineArgs, type Template } from './vm-snapshot.ts';

const LOAD_TIMEOUT_MS = 30_000;

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
  nic: { tap: string; mac: string };
}

/** QEMU's arguments for a VM restored from the template: its machine, its ttyS1 on a socket, and
 *  an incoming migration whose source is given over QMP (so x-ignore-shared is set first). */
export function restoreArgs(template: Template, identitySocket: string): string[] {
  return [
    ...templateMachineArgs(template.shape, template.ram, false),
    '-chardev', `socket,id=ident,path=${plainPath(identitySocket)},server=on,wait=off`,
    '-incoming', 'defer',
  ];
}

/** The same devices on a command line: a restored VM resumed after a suspend (its saved machine
 *  has them, so the QEMU that loads it must have them too, with the same ids and ports). */
export function restoredDeviceArgs(devices: RestoreDevices): string[] {
  return [
    ...devices.disks.flatMap((d) => [
      '-blockdev', `driver=${d.format},node-name=${d.node},read-only=${d.readOnly ? 'on' : 'off'},file.driver=file,file.filename=${plainPath(d.file)}`,
      '-device', `virtio-blk-pci,drive=${d.node},id=${d.device},bus=${d.port}${d.serial ? `,serial=${d.serial}` : ''}`,
    ]),
    '-netdev', `tap,id=n0,ifname=${devices.nic.tap},script=no,downscript=no`,
    '-device', `virtio-net-pci,netdev=n0,id=nic0,mac=${devices.nic.mac},bus=${PORTS.nic},romfile=`,
  ];
}

/** The identity line the guest's init waits for (images/guest-init.sh). */
export function identityLine(now: number, blockDevices: number, seed: Buffer): string {
  const seconds = Math.floor(now / 1000);
  const nanos = String(Math.round((now % 1000) * 1e6)).padStart(9, '0');
  return `ciao-identity ${seconds}.${nanos} ${blockDevices} ${seed.toString('hex')}\n`;
}

/** Loads the template into the QEMU that answers on `sock`, plugs the devices, runs it and hands
 *  the guest its identity. Throws (the caller stops this QEMU and cold-boots) on any failure. */
export async function restoreFromTemplate(sock: string, identitySocket: string, template: Template, devices: RestoreDevices, alive: () => boolean): Promise<void> {
  await qmp(sock, 'migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] });
  await qmp(sock, 'migrate-incoming', { uri: `exec:cat ${plainPath(template.state)}` });
  await waitFor(`the template ${template.key} to load`, async () => {
    // QEMU ends when a stream does not load: no use asking it until the timeout.
    if (!alive()) throw new AbortError('QEMU ended while loading the template (its console says why)');
    const { status } = (await qmp(sock, 'query-status')) as { status: string };
    if (status === 'inmigrate') return false;
    const { status: migration, 'error-desc': error } = (await qmp(sock, 'query-migrate')) as { status?: string; 'error-desc'?: string };
    if (migration === 'failed') throw new AbortError(`loading the template failed${error ? `: ${error}` : ''}`);
    return status === 'paused' || status === 'running';
  }, { timeoutMs: LOAD_TIMEOUT_MS, intervalMs: 10 });
  for (const d of devices.disks) {
    await qmp(sock, 'blockdev-add', { driver: d.format, 'node-name': d.node, 'read-only': !!d.readOnly, file: { driver: 'file', filename: d.file } });
    await qmp(sock, 'device_add', { driver: 'virtio-blk-pci', drive: d.node, id: d.device, bus: d.port, ...(d.serial ? { serial: d.serial } : {}) });
  }
  await qmp(sock, 'netdev_add', { type: 'tap', id: 'n0', ifname: devices.nic.tap, script: 'no', downscript: 'no' });
  // romfile "": no option ROM (a cold-booted VM's BIOS uses it; a running guest does not).
  await qmp(sock, 'device_add', { driver: 'virtio-net-pci', netdev: 'n0', id: 'nic0', mac: devices.nic.mac, bus: PORTS.nic, romfile: '' });
  await qmp(sock, 'cont');
  await sendLine(identitySocket, identityLine(Date.now(), devices.disks.length, randomBytes(64)));
}

/** The line is read by the guest through a 16-byte UART FIFO, at its pace: QEMU takes it from the
 *  socket as the FIFO drains, so the connection stays open a while rather than ending at once. */
async function sendLine(path: string, line: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const conn = net.connect(path, () => conn.write(line, () => resolve()));
    conn.unref();
    conn.on('error', reject);
    setTimeout(() => conn.destroy(), 30_000).unref();
  });
}
