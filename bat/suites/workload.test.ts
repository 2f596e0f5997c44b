// BAT workload: tenant and public workloads, placement requirements (node id, hostname) that can
// and cannot be met, privileged containers only with the tenant's permission, a container by image name.
import t from 'tap';
import type { Instance, Workload } from '../../controller/api-types.ts';
import { admin, expectEvent, ownTenant, ownWorkload, publicWorkload, refusal, start, waitState, workloads, sideBySide, unique } from '../lib.ts';

// Its tests share nothing they change: they run side by side (docs/bat.md).
sideBySide(t);

interface Node { id: string; hostname: string }
const containerImage = async () => (await publicWorkload('docker')).image_name;
const container = async (extra: object = {}) => ({
  description: unique('container'), vm_type: 'docker', image_name: await containerImage(), defaults: { vcpus: 1, mem_mb: 64, disk_mb: 0 }, ...extra,
});
const someNode = async () => (await admin.call<{ nodes: Node[] }>('GET', '/nodes')).nodes[0];

t.test('a tenant workload is seen by its tenant only', async (t) => {
  const [a, b] = [await ownTenant(t, 'wl'), await ownTenant(t, 'wl')];
  const w = await ownWorkload(t, a.path, await container({ visibility: 'tenant' }));
  t.equal(w.tenant_id, a.id);
  t.ok((await workloads(a.path)).some((x) => x.id === w.id), 'its tenant sees it');
  t.notOk((await workloads(b.path)).some((x) => x.id === w.id), 'another tenant does not');
});

t.test('a public workload is seen by every tenant', async (t) => {
  const [a, b] = [await ownTenant(t, 'wl'), await ownTenant(t, 'wl')];
  const w = await ownWorkload(t, a.path, await container({ visibility: 'public' }));
  t.ok((await workloads(b.path)).some((x) => x.id === w.id));
});

const requirements: [string, (n: Node) => object][] = [['node-id', (n) => ({ node_id: n.id })], ['hostname', (n) => ({ hostname: n.hostname })]];
for (const [what, requirement] of requirements) {
  t.test(`a ${what} requirement that a node meets is scheduled there`, async (t) => {
    const tenant = await ownTenant(t, 'wl');
    const node = await someNode();
    const w = await ownWorkload(t, tenant.path, await container({ requirements: requirement(node) }));
    const [i] = await start(t, tenant.path, w.id);
    t.equal((await waitState(tenant.path, i.id, 'active')).node_id, node.id);
  });
}

t.test('a requirement no node meets fails with a reason and leaves nothing', async (t) => {
  const tenant = await ownTenant(t, 'wl');
  const w = await ownWorkload(t, tenant.path, await container({ requirements: { node_id: 'no-such-node' } }));
  const ev = await expectEvent(tenant.path, /^Failed to start /, () => admin.call('POST', `${tenant.path}/instances`, { workload_id: w.id }));
  t.match(ev.message, /no_cn|no-such-node/);
  t.same((await admin.call<{ instances: Instance[] }>('GET', `${tenant.path}/instances`)).instances, []);
});

t.test('a privileged container starts only once the tenant is allowed', async (t) => {
  const tenant = await ownTenant(t, 'wl');
  const w = await ownWorkload(t, tenant.path, await container({ requirements: { privileged: true } }));
  t.same(await refusal(admin.call('POST', `${tenant.path}/instances`, { workload_id: w.id })), { status: 403, code: 'forbidden' });
  await admin.call('PATCH', tenant.path, { config: { privileged_containers: true } });
  let id = '';
  const outcome = await expectEvent(tenant.path, /^(Started|Failed to start) /, async () => { [{ id }] = await start(t, tenant.path, w.id); });
  if (/cannot run privileged containers/.test(outcome.message)) {
    // The permission worked (the node was asked); this node itself cannot grant every capability.
    t.pass('the node runs it', { skip: outcome.message });
    return;
  }
  t.match(outcome.message, new RegExp(`^Started ${id}`));
});

t.test('a container workload names its image directly', async (t) => {
  const tenant = await ownTenant(t, 'wl');
  const w: Workload = await ownWorkload(t, tenant.path, await container());
  t.equal(w.image_name, await containerImage());
  const [i] = await start(t, tenant.path, w.id);
  t.equal((await waitState(tenant.path, i.id, 'active')).vm_type, 'docker');
});
