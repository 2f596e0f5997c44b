// Needs root and QEMU: VMs restored from a snapshot template (docs/vm-snapshots.md) in a throwaway
// node namespace, as test/root/qemu-backend.test.ts boots them cold: each answers SSH with its own
// id, key and host keys, its own random state and boot id, a clock set from the host; a restart
// cold-boots from its own disk; with snapshots off a VM cold-boots and says why.
import t from 'tap';
import { access, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { run } from '../../shared/run.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { buildVmImage } from '../../images/vm-image.ts';
import { vmSegment } from '../helpers/vm-segment.ts';
import { QemuBackend, type QemuBackendOptions } from '../../launcher/qemu-backend.ts';
import { VmSnapshots } from '../../launcher/vm-snapshot.ts';
import type { StartPayload } from '../../protocol/payloads.ts';

const { path: dir, remove: removeDir } = tempDir('ciao-snapshot-test');
const image = await buildVmImage(join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ciao', 'images'));
const { nodeNs, vms, close } = await vmSegment(dir, 3);
const logs: { message: string; fields?: Record<string, unknown> }[] = [];
const log = (message: string, fields?: Record<string, unknown>) => void logs.push({ message, fields });
const snapshots = new VmSnapshots({ dir: join(dir, 'snapshots'), runDir: join(dir, 'state'), log });
const options: QemuBackendOptions = {
  stateDir: join(dir, 'state'), images: { 'ciao-vm': image }, nodeNs, accel: 'tcg', cluster: 'snaptest',
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

t.test('a restored VM\'s restart cold-boots from its own disk: what it wrote there is still there', async (t) => {
  const a = specs.find((s) => s.network.ip === vms[0].ip)!;
  const disk = (await ssh(a.network.ip, 'for b in /sys/block/vd*; do [ "$(cat $b/ro)" = 0 ] && echo /dev/${b##*/}; done; true')).stdout.trim();
  t.equal(disk, '/dev/vdb', 'the disk is vdb after the config drive, as on a cold boot');
  await ssh(a.network.ip, `echo kept-across-restart | dd of=${disk} conv=notrunc 2>/dev/null; sync`);
  const before = (await facts(a.network.ip)).bootId;
  await backend.stop(a.instanceId);
  await backend.start({ ...a, restart: true });
  t.equal(await sshHostname(a), a.instanceId);
  t.match(logs.at(-1), { message: 'VM cold-boots', fields: { instance: a.instanceId, reason: /restart/ } });
  t.not((await facts(a.network.ip)).bootId, before, 'a new boot');
  t.match((await ssh(a.network.ip, `head -c 19 ${disk}`)).stdout, 'kept-across-restart');
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
