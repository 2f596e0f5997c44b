// BAT actions (issue 13 §6): pause, unpause, reboot, suspend, resume, rebuild and rescue really happen, as
// the guest sees them. A paused VM answers nothing and goes on with the same boot after unpause; a
// reboot boots its guest again (a new boot id) with the same identity; a suspended VM answers
// nothing and goes on with the same boot after resume; a rebuild boots a new disk (a new boot id)
// at the same address; a rescue boots anew as itself with its own disks attached; a container's
// reboot leaves it wired to its tenant network. On a simulated cluster only the states and events
// are checked.
import t, { type Test } from 'tap';
import { cnciNamespace } from '../../cnci/cnci-backend.ts';
import { pingFrom, pingFromContainer, sshRun } from '../../singlevm/probes.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { admin, BOOT_MS, expectEvent, ownTenant, publicWorkload, refusal, simulated, start, waitState } from '../lib.ts';

const cluster = process.env.CIAO_CLUSTER ?? 'ciao';
const sshKey = process.env.CIAO_SSH_KEY ?? '';

/** The guest's boot id once it differs from `first`: it booted again. */
const nextBoot = (bootId: () => Promise<string>, first: string) => waitFor('the guest to boot again', async () => {
  const id = await bootId().catch(() => undefined);
  return id !== first && id;
}, { timeoutMs: BOOT_MS, intervalMs: 500 });

/** A VM of the public workload, active in a tenant of its own; on a real cluster, its first boot id once SSH answers. */
async function activeVm(t: Test) {
  const tenant = await ownTenant(t, 'act');
  const [vm] = await start(t, tenant.path, (await publicWorkload('qemu')).id);
  const { ip, image } = await waitState(tenant.path, vm.id, 'active');
  /** An action by name, or a whole body. */
  const act = (action: string | object) => admin.call('POST', `${tenant.path}/instances/${vm.id}/action`, typeof action === 'string' ? { action } : action);
  const ns = cnciNamespace(cluster, tenant.id);
  const bootId = () => sshRun(ns, ip, sshKey, 'cat /proc/sys/kernel/random/boot_id');
  const first = simulated ? '' : await waitFor(`SSH to ${ip}`, () => bootId().catch(() => undefined), { timeoutMs: BOOT_MS, intervalMs: 500 });
  return { tenant, vm, ip, image, act, ns, bootId, first };
}

t.test('a paused VM answers nothing, then the same boot goes on; a reboot boots it again as itself', async (t) => {
  const { tenant, vm, ip, act, ns, bootId, first } = await activeVm(t);

  await expectEvent(tenant.path, new RegExp(`^Paused ${vm.id}`), () => act('pause'));
  t.equal((await waitState(tenant.path, vm.id, 'paused')).ip, ip, 'paused, with its address');
  if (!simulated) t.notOk(await pingFrom(ns, ip), 'a paused VM does not answer ping');
  await expectEvent(tenant.path, new RegExp(`^Unpaused ${vm.id}`), () => act('unpause'));
  await waitState(tenant.path, vm.id, 'active');
  if (!simulated) {
    t.ok(await waitFor(`${ip} to answer ping again`, () => pingFrom(ns, ip), { timeoutMs: 15_000 }), 'it answers again');
    t.equal(await bootId(), first, 'the same boot went on');
  }

  await expectEvent(tenant.path, new RegExp(`^Rebooting ${vm.id} \\(soft\\)`), () => act('reboot'));
  if (simulated) return;
  const second = await nextBoot(bootId, first);
  t.not(second, first, 'a new boot id: the guest booted again');
  t.equal(await sshRun(ns, ip, sshKey, 'hostname'), vm.id, 'as itself');
  t.equal((await waitState(tenant.path, vm.id, 'active')).ip, ip, 'active, with its address');
});

t.test('a suspended VM answers nothing, then the same boot goes on after resume; a rebuild boots it anew at the same address', async (t) => {
  const { tenant, vm, ip, image, act, ns, bootId, first } = await activeVm(t);

  await expectEvent(tenant.path, new RegExp(`^Suspended ${vm.id}`), () => act({ action: 'suspend' }));
  await waitState(tenant.path, vm.id, 'suspended');
  if (!simulated) t.notOk(await pingFrom(ns, ip), 'a suspended VM does not answer ping');
  await expectEvent(tenant.path, new RegExp(`^Resumed ${vm.id}`), () => act({ action: 'resume' }));
  t.equal((await waitState(tenant.path, vm.id, 'active')).ip, ip, 'resumed, with its address');
  if (!simulated) {
    t.equal(await waitFor('SSH after the resume', () => bootId().catch(() => undefined), { timeoutMs: BOOT_MS, intervalMs: 500 }), first, 'the same boot went on');
  }

  // Rebuilt from its own image: a new disk made from it, and a new boot.
  await expectEvent(tenant.path, new RegExp(`^Rebuilt ${vm.id}$`), () => act({ action: 'rebuild', image }));
  t.equal((await waitState(tenant.path, vm.id, 'active')).ip, ip, 'rebuilt, with its address');
  if (simulated) return;
  const rebuilt = await nextBoot(bootId, first);
  t.not(rebuilt, first, 'a new boot id: the guest booted on its new disk');
  t.equal(await sshRun(ns, ip, sshKey, 'hostname'), vm.id, 'as itself');
});

t.test('a rescued VM boots again as itself with its own disks attached and refuses a reboot; unrescued, it boots its own image again', async (t) => {
  const { tenant, vm, ip, act, ns, bootId, first } = await activeVm(t);
  // The guest's virtio disks, by size in sectors (the config drive, the instance's own disk).
  const disks = () => sshRun(ns, ip, sshKey, 'cat /sys/block/vd*/size | sort -n | tr "\\n" " "');
  const own = simulated ? '' : await disks();

  await expectEvent(tenant.path, new RegExp(`^Rescued ${vm.id}$`), () => act('rescue'));
  t.equal((await waitState(tenant.path, vm.id, 'rescued')).ip, ip, 'rescued, with its address');
  t.match(await refusal(act('reboot')), { status: 409 }, 'a rescued VM is not rebooted');
  const rescued = simulated ? '' : await nextBoot(bootId, first);
  if (!simulated) {
    t.not(rescued, first, 'the rescue is a new boot');
    t.equal(await sshRun(ns, ip, sshKey, 'hostname'), vm.id, 'it answers SSH with the instance\'s key, as itself');
    t.equal(await disks(), own, 'it sees the instance\'s own disks');
  }
  await expectEvent(tenant.path, new RegExp(`^Unrescued ${vm.id}$`), () => act('unrescue'));
  t.equal((await waitState(tenant.path, vm.id, 'active')).ip, ip, 'active again, with its address');
  if (simulated) return;
  t.not(await nextBoot(bootId, rescued), rescued, 'a new boot, from its own image');
  t.equal(await sshRun(ns, ip, sshKey, 'hostname'), vm.id, 'as itself');
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
