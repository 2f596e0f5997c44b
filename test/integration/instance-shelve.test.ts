// Shelve, offload and unshelve on a simulated node (docs/protocol.md "Shelve"): the states and
// events, what the node holds at each step, the `<name>-shelved` image, a node with no room left,
// and restarts of the launcher and the controller in between.
import t from 'tap';
import { startControlPlane } from '../helpers/control-plane.ts';
import { createInstances, waitForEvent, waitForState, workloadId } from '../helpers/api-waits.ts';
import type { Instance } from '../../controller/api-types.ts';
import { waitFor } from '../../shared/wait-for.ts';

// One node with 3 vcpus: the CNCI, the VM and one more instance fit.
const plane = await startControlPlane({ nodes: 1, statsIntervalMs: 300, stoppedFiles: true, nodeCapacity: { vcpus: 3, memMB: 4096, diskMB: 20_000 } });
t.teardown(() => plane.close());
const { demo } = plane;
const tenant = await demo.tenantId();
const base = `/tenants/${tenant}/instances`;
const act = (id: string, action: string) => demo.call('POST', `${base}/${id}/action`, { action });
/** The scheduler places by the node's last STATS: wait until they show room for `vcpus`. */
const schedulerSees = (vcpus: number) =>
  waitFor(`the scheduler to see ${vcpus} free vcpus on node-0`, () => (plane.scheduler.placement.get('node-0')?.vcpusAvailable ?? 0) >= vcpus);
const held = (id: string) => plane.launchers[0].stats().instances.find((i) => i.instanceId === id);
const shelvedImages = async (name: string) =>
  (await demo.call<{ images: { id: string; name: string; status: string; instance_uuid?: string }[] }>('GET', `/image/v2/images?name=${name}-shelved`)).images;

t.test('shelve → shelved (claim kept, image recorded), offload → shelved_offloaded (claim released), unshelve → active as itself; restarts keep each', async (t) => {
  const [vm] = await createInstances(demo, await workloadId(demo, 'qemu'));
  const active = await waitForState(demo, vm.id, 'active');
  for (const action of ['unshelve', 'offload']) {
    await t.rejects(act(vm.id, action), { status: 409, code: 'invalid_state' }, `${action} of an active instance`);
  }
  const freeActive = plane.launchers[0].stats().vcpusAvailable;

  await act(vm.id, 'shelve');
  await waitForState(demo, vm.id, 'shelved');
  await waitForEvent(demo, new RegExp(`^Shelved ${vm.id}$`));
  t.equal(held(vm.id)?.state, 'shelved', "the node's own report says shelved");
  t.equal(held(vm.id)?.memUsageMB, 0, 'no runtime holds memory');
  t.equal(plane.launchers[0].stats().vcpusAvailable, freeActive, 'its vcpus stay claimed on the node until the offload');
  const [image] = await shelvedImages(active.name);
  t.match(image, { name: `${active.name}-shelved`, status: 'queued', instance_uuid: vm.id }, 'the image Nova makes is recorded, saying whose disk it stands for');
  for (const action of ['shelve', 'restart', 'stop', 'reboot', 'pause']) {
    await t.rejects(act(vm.id, action), { status: 409, code: 'invalid_state' }, `${action} of a shelved instance`);
  }

  await plane.restartLauncher(0);
  t.equal(held(vm.id)?.state, 'shelved', 'a restarted node re-adopts it shelved, not started again');
  await plane.waitForNodes(1);
  t.equal((await demo.call<Instance>('GET', `${base}/${vm.id}`)).state, 'shelved', 'shelved all along for the controller: nothing of it ran on the node that went');

  await act(vm.id, 'offload');
  const offloaded = await waitForState(demo, vm.id, 'shelved_offloaded');
  await waitForEvent(demo, new RegExp(`^Offloaded ${vm.id} \\(its disk stays on node-0\\)$`));
  t.equal(plane.launchers[0].stats().vcpusAvailable, freeActive + 1, 'the offload gave its vcpu back to the node');
  t.equal(offloaded.node_id, 'node-0', 'the controller keeps the node that holds its disk');

  await plane.restartController();
  await plane.restartLauncher(0);
  t.equal(held(vm.id)?.state, 'shelved_offloaded', 'a restarted node re-adopts it offloaded');
  t.equal(plane.launchers[0].stats().vcpusAvailable, freeActive + 1, 'and does not claim its vcpu again');
  await plane.waitForNodes(1);
  t.equal((await waitForState(demo, vm.id, 'shelved_offloaded')).state, 'shelved_offloaded', 'a restarted controller keeps it offloaded');

  // Two containers take the room it gave back: its unshelve fails on the node, and it stays offloaded.
  await schedulerSees(2);
  const fillers = await createInstances(demo, await workloadId(demo, 'docker'), 2);
  for (const f of fillers) await waitForState(demo, f.id, 'active');
  await act(vm.id, 'unshelve');
  await waitForEvent(demo, new RegExp(`^Failed to unshelve ${vm.id}: node node-0 has \\d+ MB and 0 vcpus free`));
  t.equal((await demo.call<Instance>('GET', `${base}/${vm.id}`)).state, 'shelved_offloaded', 'it stays offloaded');
  t.equal((await shelvedImages(active.name)).length, 1, 'with its image');

  await demo.call('DELETE', `${base}/${fillers[0].id}`);
  await waitForEvent(demo, new RegExp(`^Deleted ${fillers[0].id}`));
  await act(vm.id, 'unshelve');
  const back = await waitForState(demo, vm.id, 'active');
  await waitForEvent(demo, new RegExp(`^Unshelved ${vm.id} on node-0$`));
  t.match(back, { ip: active.ip, mac: active.mac, node_id: 'node-0', ssh_ip: active.ip }, 'the same address, MAC and node');
  t.same(await shelvedImages(active.name), [], 'its shelved image is gone');
  for (const i of [fillers[1], vm]) {
    await demo.call('DELETE', `${base}/${i.id}`);
    await waitForEvent(demo, new RegExp(`^Deleted ${i.id}`));
  }
});

t.test('a paused container shelves; deleted while shelved, it goes from its node with its image', async (t) => {
  await schedulerSees(1);
  const [c] = await createInstances(demo, await workloadId(demo, 'docker'));
  const { name } = await waitForState(demo, c.id, 'active');
  await act(c.id, 'pause');
  await waitForState(demo, c.id, 'paused');
  await act(c.id, 'shelve');
  await waitForState(demo, c.id, 'shelved');
  t.equal((await shelvedImages(name)).length, 1);
  await demo.call('DELETE', `${base}/${c.id}`);
  await waitForEvent(demo, new RegExp(`^Deleted ${c.id}`));
  t.notOk(held(c.id), 'gone from its node');
  t.same(await shelvedImages(name), [], 'its shelved image is gone');
  await t.rejects(act(c.id, 'unshelve'), { name: 'ControllerError', status: 404 }, 'a deleted instance is not found');
});
