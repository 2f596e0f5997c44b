// BAT base: the cluster answers, its workloads start, an instance's life (show, stop, restart,
// delete), and a workload whose image is missing fails cleanly.
import t from 'tap';
import type { Instance } from '../../controller/api-types.ts';
import { admin, user, userTenantPath, expectEvent, ownTenant, ownWorkload, publicWorkload, refusal, start, waitState, workloads, REAL_ONLY, madeByBat, sideBySide } from '../lib.ts';

// Its tests share nothing they change: they run side by side (docs/bat.md).
sideBySide(t);

t.test('cluster status counts ready nodes and the node list names them', async (t) => {
  const status = await admin.call<{ nodes: { total: number; ready: number } }>('GET', '/cluster/status');
  t.ok(status.nodes.ready >= 1, `${status.nodes.ready} ready node(s)`);
  const { nodes } = await admin.call<{ nodes: { id: string }[] }>('GET', '/nodes');
  t.equal(nodes.length, status.nodes.total);
});

t.test('list workloads shows the public VM and container workloads', async (t) => {
  const ws = await workloads(await userTenantPath(), user);
  t.ok(ws.some((w) => w.vm_type === 'qemu' && w.visibility === 'public'), 'a public VM workload');
  t.ok(ws.some((w) => w.vm_type === 'docker' && w.visibility === 'public'), 'a public container workload');
  t.notOk(ws.some((w) => w.visibility === 'internal'), 'the internal CNCI workload is not listed to a tenant');
});

t.test('one instance of every public workload becomes active', async (t) => {
  const tenant = await ownTenant(t, 'base');
  // The cluster's own: a public workload another test makes meanwhile is that test's.
  const all = (await workloads(tenant.path)).filter((w) => w.visibility === 'public' && !madeByBat(w));
  const started = (await Promise.all(all.map((w) => start(t, tenant.path, w.id)))).flat();
  for (const i of started) t.equal((await waitState(tenant.path, i.id, 'active')).state, 'active', `${i.id} (${i.vm_type})`);
});

t.test('show an instance gives its workload, address and node', async (t) => {
  const tenant = await ownTenant(t, 'base');
  const w = await publicWorkload('docker');
  const [i] = await start(t, tenant.path, w.id);
  const shown = await waitState(tenant.path, i.id, 'active');
  t.match(shown, { id: i.id, workload_id: w.id, tenant_id: tenant.id, ip: /^172\.(1[6-9]|2\d|3[01])\./, node_id: /\S/ });
});

t.test('stop then restart an instance', async (t) => {
  const tenant = await ownTenant(t, 'base');
  const [i] = await start(t, tenant.path, (await publicWorkload('docker')).id);
  await waitState(tenant.path, i.id, 'active');
  await expectEvent(tenant.path, new RegExp(`^Stopped ${i.id}`), () => admin.call('POST', `${tenant.path}/instances/${i.id}/action`, { action: 'stop' }));
  t.equal((await waitState(tenant.path, i.id, 'exited')).state, 'exited');
  await admin.call('POST', `${tenant.path}/instances/${i.id}/action`, { action: 'restart' });
  t.equal((await waitState(tenant.path, i.id, 'active')).state, 'active');
});

t.test('a stopped instance can be deleted', async (t) => {
  const tenant = await ownTenant(t, 'base');
  const [i] = await start(t, tenant.path, (await publicWorkload('docker')).id);
  await waitState(tenant.path, i.id, 'active');
  await admin.call('POST', `${tenant.path}/instances/${i.id}/action`, { action: 'stop' });
  await waitState(tenant.path, i.id, 'exited');
  await expectEvent(tenant.path, new RegExp(`^Deleted ${i.id}`), () => admin.call('DELETE', `${tenant.path}/instances/${i.id}`));
  t.same(await refusal(admin.call('GET', `${tenant.path}/instances/${i.id}`)), { status: 404, code: 'not_found' });
});

t.test('a VM workload whose image does not exist is refused with nothing left', async (t) => {
  const tenant = await ownTenant(t, 'base');
  const w = await ownWorkload(t, tenant.path, { description: 'no image', vm_type: 'qemu', image_name: 'no-such-image', defaults: { vcpus: 1, mem_mb: 128, disk_mb: 0 } });
  t.same(await refusal(admin.call('POST', `${tenant.path}/instances`, { workload_id: w.id })), { status: 422, code: 'unknown_image' });
  t.same((await admin.call<{ instances: Instance[] }>('GET', `${tenant.path}/instances`)).instances, []);
});

t.test('a container whose image is on no node fails with image_failure and is cleaned up', { skip: REAL_ONLY }, async (t) => {
  const tenant = await ownTenant(t, 'base');
  const w = await ownWorkload(t, tenant.path, { description: 'missing image', vm_type: 'docker', image_name: 'no-such-image:1', defaults: { vcpus: 1, mem_mb: 64, disk_mb: 0 } });
  const ev = await expectEvent(tenant.path, /^Failed to start .*image_failure/, () => admin.call('POST', `${tenant.path}/instances`, { workload_id: w.id }));
  t.match(ev.message, /no-such-image/);
  t.same((await admin.call<{ instances: Instance[] }>('GET', `${tenant.path}/instances`)).instances, [], 'the failed instance is gone');
});

t.test('delete all instances of a tenant', async (t) => {
  const tenant = await ownTenant(t, 'base');
  const started = await start(t, tenant.path, (await publicWorkload('docker')).id, 3);
  for (const i of started) await waitState(tenant.path, i.id, 'active');
  const { deleted } = await admin.call<{ deleted: number }>('DELETE', `${tenant.path}/instances`);
  t.equal(deleted, 3);
});
