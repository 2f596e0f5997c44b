// Needs root and QEMU: Nova's rescue on the qemu backend. A VM whose keypair logs in as root (no
// user data) writes a marker onto its own blank disk with dd; rescued, a QEMU boots the rescue
// image (another kernel and initramfs, as its command line shows) with that disk attached, the guest
// boots anew as itself (same address, keys, hostname) and reads the marker back; a launcher
// restarted meanwhile sees it rescued; unrescued, it boots from its own image again.
import t from 'tap';
import { copyFile, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { run } from '../../shared/run.ts';
import { readPidFile } from '../../shared/pid-file.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { buildVmImage } from '../../images/vm-image.ts';
import { vmSegment } from '../helpers/vm-segment.ts';
import { QemuBackend, type QemuBackendOptions } from '../../launcher/qemu-backend.ts';
import type { StartPayload } from '../../protocol/payloads.ts';

const { path: dir, remove: removeDir } = tempDir('ciao-rescue-test');
const own = await buildVmImage(join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ciao', 'images'));
// The rescue image: the same system under other file names, so the QEMU that runs says which booted.
const rescueImage = { kernel: join(dir, 'rescue-vmlinuz'), initrd: join(dir, 'rescue-initrd') };
await copyFile(own.kernel, rescueImage.kernel);
await copyFile(own.initrd, rescueImage.initrd);
const { nodeNs, ip, network, close } = await vmSegment(dir);

await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'key')]);
const options: QemuBackendOptions = {
  stateDir: join(dir, 'state'), images: { 'ciao-vm': own, 'rescue-vm': rescueImage }, nodeNs, accel: 'tcg', cluster: 'rescuetest',
  network: { join: async () => 't9', adopt: () => {}, leave: async () => {} },
};
const backend = new QemuBackend(options);
// No user data: the keypair (meta_data.json public_keys) logs in as root, who may write the raw disk.
const spec: StartPayload = {
  instanceId: randomUUID(), tenantId: 't', workloadId: 'w', vmType: 'qemu', image: 'ciao-vm',
  resources: { vcpus: 1, memMB: 256, diskMB: 64 }, requirements: {},
  network,
  publicKeys: { mykey: (await readFile(join(dir, 'key.pub'), 'utf8')).trim() },
};
t.teardown(async () => {
  await backend.delete(spec.instanceId).catch(() => undefined);
  await close();
  removeDir();
});
const folder = join(dir, 'state/instances', spec.instanceId);
const ssh = (cmd: string) => run('ip', ['netns', 'exec', nodeNs, 'ssh', '-q', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no',
  '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=2', '-i', join(dir, 'key'), `root@${ip}`, cmd], { timeout: 10_000 }).then((r) => r.stdout.trim());
/** The guest's boot id, once SSH answers with one other than `before`. */
const bootAfter = (before: string) => waitFor(`SSH to ${ip} in a new boot`, async () => {
  const id = await ssh('cat /proc/sys/kernel/random/boot_id').catch(() => before);
  return id !== before && id;
}, { timeoutMs: 90_000, intervalMs: 250 })
  .catch(async (err) => { throw new Error(`${(err as Error).message}\nconsole:\n${(await readFile(join(folder, 'console.log'), 'utf8').catch(() => '')).slice(-1500)}`); });
/** The kernel the instance's QEMU runs. */
const qemuKernel = async () => {
  const argv = (await readFile(`/proc/${await readPidFile(join(folder, 'qemu.pid'))}/cmdline`, 'utf8')).split('\0');
  return argv[argv.indexOf('-kernel') + 1];
};
// The instance's own disk is the virtio disk that is not the config drive (an ISO): its serial is empty.
const MARKER = `ciao-rescue-${randomBytes(4).toString('hex')}`;
const ownDisk = 'for b in /sys/block/vd*; do [ "$(cat $b/size)" = 131072 ] && echo /dev/${b##*/}; done';

t.test('rescue boots the rescue image with the instance\'s own disk attached: a marker written before is read back; unrescue boots its own image again', async (t) => {
  await backend.start(spec);
  const first = await bootAfter('');
  t.equal(await ssh('hostname'), spec.instanceId, 'the VM answers SSH as root with its keypair');
  const disk = await ssh(ownDisk);
  t.match(disk, /^\/dev\/vd[a-z]$/, 'the guest has its own 64 MB disk');
  await ssh(`printf '%s' ${MARKER} | dd of=${disk} bs=512 seek=2048 conv=notrunc,fsync 2>/dev/null`);

  await backend.stop(spec.instanceId);
  const running = await backend.rescue(spec, 'rescue-vm');
  t.match(running, { sshIp: ip, sshPort: 22 });
  t.equal(await qemuKernel(), rescueImage.kernel, 'the rescue image\'s kernel boots');
  const rescued = await bootAfter(first);
  t.not(rescued, first, 'a new boot');
  t.equal(await ssh('hostname'), spec.instanceId, 'the rescue answers SSH with the instance\'s keypair, as itself (its config drive)');
  const seen = await ssh(ownDisk);
  t.match(seen, /^\/dev\/vd[a-z]$/, 'the rescue sees the instance\'s disk as a block device');
  t.equal(await ssh(`dd if=${seen} bs=512 skip=2048 count=1 2>/dev/null | head -c ${MARKER.length}`), MARKER, 'and reads the marker written on it before');
  t.match(await new QemuBackend(options).list(), [{ running: true, rescued: true }], 'a launcher restarted meanwhile sees it rescued');
  t.same(JSON.parse(await readFile(join(folder, 'rescue.json'), 'utf8')), { image: 'rescue-vm' });
  t.match(JSON.parse(await readFile(join(folder, 'spec.json'), 'utf8')), { image: 'ciao-vm' }, 'its spec keeps its own image');
  await ssh(`printf '%s' repaired | dd of=${seen} bs=512 seek=4096 conv=notrunc,fsync 2>/dev/null`);

  await backend.stop(spec.instanceId);
  await backend.unrescue(spec);
  t.equal(await qemuKernel(), own.kernel, 'its own image\'s kernel boots again');
  const back = await bootAfter(rescued);
  t.not(back, rescued, 'a new boot');
  t.equal(await ssh(`dd if=$(${ownDisk}) bs=512 skip=4096 count=1 2>/dev/null | head -c 8`), 'repaired', 'what the rescue wrote on the disk is there');
  await t.rejects(stat(join(folder, 'rescue.json')), 'the rescue mark is gone');
  t.match(await new QemuBackend(options).list(), [{ running: true, rescued: false }], 'listed as an ordinary running VM');
});

t.test('a rescue image the node lacks is refused before anything starts', async (t) => {
  await backend.stop(spec.instanceId);
  for (const name of ['no-such-image', 'constructor', '__proto__']) {
    t.match(await backend.rescue(spec, name).then(() => undefined, (e: unknown) => e), { reason: 'image_failure' }, `no image ${name} on the node`);
  }
  t.notOk(await readPidFile(join(folder, 'qemu.pid')), 'no QEMU runs');
});
