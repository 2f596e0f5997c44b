// A VM restored from a snapshot template (docs/vm-snapshots.md, "A VM restored from it"): the
// arguments of its QEMU (the template's machine with the instance's config drive, disk and tap in
// place of the template's), then, once QEMU answers, the template's machine loaded, the instance's
// volumes hot-plugged, and its identity line written to ttyS1 until the guest answers it.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { AbortError, scaled, waitFor } from '../shared/wait-for.ts';
import { QmpSession } from './qmp.ts';
import { plainPath, restoredDeviceArgs, templateMachineArgs, type PluggedDisk, type RestoreDevices, type Template } from './vm-snapshot.ts';

export { restoredDeviceArgs, type PluggedDisk, type RestoreDevices } from './vm-snapshot.ts';

const LOAD_TIMEOUT_MS = 30_000;

/** QEMU's arguments for a VM restored from the template: its machine with the instance's own
 *  devices where the template had its stand-ins (same ids, ports and sizes), its ttyS1 on a socket,
 *  and an incoming migration whose source is given over QMP (so x-ignore-shared is set first). */
export function restoreArgs(template: Template, identitySocket: string, devices: RestoreDevices): string[] {
  return [
    ...templateMachineArgs(template.shape, template.ram, false),
    ...restoredDeviceArgs(devices),
    '-chardev', `socket,id=ident,path=${plainPath(identitySocket)},server=on,wait=off`,
    '-incoming', 'defer',
  ];
}

/** What the identity line tells a restored guest of its network: its NIC's MAC (it woke with the
 *  template's), its address (ADDRESS/BITS) and gateway, set at once (DHCP confirms them later). */
export interface GuestNetwork { mac: string; address: string; gateway: string }

const IPV4 = String.raw`(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}`;

/** The identity line the guest's init waits for (images/guest-init.sh): the clock, how many disks
 *  to wait for, the random seed, its network, and the serial of the volume that is its "/" ("-":
 *  none; the template's kernel command line names none). Only what these patterns allow reaches its shell. */
export function identityLine(now: number, blockDevices: number, seed: Buffer, net: GuestNetwork, rootSerial?: string): string {
  const seconds = Math.floor(now / 1000);
  const nanos = String(Math.round((now % 1000) * 1e6)).padStart(9, '0');
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(net.mac)) throw new Error(`${net.mac} is not a MAC address`);
  if (!new RegExp(`^${IPV4}/([12]?\\d|3[0-2])$`).test(net.address)) throw new Error(`${net.address} is not an IPv4 address/bits`);
  if (!new RegExp(`^${IPV4}$`).test(net.gateway)) throw new Error(`${net.gateway} is not an IPv4 address`);
  if (rootSerial !== undefined && !/^[0-9A-Za-z]{1,20}$/.test(rootSerial)) throw new Error(`${rootSerial} is not a volume's serial`);
  return `ciao-identity ${seconds}.${nanos} ${blockDevices} ${seed.toString('hex')} ${net.mac} ${net.address} ${net.gateway} ${rootSerial ?? '-'}\n`;
}

/** How long a restored guest may take to read its identity line and answer it: a guest that hung
 *  after the restore is given up on (its QEMU stopped, the VM cold-booted) rather than left silent. */
export const IDENTITY_TIMEOUT_MS = 10_000;
/** What the guest's init writes back on ttyS1 once it has read its identity (images/guest-init.sh). */
export const IDENTITY_TAKEN = 'ciao-identity-taken';

/** Milliseconds from the restore's start to each of its steps (the launcher logs them). */
export interface RestorePhases { loaded: number; plugged: number; sent: number; taken: number }

/** Loads the template into the QEMU that answers on `sock`, hot-plugs the volumes, runs it and
 *  hands the guest its identity, until the guest says it took it. Throws (the caller stops this
 *  QEMU and cold-boots) on any failure. One QMP connection carries every command. `blockDevices`:
 *  how many disks the guest has then (its own, on the command line, and the volumes). */
export async function restoreFromTemplate(sock: string, identitySocket: string, template: Template, restored: { volumes: PluggedDisk[]; blockDevices: number; network: GuestNetwork; rootSerial?: string }, alive: () => boolean): Promise<RestorePhases> {
  const t0 = performance.now();
  const ms = () => Math.round(performance.now() - t0);
  const session = await QmpSession.open(sock);
  const phases: Partial<RestorePhases> = {};
  try {
    await session.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] });
    await session.execute('migrate-incoming', { uri: `exec:cat ${plainPath(template.state)}` });
    await waitFor(`the template ${template.key} to load`, async () => {
      // QEMU ends when a stream does not load: no use asking it until the timeout.
      if (!alive()) throw new AbortError('QEMU ended while loading the template (its console says why)');
      const { status } = (await session.execute('query-status')) as { status: string };
      if (status === 'inmigrate') return false;
      const { status: migration, 'error-desc': error } = (await session.execute('query-migrate')) as { status?: string; 'error-desc'?: string };
      if (migration === 'failed') throw new AbortError(`loading the template failed${error ? `: ${error}` : ''}`);
      return status === 'paused' || status === 'running';
    }, { timeoutMs: LOAD_TIMEOUT_MS, intervalMs: 5 });
    phases.loaded = ms();
    // Volumes the instance starts with are hot-plugged, as an attach does (the template has none).
    for (const d of restored.volumes) {
      await session.execute('blockdev-add', { driver: d.format, 'node-name': d.node, 'read-only': !!d.readOnly, file: { driver: 'file', filename: d.file } });
      await session.execute('device_add', { driver: 'virtio-blk-pci', drive: d.node, id: d.device, bus: d.port, ...(d.serial ? { serial: d.serial } : {}) });
    }
    phases.plugged = ms();
    await session.execute('cont');
  } finally {
    session.close();
  }
  await handOverIdentity(identitySocket, identityLine(Date.now(), restored.blockDevices, randomBytes(64), restored.network, restored.rootSerial), () => { phases.sent = ms(); });
  phases.taken = ms();
  return phases as RestorePhases;
}

/** Writes the identity line to the guest's ttyS1 and waits until the guest answers that it took
 *  it. The line goes through a 16-byte UART FIFO at the guest's pace, so the connection stays open
 *  until the answer; no answer in IDENTITY_TIMEOUT_MS (scaled) is an error naming a hung guest. */
export async function handOverIdentity(path: string, line: string, onSent: () => void = () => {}, timeoutMs = scaled(IDENTITY_TIMEOUT_MS)): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let heard = '';
    const done = (err?: Error) => {
      clearTimeout(timer);
      conn.destroy();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => done(new Error(`the guest did not take its identity within ${(timeoutMs / 1000).toFixed(1)} s of it being sent (hung after the restore?)`)), timeoutMs);
    const conn = net.connect(path, () => conn.write(line, () => onSent()));
    conn.on('data', (chunk) => {
      heard = (heard + chunk.toString('latin1')).slice(-256);
      if (heard.includes(IDENTITY_TAKEN)) done();
    });
    conn.on('error', (err) => done(new Error(`the guest's identity port: ${err.message}`)));
    conn.on('close', () => done(new Error('the guest\'s identity port closed before the guest took its identity')));
  });
}
