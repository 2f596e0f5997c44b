// BAT actions (issue 13 §6): pause, unpause, reboot, suspend, resume and rebuild really happen, as
// the guest sees them. A paused VM answers nothing and goes on with the same boot after unpause; a
// reboot boots its guest again (a new boot id) with the same identity; a suspended VM answers
// nothing and goes on with the same boot after resume; a rebuild boots a new disk (a new boot id)
// at the same address; a container's reboot leaves it wired to its tenant network. On a simulated
// cluster only the states and events are checked.
import t from 'tap';
import { cnciNamespace } from '../../cnci/cnci-backend.ts';
import { pingFrom, pingFromContainer, sshRun } from '../../singlevm/probes.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { admin, BOOT_MS, expectEvent, ownTenant, publicWorkload, simulated, start, waitState } from '../lib.ts';

const cluster = process.env.CIAO_CLUSTER ?? 'ciao';
const sshKey = process.env.CIAO_SSH_KEY ?? '';

/** The guest's boot id once it differs from `first`: it booted again. */
const nextBoot = (bootId: () => Promise<string>, first: string) => waitFor('the guest to boot again', async () => {
  const id = await bootId().catch(() => undefined);
  return id !== first && id;
}, { timeoutMs: BOOT_MS, intervalMs: 500 });

t.test('a paused VM answers nothing, then the same boot goes on; a reboot boots it again as itself', async (t) => {
  const tenant = await ownTenant(t, 'act');
  const [vm] = await start(t, tenant.path, (await publicWorkload('qemu')).id);
  const { ip } = await waitState(tenant.path, vm.id, 'active');
  const act = (action: string) => admin.call('POST', `${tenant.path}/instances/${vm.id}/action`, { action });
  const ns = cnciNamespace(cluster, tenant.id);
  const bootId = () => sshRun(ns, ip, sshKey, 'cat /proc/sys/kernel/random/boot_id');
  const first = simulated ? '' : await waitFor(`SSH to ${ip}`, () => bootId().catch(() => undefined), { timeoutMs: BOOT_MS, intervalMs: 500 });

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
  const tenant = await ownTenant(t, 'act');
  const [vm] = await start(t, tenant.path, (await publicWorkload('qemu')).id);
  const { ip, image } = await waitState(tenant.path, vm.id, 'active');
  const act = (body: object) => admin.call('POST', `${tenant.path}/instances/${vm.id}/action`, body);
  const ns = cnciNamespace(cluster, tenant.id);
  const bootId = () => sshRun(ns, ip, sshKey, 'cat /proc/sys/kernel/random/boot_id');
  const first = simulated ? '' : await waitFor(`SSH to ${ip}`, () => bootId().catch(() => undefined), { timeoutMs: BOOT_MS, intervalMs: 500 });

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
