// BAT quotas: get, set and restore; usage after instances; the instance-count limit; a memory
// quota below what a workload needs.
import t from 'tap';
import { admin, ownTenant, publicWorkload, refusal, start, waitState, sideBySide } from '../lib.ts';

// Its tests share nothing they change: they run side by side (docs/bat.md).
sideBySide(t);

interface Quota { name: string; limit: number; usage: number }
const quotas = async (path: string) => Object.fromEntries((await admin.call<{ quotas: Quota[] }>('GET', `${path}/quotas`)).quotas.map((q) => [q.name, q]));

t.test('get, set and restore quotas', async (t) => {
  const tenant = await ownTenant(t, 'quota');
  const before = await quotas(tenant.path);
  t.equal(before.instances.limit, -1, 'unlimited by default');
  await admin.call('PUT', `${tenant.path}/quotas`, { instances: 5, mem_mb: 4096 });
  const set = await quotas(tenant.path);
  t.equal(set.instances.limit, 5);
  t.equal(set.mem_mb.limit, 4096);
  await admin.call('PUT', `${tenant.path}/quotas`, { instances: before.instances.limit, mem_mb: before.mem_mb.limit });
  t.same(await quotas(tenant.path), before, 'restored');
});

t.test('usage counts 3 instances', async (t) => {
  const tenant = await ownTenant(t, 'quota');
  const w = await publicWorkload('docker');
  for (const i of await start(t, tenant.path, w.id, 3)) await waitState(tenant.path, i.id, 'active');
  const q = await quotas(tenant.path);
  t.equal(q.instances.usage, 3);
  t.equal(q.mem_mb.usage, 3 * w.defaults.mem_mb);
  t.equal(q.vcpus.usage, 3 * w.defaults.vcpus);
});

t.test('the instance-count limit refuses the instance past it', async (t) => {
  const tenant = await ownTenant(t, 'quota');
  await admin.call('PUT', `${tenant.path}/quotas`, { instances: 2 });
  const w = await publicWorkload('docker');
  await start(t, tenant.path, w.id, 2);
  t.same(await refusal(admin.call('POST', `${tenant.path}/instances`, { workload_id: w.id })), { status: 422, code: 'over_quota' });
});

t.test('a memory quota below the workload\'s memory refuses it', async (t) => {
  const tenant = await ownTenant(t, 'quota');
  const w = await publicWorkload('docker');
  await admin.call('PUT', `${tenant.path}/quotas`, { mem_mb: w.defaults.mem_mb - 1 });
  t.same(await refusal(admin.call('POST', `${tenant.path}/instances`, { workload_id: w.id })), { status: 422, code: 'over_quota' });
  t.equal((await quotas(tenant.path)).instances.usage, 0, 'nothing was started');
});
