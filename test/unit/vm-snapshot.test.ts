// VM snapshot templates without QEMU (docs/vm-snapshots.md): the key follows every input, a
// template is found only when complete, a missing one is reported with the reason, the identity
// line and the machine arguments are what the guest's init and QEMU's migration need.
import t from 'tap';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../../shared/temp-dir.ts';
import { accelArgs, PORTS, plainPath, TEMPLATE_MAC, templateDevices, templateMachineArgs, VmSnapshots, type SnapshotShape } from '../../launcher/vm-snapshot.ts';
import { identityLine, restoreArgs, restoredDeviceArgs } from '../../launcher/vm-restore.ts';
import { vmSnapshotArgs } from '../../singlevm/actions/node.ts';
import { LATER_MAX, laterShapes, shapesMadeBefore } from '../../launcher/vm-snapshot-later.ts';
import { qcow2Size } from '../../launcher/qemu-backend.ts';
import { isInstanceQemu } from '../../singlevm/probes.ts';

const { path: dir, remove } = tempDir('ciao-vm-snapshot-unit');
t.teardown(remove);
await writeFile(join(dir, 'vmlinuz'), 'kernel');
await writeFile(join(dir, 'initrd.gz'), 'initrd');
const shape: SnapshotShape = { kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.gz'), vcpus: 1, memMB: 256, diskMB: 1024, accel: 'tcg' };

t.test('the key changes with the image\'s contents, vcpus, memory, disk and accel, and only with them', async (t) => {
  const snapshots = new VmSnapshots({ dir: join(dir, 'cache'), runDir: dir, log: () => {} });
  const key = await snapshots.keyOf(shape);
  t.equal(await snapshots.keyOf({ ...shape }), key);
  t.not(await snapshots.keyOf({ ...shape, vcpus: 2 }), key);
  t.not(await snapshots.keyOf({ ...shape, memMB: 512 }), key);
  t.not(await snapshots.keyOf({ ...shape, diskMB: 0 }), key);
  t.not(await snapshots.keyOf({ ...shape, accel: 'kvm' }), key);
  await writeFile(join(dir, 'other-initrd.gz'), 'initrd2');
  t.not(await snapshots.keyOf({ ...shape, initrd: join(dir, 'other-initrd.gz') }), key);
});

t.test('lookup finds a complete template, and skips one without template.json', async (t) => {
  const cache = join(dir, 'lookup');
  const made: string[] = [];
  const snapshots = new VmSnapshots({ dir: cache, runDir: dir, log: (m) => made.push(m) });
  const key = await snapshots.keyOf(shape);
  await mkdir(join(cache, key), { recursive: true });
  // A folder without template.json is not a template (a make would be started: stop it from booting here).
  (snapshots as unknown as { make: () => Promise<void> }).make = async () => { throw new Error('no QEMU in unit tests'); };
  t.match(await snapshots.lookup(shape), { reason: /no template yet/ });
  await snapshots.prepare(shape);
  t.match(made, ['VM snapshot template could not be made'], 'the failure is logged');
  t.match(await snapshots.lookup(shape), { reason: 'the template could not be made: no QEMU in unit tests' }, 'and kept: not retried for every VM');
  await writeFile(join(cache, key, 'template.json'), '{}');
  const found = await new VmSnapshots({ dir: cache, runDir: dir, log: () => {} }).lookup(shape);
  t.match(found, { template: { key, ram: join(cache, key, 'ram'), state: join(cache, key, 'state') } });
});

t.test('the template and its restored copies share one machine; only the memory\'s sharing differs', async (t) => {
  const template = templateMachineArgs(shape, '/c/ram', true);
  const copy = templateMachineArgs(shape, '/c/ram', false);
  t.same(template.map((a) => a.replace('share=on', 'share=off')), copy);
  t.ok(template.includes('-nic') && template[template.indexOf('-nic') + 1] === 'none', 'no default NIC');
  t.ok(template.includes('-vga') && template[template.indexOf('-vga') + 1] === 'none', 'no VGA');
  t.same(template.slice(template.indexOf('-accel'), template.indexOf('-accel') + 2), ['-accel', 'tcg,split-wx=on'], 'TCG\'s code buffer on shared memory: no huge pages to zero');
  t.notMatch(template.join(' '), /accel=/, 'the accelerator only in -accel (QEMU refuses it in both)');
  t.same(accelArgs('kvm'), ['-accel', 'kvm']);
  t.match(template.join(' '), /ciao\.snapshot/);
  for (const port of Object.values(PORTS)) t.match(template.join(' '), new RegExp(`id=${port},`));
  const own = { disks: [{ node: 'config', device: 'config', port: 'vcfg', file: '/i/config.iso', format: 'raw' as const, readOnly: true }], nic: { tap: 'tapabc', mac: '02:00:ac:10:00:02' } };
  const restore = restoreArgs({ key: 'k', dir: '/c', ram: '/c/ram', state: '/c/state', console: '/c/console.log', shape }, '/i/identity.sock', own);
  t.same(restore.slice(-2), ['-incoming', 'defer']);
  t.match(restore.join(' '), /socket,id=ident,path=\/i\/identity\.sock,server=on,wait=off/);
  t.same(restore.slice(copy.length, copy.length + restoredDeviceArgs(own).length), restoredDeviceArgs(own), 'the VM\'s own devices on the command line');
  // The template's stand-ins: the same ids and ports, a NIC on no network with a MAC no instance has.
  const standIns = restoredDeviceArgs(templateDevices(shape, '/c'));
  t.same(standIns, [
    '-blockdev', 'driver=raw,node-name=config,read-only=on,file.driver=file,file.filename=/c/config.stand-in',
    '-device', 'virtio-blk-pci,drive=config,id=config,bus=vcfg',
    '-blockdev', 'driver=qcow2,node-name=disk,read-only=off,file.driver=file,file.filename=/c/disk.stand-in.qcow2',
    '-device', 'virtio-blk-pci,drive=disk,id=disk,bus=vdisk',
    '-device', `virtio-net-pci,id=nic0,mac=${TEMPLATE_MAC},bus=vnic,romfile=`,
  ]);
  t.notMatch(restoredDeviceArgs(templateDevices({ ...shape, diskMB: 0 }, '/c')).join(' '), /vdisk/, 'no disk for a shape without one');
  // Probed at the template's boot in bus order: the config drive before the disk (vda, vdb).
  t.ok(template.findIndex((a) => a.includes('id=vcfg,')) < template.findIndex((a) => a.includes('id=vdisk,')));
});

t.test('paths QEMU would misread are refused', async (t) => {
  t.throws(() => plainPath('/a,b'), /misread/);
  t.throws(() => plainPath('/a b'), /misread/);
  t.equal(plainPath('/var/lib/x-1/ram'), '/var/lib/x-1/ram');
});

t.test('a resumed restored VM has its hot-plugged devices on its command line, same ids and ports', async (t) => {
  const args = restoredDeviceArgs({ disks: [{ node: 'config', device: 'config', port: 'vcfg', file: '/i/config.iso', format: 'raw', readOnly: true },
    { node: 'volx', device: 'vol-x', port: 'vp0', file: '/v/x.qcow2', format: 'qcow2', serial: 'x' }], nic: { tap: 'tapabc', mac: '02:00:ac:10:00:02' } });
  t.same(args, [
    '-blockdev', 'driver=raw,node-name=config,read-only=on,file.driver=file,file.filename=/i/config.iso',
    '-device', 'virtio-blk-pci,drive=config,id=config,bus=vcfg',
    '-blockdev', 'driver=qcow2,node-name=volx,read-only=off,file.driver=file,file.filename=/v/x.qcow2',
    '-device', 'virtio-blk-pci,drive=volx,id=vol-x,bus=vp0,serial=x',
    '-netdev', 'tap,id=n0,ifname=tapabc,script=no,downscript=no',
    '-device', 'virtio-net-pci,netdev=n0,id=nic0,mac=02:00:ac:10:00:02,bus=vnic,romfile=',
  ]);
});

t.test('the identity line: the clock to the nanosecond, the disks to wait for, the seed in hex, the network, the root volume', async (t) => {
  const net = { mac: '02:00:ac:10:00:02', address: '172.16.0.2/24', gateway: '172.16.0.1' };
  t.equal(identityLine(1_700_000_000_123.5, 2, Buffer.from([0, 255, 16]), net), 'ciao-identity 1700000000.123500000 2 00ff10 02:00:ac:10:00:02 172.16.0.2/24 172.16.0.1 -\n');
  t.equal(identityLine(1_700_000_000_000, 1, Buffer.from([1]), net), 'ciao-identity 1700000000.000000000 1 01 02:00:ac:10:00:02 172.16.0.2/24 172.16.0.1 -\n');
  t.equal(identityLine(0, 3, Buffer.from([1]), net, '0b1f2e3d4c5b6a798877'), 'ciao-identity 0.000000000 3 01 02:00:ac:10:00:02 172.16.0.2/24 172.16.0.1 0b1f2e3d4c5b6a798877\n');
  t.throws(() => identityLine(0, 3, Buffer.from([1]), net, 'x; reboot'), /not a volume's serial/);
  // Nothing but a MAC and addresses goes to the guest's shell.
  t.throws(() => identityLine(0, 1, Buffer.from([1]), { ...net, mac: '02:00 x' }), /not a MAC/);
  t.throws(() => identityLine(0, 1, Buffer.from([1]), { ...net, address: '172.16.0.2' }), /not an IPv4 address\/bits/);
  t.throws(() => identityLine(0, 1, Buffer.from([1]), { ...net, address: '172.16.0.256/24' }), /not an IPv4/);
  t.throws(() => identityLine(0, 1, Buffer.from([1]), { ...net, gateway: '172.16.0.1; reboot' }), /not an IPv4 address/);
});

t.test('setup gives the launcher a template folder and the default VM shape, the later ones when asked, and nothing with CIAO_VM_SNAPSHOTS=0', async (t) => {
  t.same(vmSnapshotArgs('/cache', {}), ['--vm-snapshots', '/cache/images/vm-snapshots', '--vm-snapshot-shape', '1:256:1024']);
  t.same(vmSnapshotArgs('/cache', { CIAO_VM_SNAPSHOT_LATER: '1' }), ['--vm-snapshots', '/cache/images/vm-snapshots', '--vm-snapshot-shape', '1:256:1024', '--vm-snapshot-later']);
  t.same(vmSnapshotArgs('/cache', { CIAO_VM_SNAPSHOTS: '0' }), []);
});

t.test('made later: each shape without a disk, then the shapes made before (newest first, this accel, well-formed), each once', async (t) => {
  const cache = join(dir, 'later');
  const made = async (key: string, body: object | string, at: number) => {
    await mkdir(join(cache, key), { recursive: true });
    await writeFile(join(cache, key, 'template.json'), typeof body === 'string' ? body : JSON.stringify(body));
    await utimes(join(cache, key, 'template.json'), at, at);
  };
  t.same(await shapesMadeBefore(cache, 'tcg'), [], 'no folder: none');
  await made('a'.repeat(24), { format: 6, vcpus: 2, memMB: 512, diskMB: 2048, accel: 'tcg' }, 1000);
  await made('b'.repeat(24), { format: 7, vcpus: 1, memMB: 256, diskMB: 2048, accel: 'tcg' }, 3000);
  await made('c'.repeat(24), { format: 3, vcpus: 1, memMB: 128, accel: 'tcg' }, 2000);
  await made('d'.repeat(24), { format: 7, vcpus: 4, memMB: 1024, diskMB: 0, accel: 'kvm' }, 4000);
  await made('e'.repeat(24), { vcpus: -1, memMB: 256, diskMB: 0, accel: 'tcg' }, 5000);
  await made('f'.repeat(24), 'not json', 6000);
  await made(`${'a'.repeat(24)}.tmp-12345678`, { vcpus: 8, memMB: 256, diskMB: 0, accel: 'tcg' }, 7000);
  const before = await shapesMadeBefore(cache, 'tcg');
  t.same(before, [{ vcpus: 1, memMB: 256, diskMB: 2048 }, { vcpus: 1, memMB: 128, diskMB: 0 }, { vcpus: 2, memMB: 512, diskMB: 2048 }],
    "newest first; another accel's, a malformed one and a half-made one left out");
  const now = [{ vcpus: 1, memMB: 256, diskMB: 1024 }];
  t.same(laterShapes(now, [...before, { vcpus: 1, memMB: 256, diskMB: 1024 }, { vcpus: 1, memMB: 256, diskMB: 0 }]),
    [{ vcpus: 1, memMB: 256, diskMB: 0 }, ...before], "the disk-less one first; none of now's, none twice");
  const many = Array.from({ length: 10 }, (_, n) => ({ vcpus: 1, memMB: 64 * (n + 1), diskMB: 0 }));
  t.equal(laterShapes(now, many).length, LATER_MAX, 'at most LATER_MAX');
});

t.test('a disk\'s size, from its qcow2 header (a restart picks the template of its size); anything else is refused', async (t) => {
  const { path, remove } = tempDir('ciao-qcow2-size');
  t.teardown(remove);
  const header = Buffer.alloc(104);
  header.writeUInt32BE(0x514649fb, 0);
  header.writeUInt32BE(3, 4);
  header.writeBigUInt64BE(BigInt(1024 * 2 ** 20), 24);
  await writeFile(join(path, 'disk.qcow2'), header);
  t.equal(await qcow2Size(join(path, 'disk.qcow2')), 1024 * 2 ** 20);
  await writeFile(join(path, 'raw'), Buffer.alloc(4096));
  await t.rejects(qcow2Size(join(path, 'raw')), /is not a qcow2 disk/);
  await writeFile(join(path, 'short'), 'QFI');
  await t.rejects(qcow2Size(join(path, 'short')), /is not a qcow2 disk/);
});

t.test("verify's leftovers: an instance's QEMU of this cluster, never a template being made nor another cluster's VM", async (t) => {
  const id = '0b1f2e3d-4c5b-4a79-8877-665544332211';
  const cmd = (...args: string[]) => ['qemu-system-x86_64', ...args, ''].join('\0');
  t.ok(isInstanceQemu('bg', cmd('-name', `ciao-bg-${id}`, '-m', '256')));
  t.notOk(isInstanceQemu('bg', cmd('-name', 'ciao-snapshot-template-0123456789abcdef01234567', '-qmp', 'unix:/tmp/x/ciao-bg/node-0/snapshot.qmp')), "a template's, in the node's folder");
  t.notOk(isInstanceQemu('bg', cmd('-name', `ciao-bg-x-${id}`)), "cluster bg-x's");
  t.notOk(isInstanceQemu('b.', cmd('-name', `ciao-bg-${id}`)), 'a name is matched as it is, not as a pattern');
  t.notOk(isInstanceQemu('bg', ['ip', 'netns', 'exec', 'n', 'qemu-system-x86_64', '-name', `ciao-bg-${id}`, ''].join('\0')), 'only QEMU itself');
});
