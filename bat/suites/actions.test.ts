// BAT actions (issue 13 §6): pause, unpause, reboot, suspend, resume, rebuild and rescue really happen, as
// the guest sees them. A paused VM answers nothing and goes on with the same boot after unpause; a
// reboot boots its guest again (a new boot id) with the same identity; a suspended VM answers
// nothing and goes on with the same boot after resume; a rebuild boots a new disk (a new boot id)
// at the same address; a shelved-offloaded VM runs nowhere and, unshelved, boots from its own disk
// (what it wrote there is still there); a rescue boots anew as itself with its own disks attached;
// a container's reboot leaves it wired to its tenant network; a resized VM boots with the new
// flavor's vcpus, memory and disk (and the old vcpus and memory after a revert), a resized
// container runs under the new limits (its memory cgroup's). On a simulated cluster only the
// states and events are checked.
import t, { type Test } from 'tap';
import { readdir, readFile } from 'node:fs/promises';
import { cnciNamespace } from '../../cnci/cnci-backend.ts';
import { pingFrom, pingFromContainer } from '../../singlevm/probes.ts';
import { containerName } from '../../launcher/docker-backend.ts';
import { run } from '../../shared/run.ts';
import { AbortError, waitFor } from '../../shared/wait-for.ts';
import type { Instance } from '../../controller/api-types.ts';
import { type Guest, admin, BOOT_MS, events, expectEvent, guestShell, ownTenant, ownWorkload, publicWorkload, refusal, simulated, start, unique, waitState, sideBySide } from '../lib.ts';

// Its tests share nothing they change: they run side by side (docs/bat.md).
sideBySide(t);

const cluster = process.env.CIAO_CLUSTER ?? 'ciao';
const sshKey = process.env.CIAO_SSH_KEY ?? '';

const BOOT_ID = 'cat /proc/sys/kernel/random/boot_id';

/** The guest's boot id once it differs from `first`: it booted again. */
const nextBoot = (guest: Guest, first: string) => guest(BOOT_ID, { accept: (id) => id !== first, what: 'the guest to boot again' });

/** A VM of the public workload, active in a tenant of its own; on a real cluster, its first boot id once SSH answers. */
async function activeVm(t: Test) {
  const tenant = await ownTenant(t, 'act');
  const [vm] = await start(t, tenant.path, (await publicWorkload('qemu')).id);
  const { ip, image } = await waitState(tenant.path, vm.id, 'active');
  /** An action by name, or a whole body. */
  const act = (action: string | object) => admin.call('POST', `${tenant.path}/instances/${vm.id}/action`, typeof action === 'string' ? { action } : action);
  const ns = cnciNamespace(cluster, tenant.id);
  const guest = guestShell(tenant.path, vm.id, ns, ip, sshKey);
  const first = simulated ? '' : await guest(BOOT_ID);
  return { tenant, vm, ip, image, act, ns, guest, first };
}

t.test('a paused VM answers nothing, then the same boot goes on; a reboot boots it again as itself', async (t) => {
  const { tenant, vm, ip, act, ns, guest, first } = await activeVm(t);

  await expectEvent(tenant.path, new RegExp(`^Paused ${vm.id}`), () => act('pause'));
  t.equal((await waitState(tenant.path, vm.id, 'paused')).ip, ip, 'paused, with its address');
  if (!simulated) t.notOk(await pingFrom(ns, ip), 'a paused VM does not answer ping');
  await expectEvent(tenant.path, new RegExp(`^Unpaused ${vm.id}`), () => act('unpause'));
  await waitState(tenant.path, vm.id, 'active');
  if (!simulated) {
    t.ok(await waitFor(`${ip} to answer ping again`, () => pingFrom(ns, ip), { timeoutMs: 15_000 }), 'it answers again');
    t.equal(await guest(BOOT_ID), first, 'the same boot went on');
  }

  await expectEvent(tenant.path, new RegExp(`^Rebooting ${vm.id} \\(soft\\)`), () => act('reboot'));
  if (simulated) return;
  const second = await nextBoot(guest, first);
  t.not(second, first, 'a new boot id: the guest booted again');
  t.equal(await guest('hostname'), vm.id, 'as itself');
  t.equal((await waitState(tenant.path, vm.id, 'active')).ip, ip, 'active, with its address');
});

t.test('a suspended VM answers nothing, then the same boot goes on after resume; a rebuild boots it anew at the same address', async (t) => {
  const { tenant, vm, ip, image, act, ns, guest, first } = await activeVm(t);

  await expectEvent(tenant.path, new RegExp(`^Suspended ${vm.id}`), () => act({ action: 'suspend' }));
  await waitState(tenant.path, vm.id, 'suspended');
  if (!simulated) t.notOk(await pingFrom(ns, ip), 'a suspended VM does not answer ping');
  await expectEvent(tenant.path, new RegExp(`^Resumed ${vm.id}`), () => act({ action: 'resume' }));
  t.equal((await waitState(tenant.path, vm.id, 'active')).ip, ip, 'resumed, with its address');
  if (!simulated) {
    t.equal(await guest(BOOT_ID, { what: 'SSH after the resume' }), first, 'the same boot went on');
  }

  // Rebuilt from its own image: a new disk made from it, and a new boot.
  await expectEvent(tenant.path, new RegExp(`^Rebuilt ${vm.id}$`), () => act({ action: 'rebuild', image }));
  t.equal((await waitState(tenant.path, vm.id, 'active')).ip, ip, 'rebuilt, with its address');
  if (simulated) return;
  const rebuilt = await nextBoot(guest, first);
  t.not(rebuilt, first, 'a new boot id: the guest booted on its new disk');
  t.equal(await guest('hostname'), vm.id, 'as itself');
});

/** Whether a QEMU of this cluster runs the instance (its -name carries the cluster and the id). */
async function qemuRuns(id: string): Promise<boolean> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.startsWith('qemu-system') && cmdline.includes(`\0ciao-${cluster}-${id}\0`)) return true;
  }
  return false;
}

/** The guest's own disk: the writable virtio disk with no serial, which its default user owns. */
const OWN_DISK = 'for b in /sys/block/vd*; do [ "$(cat $b/ro)" = 0 ] && [ -z "$(cat $b/serial)" ] && d=/dev/${b##*/}; done';

t.test('a shelved-offloaded VM is gone from its node; unshelved, it boots from its own disk at the same address', async (t) => {
  const { tenant, vm, ip, act, ns, guest, first } = await activeVm(t);
  const marker = `shelved-${vm.id}`;
  if (!simulated) await guest(`${OWN_DISK}; echo ${marker} | dd of=$d conv=fsync 2>/dev/null`);

  await expectEvent(tenant.path, new RegExp(`^Shelved ${vm.id}$`), () => act('shelve'));
  if (!simulated) t.notOk(await qemuRuns(vm.id), 'shelved: no QEMU runs for it');
  await expectEvent(tenant.path, new RegExp(`^Offloaded ${vm.id}`), () => act('offload'));
  const offloaded = await waitState(tenant.path, vm.id, 'shelved_offloaded');
  t.equal(offloaded.ip, ip, 'offloaded, it keeps its address');
  if (!simulated) {
    t.notOk(await qemuRuns(vm.id), 'offloaded: no QEMU runs for it');
    t.notOk(await pingFrom(ns, ip), 'nothing answers at its address');
  }

  await expectEvent(tenant.path, new RegExp(`^Unshelved ${vm.id} on `), () => act('unshelve'));
  t.equal((await waitState(tenant.path, vm.id, 'active')).ip, ip, 'unshelved, at the same address');
  if (simulated) return;
  t.not(await nextBoot(guest, first), first, 'a new boot');
  t.equal(await guest(`${OWN_DISK}; head -c ${marker.length} $d`), marker, 'what it wrote on its disk before the shelve is there');
  t.equal(await guest('hostname'), vm.id, 'as itself');
});

t.test('a rescued VM boots again as itself with its own disks attached and refuses a reboot; unrescued, it boots its own image again', async (t) => {
  const { tenant, vm, ip, act, guest, first } = await activeVm(t);
  // The guest's virtio disks, by size in sectors (the config drive, the instance's own disk).
  const disks = () => guest('cat /sys/block/vd*/size | sort -n | tr "\\n" " "');
  const own = simulated ? '' : await disks();

  await expectEvent(tenant.path, new RegExp(`^Rescued ${vm.id}$`), () => act('rescue'));
  t.equal((await waitState(tenant.path, vm.id, 'rescued')).ip, ip, 'rescued, with its address');
  t.match(await refusal(act('reboot')), { status: 409 }, 'a rescued VM is not rebooted');
  const rescued = simulated ? '' : await nextBoot(guest, first);
  if (!simulated) {
    t.not(rescued, first, 'the rescue is a new boot');
    t.equal(await guest('hostname'), vm.id, 'it answers SSH with the instance\'s key, as itself');
    t.equal(await disks(), own, 'it sees the instance\'s own disks');
  }
  await expectEvent(tenant.path, new RegExp(`^Unrescued ${vm.id}$`), () => act('unrescue'));
  t.equal((await waitState(tenant.path, vm.id, 'active')).ip, ip, 'active again, with its address');
  if (simulated) return;
  t.not(await nextBoot(guest, rescued), rescued, 'a new boot, from its own image');
  t.equal(await guest('hostname'), vm.id, 'as itself');
  t.equal(await disks(), own, 'with its own disks');
});

t.test('a container pauses and unpauses; rebooted, it is wired to its tenant network again', async (t) => {
  const tenant = await ownTenant(t, 'act');
  const [a, b] = await start(t, tenant.path, (await publicWorkload('docker')).id, 2);
  await Promise.all([a, b].map((i) => waitState(tenant.path, i.id, 'active')));
  const act = (action: string) => admin.call('POST', `${tenant.path}/instances/${a.id}/action`, { action });
  await act('pause');
  await waitState(tenant.path, a.id, 'paused');
  await act('unpause');
  await waitState(tenant.path, a.id, 'active');
  await expectEvent(tenant.path, new RegExp(`^Rebooting ${a.id} \\(soft\\)`), () => act('reboot'));
  await waitState(tenant.path, a.id, 'active');
  if (simulated) return;
  t.ok(await waitFor(`${b.ip} to reach ${a.ip} after the reboot`, () => pingFromContainer(cluster, b.id, a.ip), { timeoutMs: 15_000 }), 'reachable again');
  t.ok(await waitFor(`${a.ip} to reach ${b.ip}`, () => pingFromContainer(cluster, a.id, b.ip), { timeoutMs: 15_000 }), 'and it reaches its neighbour');
});

/** A larger copy of a public workload, the tenant's own: what a resize goes to. */
const larger = async (t: Test, path: string, vmType: 'qemu' | 'docker', more: { vcpus: number; mem_mb: number; disk_mb: number }) => {
  const w = await publicWorkload(vmType);
  return ownWorkload(t, path, {
    description: unique('resize'), vm_type: vmType, image_name: w.image_name, visibility: 'tenant',
    ...(vmType === 'qemu' ? { fw_type: w.fw_type, config: w.config } : {}),
    defaults: { vcpus: w.defaults.vcpus + more.vcpus, mem_mb: w.defaults.mem_mb + more.mem_mb, disk_mb: w.defaults.disk_mb + more.disk_mb },
  });
};

/** The memory limit the kernel enforces on a process: its memory cgroup's (v1, else v2). */
async function memoryLimit(pid: number): Promise<number> {
  const lines = (await readFile(`/proc/${pid}/cgroup`, 'utf8')).trim().split('\n').map((l) => l.split(':'));
  const v1 = lines.find(([, controllers]) => controllers.split(',').includes('memory'));
  const file = v1 ? `/sys/fs/cgroup/memory${v1[2]}/memory.limit_in_bytes` : `/sys/fs/cgroup${lines.find(([id]) => id === '0')![2]}/memory.max`;
  return Number((await readFile(file, 'utf8')).trim());
}

/** Resizes (or confirms, reverts) and waits until the node has answered: the resize's phase. A
 *  failure told meanwhile ends the wait at once, with its reason. */
async function resize(path: string, id: string, body: object, phase: 'verify' | null) {
  const seen = new Set((await events(path)).map((e) => e.id));
  await admin.call('POST', `${path}/instances/${id}/action`, body);
  return waitFor(`instance ${id} to be resized (${phase ?? 'done'})`, async () => {
    const inst = await admin.call<Instance>('GET', `${path}/instances/${id}`);
    if ((inst.resize?.phase ?? null) === phase && inst.state !== 'pending') return inst;
    const failed = (await events(path)).find((e) => !seen.has(e.id) && e.message.startsWith(`Failed to resize ${id}`));
    if (failed) throw new AbortError(failed.message);
    return undefined;
  }, { timeoutMs: BOOT_MS, intervalMs: 500 });
}

t.test('a resized VM boots with the new vcpus, memory and a grown disk; a revert brings back the old vcpus and memory', async (t) => {
  const tenant = await ownTenant(t, 'act');
  const small = await publicWorkload('qemu');
  const big = await larger(t, tenant.path, 'qemu', { vcpus: 1, mem_mb: small.defaults.mem_mb, disk_mb: 1024 });
  const [vm] = await start(t, tenant.path, small.id);
  const { ip } = await waitState(tenant.path, vm.id, 'active');
  const shell = guestShell(tenant.path, vm.id, cnciNamespace(cluster, tenant.id), ip, sshKey);
  /** What the guest sees, once its boot is not `bootNot`: its vcpus, its memory (kB) and its largest disk (512-byte sectors). */
  const sees = async (bootNot?: string) => {
    const out = await shell(`${BOOT_ID}; grep -c ^processor /proc/cpuinfo; awk '/MemTotal/ {print $2}' /proc/meminfo; cat /sys/block/vd*/size`,
      { accept: (text) => text.split('\n')[0] !== bootNot, what: bootNot ? 'the guest to boot again' : `SSH to ${ip}` });
    const [boot, cpus, memKB, ...disks] = out.split('\n');
    return { boot, cpus: Number(cpus), memKB: Number(memKB), diskSectors: Math.max(...disks.map(Number)) };
  };
  const before = simulated ? undefined : await sees();
  if (before) {
    t.equal(before.cpus, small.defaults.vcpus, `${small.defaults.vcpus} vcpu(s) before`);
    t.equal(before.diskSectors, small.defaults.disk_mb * 2048, `a ${small.defaults.disk_mb} MB disk before`);
  }

  const resized = await resize(tenant.path, vm.id, { action: 'resize', workload: big.id }, 'verify');
  t.match(resized, { workload_id: big.id, vcpus: big.defaults.vcpus, mem_mb: big.defaults.mem_mb, state: 'active' }, 'resized, waiting for a confirm or revert');
  let resizedBoot = '';
  if (before) {
    const after = await sees(before.boot);
    resizedBoot = after.boot;
    t.equal(after.cpus, big.defaults.vcpus, `the guest has ${big.defaults.vcpus} vcpus`);
    t.ok(after.memKB > small.defaults.mem_mb * 1024, `the guest sees ${after.memKB} kB of memory, more than the old flavor's ${small.defaults.mem_mb} MB`);
    t.equal(after.diskSectors, big.defaults.disk_mb * 2048, `its disk grew to ${big.defaults.disk_mb} MB`);
    t.equal(await shell('hostname'), vm.id, 'as itself');
  }

  const reverted = await resize(tenant.path, vm.id, { action: 'revert-resize' }, null);
  t.match(reverted, { workload_id: small.id, vcpus: small.defaults.vcpus, mem_mb: small.defaults.mem_mb, state: 'active' }, 'reverted to the old flavor');
  if (before) {
    const back = await sees(resizedBoot);
    t.equal(back.cpus, small.defaults.vcpus, 'the old vcpus again');
    t.ok(back.memKB <= small.defaults.mem_mb * 1024, `the old memory again (${back.memKB} kB)`);
    t.equal(back.diskSectors, big.defaults.disk_mb * 2048, 'the grown disk stays grown, as Nova\'s revert keeps it');
  }
});

t.test('a resized container runs under the new memory and CPU limits', async (t) => {
  const tenant = await ownTenant(t, 'act');
  const small = await publicWorkload('docker');
  const big = await larger(t, tenant.path, 'docker', { vcpus: 1, mem_mb: 64, disk_mb: 0 });
  const [c] = await start(t, tenant.path, small.id);
  await waitState(tenant.path, c.id, 'active');
  const inspect = async () => {
    const [info] = JSON.parse((await run('docker', ['inspect', containerName(cluster, c.id)])).stdout) as { State: { Pid: number }; HostConfig: { Memory: number; NanoCpus: number } }[];
    return { memory: info.HostConfig.Memory, cpus: info.HostConfig.NanoCpus / 1e9, cgroupMax: await memoryLimit(info.State.Pid) };
  };
  if (!simulated) t.same(await inspect(), { memory: small.defaults.mem_mb * 2 ** 20, cpus: small.defaults.vcpus, cgroupMax: small.defaults.mem_mb * 2 ** 20 }, 'the old limits before');
  await resize(tenant.path, c.id, { action: 'resize', workload: big.id }, 'verify');
  const confirmed = await resize(tenant.path, c.id, { action: 'confirm-resize' }, null);
  t.match(confirmed, { workload_id: big.id, mem_mb: big.defaults.mem_mb, state: 'active' }, 'resized and confirmed');
  if (simulated) return;
  t.same(await inspect(), { memory: big.defaults.mem_mb * 2 ** 20, cpus: big.defaults.vcpus, cgroupMax: big.defaults.mem_mb * 2 ** 20 }, 'docker inspect and the container\'s memory cgroup show the new limits');
});

t.test('a console holds what the instance wrote: a VM\'s kernel boot lines and init, a container\'s output; a stopped one\'s too', async (t) => {
  const tenant = await ownTenant(t, 'act');
  const [vm] = await start(t, tenant.path, (await publicWorkload('qemu')).id);
  const [box] = await start(t, tenant.path, (await publicWorkload('docker')).id);
  await Promise.all([vm, box].map((i) => waitState(tenant.path, i.id, 'active')));
  const consoleOf = async (id: string, lines = 'all') =>
    (await admin.call<{ output: string; truncated: boolean }>('GET', `${tenant.path}/instances/${id}/console?lines=${lines}`)).output;
  const vmWrote = simulated ? new RegExp(`simulated instance ${vm.id}: ready`) : new RegExp(`ciao-vm: ready, hostname ${vm.id}`);
  const vmConsole = await waitFor(`the console of ${vm.id} to say it is ready`, async () => {
    const out = await consoleOf(vm.id);
    return vmWrote.test(out) && out;
  }, { timeoutMs: BOOT_MS, intervalMs: 500 });
  const boxWrote = simulated ? new RegExp(`simulated instance ${box.id}: ready`) : new RegExp(`^ciao-container: ${box.id} started$`, 'm');
  t.match(await consoleOf(box.id), boxWrote, 'the container\'s output');
  if (!simulated) {
    t.match(vmConsole, /\[ *\d+\.\d+\] Linux version \S+/, 'the kernel\'s boot lines');
    t.match(vmConsole, /Run \/init as init process/, 'up to the initramfs');
    t.notMatch(vmConsole, /[\x00-\x08\x0b-\x1f\x7f]/, 'no control characters (the serial console\'s CRs and escapes are gone)');
  }
  t.equal((await consoleOf(vm.id, '3')).split('\n').length, 3, 'lines=3: three lines');
  for (const i of [vm, box]) {
    await admin.call('POST', `${tenant.path}/instances/${i.id}/action`, { action: 'stop' });
    await waitState(tenant.path, i.id, 'exited');
  }
  t.match(await consoleOf(vm.id), vmWrote, 'a stopped VM\'s console is still there');
  t.match(await consoleOf(box.id), boxWrote, 'so is a stopped container\'s');
});
