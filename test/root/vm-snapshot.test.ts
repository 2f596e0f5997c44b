// Needs root and QEMU: VMs restored from a snapshot template (docs/vm-snapshots.md) in a throwaway
// node namespace, as test/root/qemu-backend.test.ts boots them cold: each answers SSH with its own
// id, key and host keys, its own random state and boot id, a clock set from the host; a restart
// restores again with its own disk, a resize from its new shape's template, a root-volume boot with
// the volume as "/"; with snapshots off a VM (and a restart) cold-boots and says why.
import t from 'tap';
import { access, copyFile, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { run } from '../../shared/run.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { buildVmImage } from '../../images/vm-image.ts';
import { vmSegment } from '../helpers/vm-segment.ts';
import { QemuBackend, volumeSerial, type QemuBackendOptions } from '../../launcher/qemu-backend.ts';
import { VmSnapshots } from '../../launcher/vm-snapshot.ts';
import type { StartPayload } from '../../protocol/payloads.ts';

const { path: dir, remove: removeDir } = tempDir('ciao-snapshot-test');
const image = await buildVmImage(join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ciao', 'images'));
const { nodeNs, vms, close } = await vmSegment(dir, 3);
const logs: { message: string; fields?: Record<string, unknown> }[] = [];
const log = (message: string, fields?: Record<string, unknown>) => void logs.push({ message, fields });
const snapshots = new VmSnapshots({ dir: join(dir, 'snapshots'), runDir: join(dir, 'state'), log });
const options: QemuBackendOptions = {
  stateDir: join(dir, 'state'), images: { 'ciao-vm': image, 'rescue-vm': image }, nodeNs, accel: 'tcg', cluster: 'snaptest',
  network: { join: async () => 't9', adopt: () => {}, leave: async () => {} }, snapshots, log,
};
const backend = new QemuBackend(options);
const specs: StartPayload[] = [];
t.teardown(async () => {
  for (const s of specs) await backend.delete(s.instanceId).catch(() => undefined);
  await close();
  removeDir();
});

await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'key')]);
const pub = (await readFile(join(dir, 'key.pub'), 'utf8')).trim();
const specFor = (n: number): StartPayload => {
  const spec: StartPayload = {
    instanceId: randomUUID(), tenantId: 't', workloadId: 'w', vmType: 'qemu', image: 'ciao-vm',
    resources: { vcpus: 1, memMB: 256, diskMB: 64 }, requirements: {},
    network: { ip: vms[n].ip, mac: vms[n].mac, subnet: '172.16.9.0/24', gateway: '172.16.9.1' },
    userData: `#cloud-config\nusers:\n  - name: demouser\n    ssh_authorized_keys:\n      - ${pub}\n`,
  };
  specs.push(spec);
  return spec;
};
const ssh = (ip: string, cmd: string) => run('ip', ['netns', 'exec', nodeNs, 'ssh', '-q', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no',
  '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=2', '-i', join(dir, 'key'), `demouser@${ip}`, cmd], { timeout: 10_000 });
const consoleOf = (id: string) => readFile(join(dir, 'state/instances', id, 'console.log'), 'utf8').catch(() => '');
const sshHostname = (spec: StartPayload) => waitFor(`SSH to ${spec.network.ip}`, async () => (await ssh(spec.network.ip, 'hostname')).stdout.trim(), { timeoutMs: 90_000, intervalMs: 100 })
  .catch(async (err) => { throw new Error(`${(err as Error).message}\nconsole:\n${(await consoleOf(spec.instanceId)).slice(-1500)}`); });
const hostKey = async (ip: string) => (await run('ip', ['netns', 'exec', nodeNs, 'ssh-keyscan', '-t', 'ed25519', ip], { timeout: 10_000 })).stdout.trim().split(' ').at(-1);
const facts = async (ip: string) => {
  const out = (await ssh(ip, 'cat /proc/sys/kernel/random/boot_id; head -c 16 /dev/urandom | od -An -tx1 | tr -d " \\n"; echo; date +%s; ls -d /sys/block/vd* | wc -l')).stdout.trim().split('\n');
  return { bootId: out[0], random: out[1], clock: Number(out[2]), disks: Number(out[3]) };
};
const shape = { ...image, vcpus: 1, memMB: 256, diskMB: 64, accel: 'tcg' as const };
/** The last line the launcher logged of this instance (a template made meanwhile logs too). */
const lastLog = (id: string) => logs.filter((l) => l.fields?.instance === id).at(-1);
/** The writable disk without a serial: the instance's own. */
const ownDisk = 'for b in /sys/block/vd*; do [ "$(cat $b/ro)" = 0 ] && [ -z "$(cat $b/serial)" ] && echo /dev/${b##*/}; done; true';

t.test('a VM started before its template exists cold-boots and says why; the template is made meanwhile', async (t) => {
  const spec = specFor(2);
  await backend.start(spec);
  t.match(logs, [{ message: 'VM cold-boots', fields: { instance: spec.instanceId, reason: /no template yet/ } }]);
  t.equal(await sshHostname(spec), spec.instanceId);
  await snapshots.prepare(shape);
  const key = await snapshots.keyOf(shape);
  await access(join(dir, 'snapshots', key, 'template.json'));
  t.match(await readFile(join(dir, 'snapshots', key, 'console.log'), 'utf8'), /parked for a snapshot/, 'the template parked before it was saved');
  await backend.delete(spec.instanceId);
});

t.test('two VMs restored from the template: each its own id, host key, boot id and random state; the clock is the host\'s', async (t) => {
  const [a, b] = [specFor(0), specFor(1)];
  for (const spec of [a, b]) {
    const t0 = performance.now();
    await backend.start(spec);
    t.equal(await sshHostname(spec), spec.instanceId, 'hostname = instance id, reached with the instance\'s own key');
    t.comment(`restored VM create → SSH answers: ${((performance.now() - t0) / 1000).toFixed(2)} s (TCG)`);
    t.match(logs.at(-1), { message: 'VM restored from a snapshot', fields: { instance: spec.instanceId } });
  }
  const [fa, fb] = [await facts(a.network.ip), await facts(b.network.ip)];
  t.not(fa.bootId, fb.bootId, 'different boot ids');
  t.not(fa.random, fb.random, 'different random bytes');
  t.not(await hostKey(a.network.ip), await hostKey(b.network.ip), 'different SSH host keys');
  for (const f of [fa, fb]) {
    t.ok(Math.abs(f.clock - Date.now() / 1000) < 5, `the guest's clock (${f.clock}) is within 5 s of the host's`);
    t.equal(f.disks, 2, 'its config drive and its own disk are attached');
  }
  t.match(await consoleOf(a.instanceId), /Linux version[\s\S]*restored from a snapshot[\s\S]*ready, hostname/, 'the console shows the boot and the restore');
  for (const spec of [a, b]) t.notMatch(await consoleOf(spec.instanceId), /ciao-vm: cannot/, 'the identity (clock, seed, MAC, address, route) applied whole');
});

t.test('a restored VM\'s restart restores again, with its own disk: what it wrote there is still there', async (t) => {
  const a = specs.find((s) => s.network.ip === vms[0].ip)!;
  const disk = (await ssh(a.network.ip, ownDisk)).stdout.trim();
  t.equal(disk, '/dev/vdb', 'the disk is vdb after the config drive, as on a cold boot');
  // Its first block, the one the template's kernel read (zeros) when it probed its stand-in disk:
  // a marker, and a partition table (one partition, sectors 2048–4095).
  await ssh(a.network.ip, `echo kept-across-restart | dd of=${disk} conv=notrunc 2>/dev/null; `
    + `printf '\\0\\0\\0\\0\\203\\0\\0\\0\\0\\10\\0\\0\\0\\10\\0\\0' | dd of=${disk} bs=1 seek=446 conv=notrunc 2>/dev/null; `
    + `printf '\\125\\252' | dd of=${disk} bs=1 seek=510 conv=notrunc 2>/dev/null; sync`);
  const before = (await facts(a.network.ip)).bootId;
  await backend.stop(a.instanceId);
  await backend.start({ ...a, restart: true });
  t.match(lastLog(a.instanceId), { message: 'VM restored from a snapshot', fields: { instance: a.instanceId } });
  t.equal(await sshHostname(a), a.instanceId);
  t.not((await facts(a.network.ip)).bootId, before, 'a new boot');
  t.match((await ssh(a.network.ip, `head -c 19 ${disk}`)).stdout, 'kept-across-restart', 'the guest reads its disk, not what the template cached of the stand-in');
  t.equal((await ssh(a.network.ip, 'cat /sys/block/vdb/vdb1/size')).stdout.trim(), '2048', 'and finds its partition, as a cold boot does (the template found none on its stand-in)');
  t.match(await consoleOf(a.instanceId), /restored from a snapshot[\s\S]*ready, hostname[\s\S]*Linux version[\s\S]*restored from a snapshot/, 'the console keeps the first boot, then the restart');
});

t.test('with snapshots off, a restart cold-boots from its own disk and says why', async (t) => {
  const a = specs.find((s) => s.network.ip === vms[0].ip)!;
  const off = new QemuBackend({ ...options, snapshots: undefined });
  await off.stop(a.instanceId);
  await off.start({ ...a, restart: true });
  t.match(lastLog(a.instanceId), { message: 'VM cold-boots', fields: { reason: 'snapshots are off' } });
  t.equal(await sshHostname(a), a.instanceId);
  t.match((await ssh(a.network.ip, 'head -c 19 /dev/vdb')).stdout, 'kept-across-restart');
  t.equal((await ssh(a.network.ip, 'cat /sys/block/vdb/vdb1/size')).stdout.trim(), '2048', 'its partition');
});

t.test('a rescue restores from the rescue image\'s template with the instance\'s own disk, and so does the unrescue', async (t) => {
  const a = specs.find((s) => s.network.ip === vms[0].ip)!;
  await backend.stop(a.instanceId);
  await backend.rescue(a, 'rescue-vm');
  t.match(lastLog(a.instanceId), { message: 'VM restored from a snapshot' });
  t.equal(await sshHostname(a), a.instanceId, 'as itself');
  t.match((await ssh(a.network.ip, 'head -c 19 /dev/vdb')).stdout, 'kept-across-restart', 'its own disk, as it is');
  await backend.stop(a.instanceId);
  await backend.unrescue(a);
  t.match(lastLog(a.instanceId), { message: 'VM restored from a snapshot' });
  t.equal(await sshHostname(a), a.instanceId);
  t.equal((await ssh(a.network.ip, 'cat /sys/block/vdb/vdb1/size')).stdout.trim(), '2048', 'its partition');
});

t.test('a VM that boots from a volume is restored too: the volume is its "/", and what it wrote there outlives a restart', async (t) => {
  const spec = specFor(2);
  const volume = { id: randomUUID(), path: join(dir, 'root-volume.qcow2'), root: true };
  await copyFile(image.root, volume.path);
  spec.volumes = [volume];
  await backend.start(spec);
  t.match(lastLog(spec.instanceId), { message: 'VM restored from a snapshot' });
  t.equal(await sshHostname(spec), spec.instanceId);
  const rootDevice = 'd=$(awk \'$2=="/" {d=$1} END {print d}\' /proc/mounts); echo "$d $(cat /sys/block/${d#/dev/}/serial)"';
  t.match((await ssh(spec.network.ip, rootDevice)).stdout.trim(), new RegExp(`^/dev/vdc ${volumeSerial(volume.id)}$`), "the guest's / is the volume, vdc as on a cold boot");
  await ssh(spec.network.ip, 'echo kept-on-the-volume > ~/marker && sync');
  await backend.stop(spec.instanceId);
  await backend.start({ ...spec, restart: true });
  t.match(lastLog(spec.instanceId), { message: 'VM restored from a snapshot' });
  t.equal(await sshHostname(spec), spec.instanceId);
  t.equal((await ssh(spec.network.ip, 'cat ~/marker')).stdout.trim(), 'kept-on-the-volume');
  await backend.delete(spec.instanceId);
});

t.test('a resized VM restores from its new shape\'s template once it is made (a cold boot meanwhile): the guest sees its grown disk', async (t) => {
  const spec = specFor(2);
  await backend.start(spec);
  t.equal(await sshHostname(spec), spec.instanceId);
  await ssh(spec.network.ip, 'echo kept-across-resize | dd of=/dev/vdb conv=notrunc 2>/dev/null; sync');
  await backend.stop(spec.instanceId);
  const grown: StartPayload = { ...spec, resources: { ...spec.resources, diskMB: 128 }, restart: true };
  await backend.resize(grown);
  await backend.start(grown);
  t.match(lastLog(spec.instanceId), { message: 'VM cold-boots', fields: { reason: /no template yet/ } });
  t.equal(await sshHostname(spec), spec.instanceId);
  t.equal((await ssh(spec.network.ip, 'cat /sys/block/vdb/size')).stdout.trim(), String(128 * 2048), 'cold: 128 MB');
  await snapshots.prepare({ ...shape, diskMB: 128 });
  await backend.stop(spec.instanceId);
  await backend.start(grown);
  t.match(lastLog(spec.instanceId), { message: 'VM restored from a snapshot' });
  t.equal(await sshHostname(spec), spec.instanceId);
  t.equal((await ssh(spec.network.ip, 'cat /sys/block/vdb/size')).stdout.trim(), String(128 * 2048), 'restored: 128 MB, the new shape\'s template');
  t.match((await ssh(spec.network.ip, 'head -c 18 /dev/vdb')).stdout, 'kept-across-resize');
  await backend.delete(spec.instanceId);
});

t.test('a restored VM suspends and resumes: the same boot goes on', async (t) => {
  const b = specs.find((s) => s.network.ip === vms[1].ip)!;
  const before = (await facts(b.network.ip)).bootId;
  await backend.suspend(b.instanceId);
  await backend.resume(b);
  t.equal(await sshHostname(b), b.instanceId);
  t.equal((await facts(b.network.ip)).bootId, before, 'the same boot');
});

t.test('with snapshots off (CIAO_VM_SNAPSHOTS=0: no snapshots given) a VM cold-boots and says so', async (t) => {
  const off = new QemuBackend({ ...options, snapshots: undefined });
  const spec = specFor(2);
  await off.start(spec);
  t.match(logs.at(-1), { message: 'VM cold-boots', fields: { instance: spec.instanceId, reason: 'snapshots are off' } });
  t.equal(await sshHostname(spec), spec.instanceId);
  t.equal((await facts(spec.network.ip)).disks, 2);
  await off.delete(spec.instanceId);
});

t.test('a template that does not load: the VM cold-boots on the spot, says why, and answers SSH', async (t) => {
  const key = await snapshots.keyOf(shape);
  await writeFile(join(dir, 'snapshots', key, 'state'), 'not a migration stream');
  const spec = specFor(2);
  await backend.start(spec);
  t.match(logs.filter((l) => l.fields?.instance === spec.instanceId), [{ message: 'VM cold-boots', fields: { reason: /^restoring failed: / } }]);
  t.equal(await sshHostname(spec), spec.instanceId);
  t.equal((await facts(spec.network.ip)).disks, 2);
  t.same((await backend.list()).filter((i) => i.spec.instanceId === spec.instanceId).map((i) => i.running), [true], 'one QEMU runs it');
});
