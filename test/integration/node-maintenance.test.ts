// Node maintenance over the API with simulated nodes (docs/nodes.md): cordon and uncordon (admin
// only) steer new placements and hold over controller and scheduler restarts; a node whose
// launcher is gone is MISSING with its instances, also after a controller restart, and its
// instances are re-adopted when it comes back; a removed node is forgotten, refused while it is
// connected or holds instances, and with force its instances are lost with an event each.
import t from 'tap';
import { startControlPlane } from '../helpers/control-plane.ts';
import { createInstances, waitForEvent, waitForState, workloadId } from '../helpers/api-waits.ts';
import { failure } from '../helpers/call-status.ts';
import type { Instance, NodeInfo } from '../../controller/api-types.ts';
import { waitFor } from '../../shared/wait-for.ts';

const plane = await startControlPlane({ nodes: 3, statsIntervalMs: 300 });
t.teardown(() => plane.close());
const { demo, admin } = plane;
const tenant = await demo.tenantId();
const docker = await workloadId(demo, 'docker');
const node = (id: string) => admin.call<NodeInfo>('GET', `/nodes/${id}`);

/** Starts n containers and returns the nodes they landed on. */
async function placeMany(n: number): Promise<Instance[]> {
  const created = await createInstances(demo, docker, n);
  return Promise.all(created.map((i) => waitForState(demo, i.id, 'active')));
}
const removeAll = async (list: Instance[]) => {
  for (const i of list) await demo.call('DELETE', `/tenants/${tenant}/instances/${i.id}`);
  for (const i of list) await waitForEvent(demo, new RegExp(`^Deleted ${i.id}`));
};

t.test('cordon and uncordon are for admins, of nodes that exist', async (t) => {
  t.equal(await failure(demo.call('POST', '/nodes/node-0/cordon')), 403);
  t.equal(await failure(admin.call('POST', '/nodes/no-such-node/cordon')), 404);
  t.equal(await failure(demo.call('DELETE', '/nodes/node-0')), 403);
  t.equal(await failure(admin.call('DELETE', '/nodes/node-0?force=maybe')), 400);
  t.equal((await node('node-0')).cordoned, false);
});

t.test('a cordoned node gets no new instance, keeps what runs; uncordoned it takes them again', async (t) => {
  const before = await placeMany(3);
  const onNode1 = before.filter((i) => i.node_id === 'node-1');
  t.equal(onNode1.length, 1, 'round robin put one on node-1');
  t.equal((await admin.call<NodeInfo>('POST', '/nodes/node-1/cordon')).cordoned, true);
  t.equal((await admin.call<{ nodes: { cordoned: number } }>('GET', '/cluster/status')).nodes.cordoned, 1);
  const during = await placeMany(4);
  t.same(during.filter((i) => i.node_id === 'node-1'), [], 'none of 4 new ones on node-1');
  t.equal((await demo.call<Instance>('GET', `/tenants/${tenant}/instances/${onNode1[0].id}`)).state, 'active', 'what ran there runs');
  await admin.call('POST', '/nodes/node-1/uncordon');
  const after = await placeMany(3);
  t.ok(after.some((i) => i.node_id === 'node-1'), 'uncordoned: placed there again');
  await removeAll([...before, ...during, ...after]);
});

t.test('a requirement that names only a cordoned node fails with no_cn, saying so', async (t) => {
  await admin.call('POST', '/nodes/node-2/cordon');
  t.teardown(() => admin.call('POST', '/nodes/node-2/uncordon'));
  const adminTenant = await admin.tenantId();
  const w = await admin.call<{ id: string }>('POST', `/tenants/${adminTenant}/workloads`, {
    description: 'pinned', vm_type: 'docker', image_name: 'busybox', defaults: { vcpus: 1, mem_mb: 64, disk_mb: 0 }, requirements: { node_id: 'node-2' },
  });
  t.teardown(() => admin.call('DELETE', `/tenants/${adminTenant}/workloads/${w.id}`));
  await admin.call('POST', `/tenants/${adminTenant}/instances`, { workload_id: w.id });
  const ev = await waitForEvent(admin, /^Failed to start /);
  t.match(ev.message, /no_cn.*node_id=node-2 is cordoned \(maintenance\): node-2/);
});

t.test('a cordon holds over a controller restart and a scheduler restart', async (t) => {
  await admin.call('POST', '/nodes/node-0/cordon');
  await plane.restartController();
  await plane.waitForNodes(3);
  t.equal((await node('node-0')).cordoned, true, 'kept in the datastore');
  await plane.restartScheduler();
  await waitFor('the nodes back at the new scheduler', () => plane.scheduler.nodeCount === 3, { timeoutMs: 10_000 });
  await plane.waitForNodes(3);
  const placed = await placeMany(4);
  t.same(placed.filter((i) => i.node_id === 'node-0'), [], 'the new scheduler learnt it from the controller');
  await admin.call('POST', '/nodes/node-0/uncordon');
  await removeAll(placed);
});

t.test('a node whose launcher is gone is MISSING with its instances, also over a controller restart; back, they are active', async (t) => {
  const placed = await placeMany(3);
  const mine = placed.filter((i) => i.node_id === 'node-2');
  t.ok(mine.length >= 1, 'one on node-2');
  plane.launchers[2].stop();
  await waitFor('node-2 missing', async () => (await node('node-2')).status === 'MISSING');
  for (const i of mine) await waitForState(demo, i.id, 'missing', 20_000);
  await plane.restartController();
  t.equal((await node('node-2')).status, 'MISSING', 'still listed, from its record');
  t.equal((await admin.call<{ nodes: { missing: number } }>('GET', '/cluster/status')).nodes.missing, 1);
  await plane.restartLauncher(2);
  for (const i of mine) t.equal((await waitForState(demo, i.id, 'active')).node_id, 'node-2', `${i.id} re-adopted`);
  t.equal((await node('node-2')).status, 'READY');
  await removeAll(placed);
});

t.test('removing a node: refused while connected or holding instances; with force they are lost, and it is forgotten', async (t) => {
  const placed = await placeMany(3);
  const held = placed.filter((i) => i.node_id === 'node-1');
  t.ok(held.length >= 1);
  t.equal(await failure(admin.call('DELETE', '/nodes/node-1')), 409, 'connected');
  plane.launchers[1].stop();
  await waitFor('node-1 missing', async () => (await node('node-1')).status === 'MISSING');
  const refused = await admin.call('DELETE', '/nodes/node-1').catch((e: Error) => e.message);
  t.match(refused, new RegExp(`still holds .*${held[0].id}`), 'names what it holds');
  await admin.call('DELETE', '/nodes/node-1?force=true');
  const ev = await waitForEvent(demo, new RegExp(`^Instance ${held[0].id} lost: its node node-1 was removed`));
  t.equal(ev.type, 'error');
  t.equal(await failure(demo.call('GET', `/tenants/${tenant}/instances/${held[0].id}`)), 404, 'forgotten');
  t.notOk((await admin.call<{ nodes: NodeInfo[] }>('GET', '/nodes')).nodes.some((n) => n.id === 'node-1'), 'gone from the list');
  await plane.restartController();
  t.equal(await failure(node('node-1')), 404, 'and from the datastore');
  await removeAll(placed.filter((i) => i.node_id !== 'node-1'));
});
