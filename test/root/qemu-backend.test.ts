// Needs root and QEMU: the qemu backend boots the VM image inside a throwaway node namespace with
// a tap on the tenant bridge; dnsmasq on that bridge (as a tenant's CNCI will) gives the VM its
// controller-assigned address by MAC; SSH from inside the namespace; stop, restart, re-adopt, a
// QEMU's death reported, delete.
import t from 'tap';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { run } from '../../shared/run.ts';
import { readPidFile } from '../../shared/pid-file.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { buildVmImage } from '../../images/vm-image.ts';
import { vmSegment } from '../helpers/vm-segment.ts';
import { QemuBackend, tapName, withDefaultVga, type QemuBackendOptions } from '../../launcher/qemu-backend.ts';
import type { InstanceExit, StartPayload } from '../../protocol/payloads.ts';

const { path: dir, remove: removeDir } = tempDir('ciao-qemu-test');
const hostLinks = async () => (await run('ip', ['-br', 'link'])).stdout;
const before = await hostLinks();
const image = await buildVmImage(join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ciao', 'images'));
const { nodeNs, ip, mac, network, close } = await vmSegment(dir);
t.teardown(async () => {
  await backend.delete(spec.instanceId).catch(() => undefined);
  await close();
  removeDir();
});

await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'key')]);
const pub = (await readFile(join(dir, 'key.pub'), 'utf8')).trim();
const backendOptions: QemuBackendOptions = {
  stateDir: join(dir, 'state'), images: { 'ciao-vm': image }, nodeNs, accel: 'tcg', cluster: 'qemutest',
  network: { join: async () => 't9', adopt: () => {}, leave: async () => {} },
};
const backend = new QemuBackend(backendOptions);
const spec: StartPayload = {
  instanceId: randomUUID(), tenantId: 't', workloadId: 'w', vmType: 'qemu', image: 'ciao-vm',
  resources: { vcpus: 1, memMB: 256, diskMB: 64 }, requirements: {},
  network,
  userData: `#cloud-config\nusers:\n  - name: demouser\n    ssh_authorized_keys:\n      - ${pub}\n`,
};
const ssh = (cmd: string) => run('ip', ['netns', 'exec', nodeNs, 'ssh', '-q', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no',
  '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=2', '-i', join(dir, 'key'), `demouser@${ip}`, cmd], { timeout: 10_000 });
const sshHostname = () => waitFor(`SSH to ${ip}`, async () => (await ssh('hostname')).stdout.trim(), { timeoutMs: 90_000, intervalMs: 250 })
  .catch(async (err) => { throw new Error(`${(err as Error).message}\nconsole:\n${(await readFile(join(dir, 'state/instances', spec.instanceId, 'console.log'), 'utf8').catch(() => '')).slice(-1500)}`); });

t.test('a VM boots on the tenant bridge, gets its address by MAC and answers SSH with its id', async (t) => {
  const t0 = performance.now();
  t.match(await backend.start(spec), { sshIp: ip, sshPort: 22 });
  t.equal(await sshHostname(), spec.instanceId);
  t.comment(`VM create → SSH answers: ${((performance.now() - t0) / 1000).toFixed(1)} s (TCG)`);
  t.match(await readFile(join(dir, 'leases'), 'utf8'), new RegExp(`${mac} ${ip.replace(/\./g, '\\.')}`), 'dnsmasq leased the assigned address');
});

t.test('list re-adopts the running VM; stop ends QEMU and its tap; restart boots it again', async (t) => {
  t.match(await backend.list(), [{ spec: { instanceId: spec.instanceId }, running: true, sshIp: ip }]);
  await backend.stop(spec.instanceId);
  t.match(await backend.list(), [{ running: false }]);
  t.notOk((await run('ip', ['-n', nodeNs, 'link', 'show', tapName(spec.instanceId)], { allowFailure: true })).exitCode === 0, 'tap removed');
  await backend.start({ ...spec, restart: true });
  t.equal(await sshHostname(), spec.instanceId);
});

t.test('pause freezes the guest (no SSH, QMP paused, re-adopted as paused); unpause thaws the same boot; neither is a death', async (t) => {
  const exits: string[] = [];
  const unwatch = backend.watchExits((id) => exits.push(id));
  t.teardown(unwatch);
  const bootId = async () => (await ssh('cat /proc/sys/kernel/random/boot_id')).stdout.trim();
  const firstBoot = await bootId();
  await backend.pause(spec.instanceId);
  await t.rejects(ssh('true'), 'a paused guest does not answer SSH');
  t.match(await new QemuBackend(backendOptions).list(), [{ running: true, paused: true }], 'a launcher restarted meanwhile sees it paused');
  await backend.unpause(spec.instanceId);
  t.equal(await bootId(), firstBoot, 'unpaused: the same boot goes on');
  t.same(exits, [], 'no death reported');
});

t.test('suspend saves the memory to a file and ends QEMU (re-adopted as suspended); resume goes on with the same boot and drops the file; neither is a death', async (t) => {
  const exits: string[] = [];
  const unwatch = backend.watchExits((id) => exits.push(id));
  t.teardown(unwatch);
  const bootId = async () => (await ssh('cat /proc/sys/kernel/random/boot_id')).stdout.trim();
  const firstBoot = await bootId();
  const saved = join(dir, 'state/instances', spec.instanceId, 'memory.state');
  await backend.suspend(spec.instanceId);
  t.notOk(await readPidFile(join(dir, 'state/instances', spec.instanceId, 'qemu.pid')), 'no QEMU runs');
  t.ok((await stat(saved)).size > 1024 * 1024, 'the guest memory is on disk');
  t.match(await new QemuBackend(backendOptions).list(), [{ running: false, suspended: true }], 'a launcher restarted meanwhile sees it suspended');
  await backend.resume(spec);
  t.equal(await waitFor('SSH after the resume', () => bootId().catch(() => ''), { timeoutMs: 60_000, intervalMs: 250 }), firstBoot, 'resumed: the same boot goes on');
  await t.rejects(stat(saved), 'the saved memory is gone once it runs again');
  t.same(exits, [], 'no death reported');
});

t.test('memory saved before machines lost their VGA resumes on a machine with one: the marker beside the memory decides', async (t) => {
  const bootId = async () => (await ssh('cat /proc/sys/kernel/random/boot_id')).stdout.trim();
  const firstBoot = await bootId();
  const marker = join(dir, 'state/instances', spec.instanceId, 'memory.no-vga');
  await backend.suspend(spec.instanceId);
  t.ok(await stat(marker).then(() => true, () => false), 'a suspend says its machine has no VGA');
  await rm(marker);
  // As an older launcher's suspend left it: loaded on a machine with VGA, which this memory's lacks.
  await t.rejects(backend.resume(spec), 'a machine other than the saved one is refused, not run');
  t.ok((await stat(join(dir, 'state/instances', spec.instanceId, 'memory.state'))).size > 0, 'the saved memory is kept');
  await writeFile(marker, '');
  await backend.resume(spec);
  t.equal(await waitFor('SSH after the resume', () => bootId().catch(() => ''), { timeoutMs: 60_000, intervalMs: 250 }), firstBoot, 'resumed: the same boot goes on');
  t.notOk(await stat(marker).then(() => true, () => false), 'the marker goes with the memory');
  t.same(withDefaultVga(['-machine', 'q35', '-vga', 'none', '-m', '256']), ['-machine', 'q35', '-m', '256']);
});

t.test('a resume cut short (its launcher killed while the QEMU loaded the memory) is seen through by the next launcher: running, the same boot, the memory file gone', async (t) => {
  const bootId = async () => (await ssh('cat /proc/sys/kernel/random/boot_id')).stdout.trim();
  const firstBoot = await bootId();
  const saved = join(dir, 'state/instances', spec.instanceId, 'memory.state');
  await backend.suspend(spec.instanceId);
  // What resume() does first, and all a launcher killed then got to do: a QEMU that loads the memory, stopped.
  const cut = backend as unknown as { launch(s: StartPayload, o: { incoming: string }): Promise<unknown> };
  await cut.launch({ ...spec, restart: true }, { incoming: saved });
  t.match(await new QemuBackend(backendOptions).list(), [{ running: true, paused: false, suspended: false }], 're-adopted running, not paused');
  t.equal(await waitFor('SSH after the re-adoption', () => bootId().catch(() => ''), { timeoutMs: 60_000, intervalMs: 250 }), firstBoot, 'the same boot goes on');
  await t.rejects(stat(saved), 'the saved memory is gone');
});

t.test('rebuild makes the stopped VM disk again (one grown since is back at its flavor size, new); started, the guest boots anew as itself; an image the node lacks is refused', async (t) => {
  const bootId = async () => (await ssh('cat /proc/sys/kernel/random/boot_id')).stdout.trim();
  const disk = join(dir, 'state/instances', spec.instanceId, 'disk.qcow2');
  const firstBoot = await bootId();
  await backend.stop(spec.instanceId);
  await run('qemu-img', ['resize', '-q', disk, '+1M']);
  const grown = (await stat(disk)).mtimeMs;
  t.match(await backend.rebuild({ ...spec, image: 'no-such-image' }).then(() => undefined, (e: unknown) => e), { reason: 'image_failure' }, 'an image the node lacks');
  await backend.rebuild(spec);
  t.ok((await stat(disk)).mtimeMs > grown, 'the disk was made again');
  t.match((await run('qemu-img', ['info', '--output=json', disk])).stdout, `"virtual-size": ${spec.resources.diskMB * 1024 * 1024}`, 'at its flavor size, as new');
  await backend.start({ ...spec, restart: true });
  t.equal(await sshHostname(), spec.instanceId, 'boots as itself');
  t.not(await bootId(), firstBoot, 'a new boot');
});

t.test('a QEMU killed with -9 is reported within 2 s with its reason and console; a stop is not reported', async (t) => {
  const exits: { id: string; exit: InstanceExit; at: number }[] = [];
  const unwatch = backend.watchExits((id, exit) => exits.push({ id, exit, at: performance.now() }));
  t.teardown(unwatch);
  await backend.stop(spec.instanceId);
  await backend.start({ ...spec, restart: true });
  t.equal(await sshHostname(), spec.instanceId);
  t.same(exits, [], 'the stop was asked for: no death reported');

  const pid = Number(await readFile(join(dir, 'state/instances', spec.instanceId, 'qemu.pid'), 'utf8'));
  const t0 = performance.now();
  process.kill(pid, 'SIGKILL');
  const [death] = await waitFor('the death to be reported', () => exits.length > 0 && exits, { timeoutMs: 2000, intervalMs: 20 });
  t.comment(`QEMU kill -9 → reported: ${(death.at - t0).toFixed(0)} ms`);
  t.equal(death.id, spec.instanceId);
  t.equal(death.exit.reason, 'QEMU was killed by SIGKILL');
  t.ok(death.exit.console.length > 0, `the console's last lines: ${death.exit.console.at(-1)}`);

  // A re-adopted QEMU (not this process's child) is polled.
  await backend.start({ ...spec, restart: true });
  const adopter = new QemuBackend(backendOptions);
  exits.length = 0;
  const unwatchAdopter = adopter.watchExits((id, exit) => exits.push({ id, exit, at: performance.now() }));
  t.teardown(unwatchAdopter);
  unwatch();
  t.match(await adopter.list(), [{ running: true }]);
  const pid2 = Number(await readFile(join(dir, 'state/instances', spec.instanceId, 'qemu.pid'), 'utf8'));
  const t1 = performance.now();
  process.kill(pid2, 'SIGKILL');
  const [adopted] = await waitFor('the death of the adopted QEMU to be reported', () => exits.length > 0 && exits, { timeoutMs: 2000, intervalMs: 20 });
  t.comment(`adopted QEMU kill -9 → reported: ${(adopted.at - t1).toFixed(0)} ms`);
  t.match(adopted.exit.reason, /^QEMU \(pid \d+\) ended; its exit status is unknown/);
});

t.test('delete removes the VM and its folder; the host namespace gained nothing', async (t) => {
  await backend.delete(spec.instanceId);
  t.same(await backend.list(), []);
  t.equal(await hostLinks(), before);
});
