// BAT storage: volumes added, listed, shown and deleted; volumes made from an image; boot from a
// volume; a volume in use cannot be deleted nor a root volume detached; attach and detach on a
// running VM. On a real cluster the guest is asked over SSH what it sees (its disks, its root).
import t from 'tap';
import type { Test } from 'tap';
import { cnciNamespace } from '../../cnci/cnci-backend.ts';
import { volumeSerial } from '../../launcher/qemu-backend.ts';
import { VM_ROOT_IMAGE } from '../../singlevm/default-workloads.ts';
import { waitFor } from '../../shared/wait-for.ts';
import type { Instance, Volume } from '../../controller/api-types.ts';
import { admin, expectEvent, guestShell, ownTenant, ownWorkload, publicWorkload, refusal, simulated, start, unique, waitState, sideBySide } from '../lib.ts';

// Its tests share nothing they change: they run side by side (docs/bat.md).
sideBySide(t);

const cluster = process.env.CIAO_CLUSTER ?? 'ciao';
const sshKey = process.env.CIAO_SSH_KEY ?? '';

type Tenant = Awaited<ReturnType<typeof ownTenant>>;

async function addVolume(tenant: Tenant, body: object): Promise<Volume> {
  const v = await admin.call<Volume>('POST', `${tenant.path}/volumes`, body);
  return waitVolume(tenant, v.id, 'available');
}

function waitVolume(tenant: Tenant, id: string, state: Volume['state']): Promise<Volume> {
  return waitFor(`volume ${id} to be ${state}`, async () => {
    const v = await admin.call<Volume>('GET', `${tenant.path}/volumes/${id}`);
    if (v.state === 'error') throw new Error(`volume ${id} failed: ${v.reason}`);
    return v.state === state && v;
  }, { timeoutMs: 60_000 });
}

const volumes = async (tenant: Tenant) => (await admin.call<{ volumes: Volume[] }>('GET', `${tenant.path}/volumes`)).volumes;

/** A command's output in the guest (possibly empty), once SSH answers (real clusters only). */
const inGuest = (tenant: Tenant, vm: Instance, command: string) => guestShell(tenant.path, vm.id, cnciNamespace(cluster, tenant.id), vm.ip, sshKey)(command);

/** The serials of the guest's virtio disks. */
const guestSerials = async (tenant: Tenant, vm: Instance) => (await inGuest(tenant, vm, 'cat /sys/block/vd*/serial; echo')).split(/\s+/).filter(Boolean);

/** A workload of the public VM's kind (its user data logs demouser in) that boots from `disks`. */
async function volumeWorkload(t: Test, tenant: Tenant, disks: object[]) {
  const vm = await publicWorkload('qemu');
  return ownWorkload(t, tenant.path, {
    description: unique('from-volume'), vm_type: 'qemu', image_name: vm.image_name,
    defaults: { vcpus: 1, mem_mb: 256, disk_mb: 0 }, disks, config: vm.config,
  });
}

t.test('add, list, show and delete a blank volume', async (t) => {
  const tenant = await ownTenant(t, 'vol');
  const v = await addVolume(tenant, { size_mb: 16, name: 'data' });
  t.match(v, { size_mb: 16, name: 'data', state: 'available', bootable: false, attachment: null, source: { type: 'blank' } });
  t.same((await volumes(tenant)).map((x) => x.id), [v.id], 'the list holds it');
  await admin.call('DELETE', `${tenant.path}/volumes/${v.id}`);
  t.same(await refusal(admin.call('GET', `${tenant.path}/volumes/${v.id}`)), { status: 404, code: 'not_found' });
  t.same(await volumes(tenant), [], 'the list is empty again');
});

t.test('a volume made from an image is at least the image; unknown images and bad sizes are refused', async (t) => {
  const tenant = await ownTenant(t, 'vol');
  const v = await addVolume(tenant, { image_id: VM_ROOT_IMAGE, bootable: true });
  t.match(v, { state: 'available', bootable: true, source: { type: 'image' } });
  t.ok(v.size_mb >= 1, `it has the image's size (${v.size_mb} MB)`);
  const bigger = await addVolume(tenant, { image_id: VM_ROOT_IMAGE, size_mb: v.size_mb + 16 });
  t.equal(bigger.size_mb, v.size_mb + 16, 'or the size asked for');
  t.same(await refusal(admin.call('POST', `${tenant.path}/volumes`, { image_id: VM_ROOT_IMAGE, size_mb: 1 })), { status: 400, code: 'invalid_request' }, 'smaller than its image');
  t.same(await refusal(admin.call('POST', `${tenant.path}/volumes`, { image_id: 'no-such-image' })), { status: 422, code: 'unknown_image' });
  t.same(await refusal(admin.call('POST', `${tenant.path}/volumes`, { size_mb: 0 })), { status: 400, code: 'invalid_request' });
  t.same(await refusal(admin.call('POST', `${tenant.path}/volumes`, {})), { status: 400, code: 'invalid_request' }, 'neither size nor image');
  t.same(await refusal(admin.call('DELETE', `${tenant.path}/volumes/00000000-0000-0000-0000-000000000000`)), { status: 404, code: 'not_found' });
});

t.test("a tenant cannot see or delete another tenant's volume; the volume quota holds", async (t) => {
  const [a, b] = [await ownTenant(t, 'vol'), await ownTenant(t, 'vol')];
  const v = await addVolume(a, { size_mb: 8 });
  t.same(await refusal(admin.call('GET', `${b.path}/volumes/${v.id}`)), { status: 404, code: 'not_found' });
  t.same(await refusal(admin.call('DELETE', `${b.path}/volumes/${v.id}`)), { status: 404, code: 'not_found' });
  await admin.call('PUT', `${a.path}/quotas`, { volumes: 1 });
  t.same(await refusal(admin.call('POST', `${a.path}/volumes`, { size_mb: 8 })), { status: 422, code: 'over_quota' });
});

t.test('attach and detach a volume on a running VM; an attached volume cannot be deleted', async (t) => {
  const tenant = await ownTenant(t, 'vol');
  const [vm] = await start(t, tenant.path, (await publicWorkload('qemu')).id);
  await waitState(tenant.path, vm.id, 'active');
  const v = await addVolume(tenant, { size_mb: 16 });
  if (!simulated) t.notOk((await guestSerials(tenant, vm)).includes(volumeSerial(v.id)), 'the guest does not have the disk yet');

  await expectEvent(tenant.path, new RegExp(`^Attached volume ${v.id} to ${vm.id}`), () =>
    admin.call('POST', `${tenant.path}/volumes/${v.id}/attach`, { instance_id: vm.id }));
  t.match(await admin.call<Volume>('GET', `${tenant.path}/volumes/${v.id}`), { state: 'in-use', attachment: { instance_id: vm.id, root: false } });
  t.ok((await admin.call<Instance>('GET', `${tenant.path}/instances/${vm.id}`)).volumes?.includes(v.id), 'the instance lists it');
  // The guest finds a hot-plugged disk on its own time (PCIe hot-plug, then virtio's probe), after the attach has answered.
  if (!simulated) {
    const seen = await waitFor('the guest to see the hot-plugged disk', async () => (await guestSerials(tenant, vm)).includes(volumeSerial(v.id)), { timeoutMs: 15_000, intervalMs: 200 }).catch(() => false);
    t.ok(seen, 'the running guest sees the hot-plugged disk (within 15 s of the attach)');
  }
  t.same(await refusal(admin.call('DELETE', `${tenant.path}/volumes/${v.id}`)), { status: 409, code: 'in_use' }, 'in use: not deleted');
  t.same(await refusal(admin.call('POST', `${tenant.path}/volumes/${v.id}/attach`, { instance_id: vm.id })), { status: 409, code: 'in_use' }, 'nor attached twice');

  await expectEvent(tenant.path, new RegExp(`^Detached volume ${v.id} from ${vm.id}`), () => admin.call('POST', `${tenant.path}/volumes/${v.id}/detach`));
  t.match(await admin.call<Volume>('GET', `${tenant.path}/volumes/${v.id}`), { state: 'available', attachment: null });
  if (!simulated) t.notOk((await guestSerials(tenant, vm)).includes(volumeSerial(v.id)), 'the guest no longer has the disk');
  t.same(await refusal(admin.call('POST', `${tenant.path}/volumes/${v.id}/detach`)), { status: 409, code: 'invalid_state' }, 'a detached volume cannot be detached');
});

t.test('boot from a volume: its root cannot be detached nor deleted, and it keeps its data for the next instance', async (t) => {
  const tenant = await ownTenant(t, 'vol');
  const root = await addVolume(tenant, { image_id: VM_ROOT_IMAGE, bootable: true });
  const w = await volumeWorkload(t, tenant, [{ source: { service: 'volume', id: root.id }, bootable: true }]);
  const [vm] = await start(t, tenant.path, w.id);
  t.same((await waitState(tenant.path, vm.id, 'active')).volumes, [root.id], 'the instance boots from it');
  t.match(await admin.call<Volume>('GET', `${tenant.path}/volumes/${root.id}`), { state: 'in-use', attachment: { instance_id: vm.id, root: true, ephemeral: false } });
  t.same(await refusal(admin.call('POST', `${tenant.path}/volumes/${root.id}/detach`)), { status: 409, code: 'in_use' }, 'the root volume cannot be detached');
  t.same(await refusal(admin.call('DELETE', `${tenant.path}/volumes/${root.id}`)), { status: 409, code: 'in_use' }, 'nor deleted');
  t.same(await refusal(admin.call('POST', `${tenant.path}/instances`, { workload_id: w.id })), { status: 409, code: 'in_use' }, 'nor booted twice');
  const rootDevice = 'd=$(awk \'$2=="/" {d=$1} END {print d}\' /proc/mounts); echo "$d $(cat /sys/block/${d#/dev/}/serial)"';
  if (!simulated) {
    t.match(await inGuest(tenant, vm, rootDevice), new RegExp(`^/dev/vd[a-z] ${volumeSerial(root.id)}$`), "the guest's / is the volume");
    await inGuest(tenant, vm, 'echo kept > ~/bat-marker && sync');
  }

  await admin.call('DELETE', `${tenant.path}/instances/${vm.id}`);
  await waitVolume(tenant, root.id, 'available');
  const [again] = await start(t, tenant.path, w.id);
  await waitState(tenant.path, again.id, 'active');
  if (!simulated) t.equal(await inGuest(tenant, again, 'cat ~/bat-marker'), 'kept', 'the next instance finds what the first wrote');
});

t.test("a workload's image disk is made for each instance and goes with it", async (t) => {
  const tenant = await ownTenant(t, 'vol');
  const w = await volumeWorkload(t, tenant, [{ source: { service: 'image', id: VM_ROOT_IMAGE }, bootable: true }, { size_mb: 8 }]);
  const vms = await start(t, tenant.path, w.id, 2);
  for (const vm of vms) {
    const active = await waitState(tenant.path, vm.id, 'active');
    t.equal(active.volumes?.length, 2, `${vm.id} has a root and a data volume`);
    if (!simulated) t.match(await inGuest(tenant, active, 'awk \'$2=="/" {d=$1} END {print d}\' /proc/mounts'), /^\/dev\/vd[a-z]$/, 'and boots from its root volume');
  }
  t.equal((await volumes(tenant)).length, 4);
  for (const vm of vms) await admin.call('DELETE', `${tenant.path}/instances/${vm.id}`);
  t.ok(await waitFor('the ephemeral volumes to go', async () => (await volumes(tenant)).length === 0, { timeoutMs: 60_000 }));
});

t.test('containers have no volumes', async (t) => {
  const tenant = await ownTenant(t, 'vol');
  const c = await publicWorkload('docker');
  t.same(await refusal(admin.call('POST', `${tenant.path}/workloads`, {
    description: unique('c'), vm_type: 'docker', image_name: c.image_name, disks: [{ size_mb: 8 }],
  })), { status: 400, code: 'invalid_request' }, 'a container workload with disks is refused');
  const [ct] = await start(t, tenant.path, c.id);
  await waitState(tenant.path, ct.id, 'active');
  const v = await addVolume(tenant, { size_mb: 8 });
  t.same(await refusal(admin.call('POST', `${tenant.path}/volumes/${v.id}/attach`, { instance_id: ct.id })), { status: 400, code: 'invalid_request' });
});
