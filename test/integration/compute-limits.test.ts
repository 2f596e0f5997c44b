// Compute limits, os-quota-sets and os-availability-zone over a whole control plane: the ciao
// quotas and their usage seen through Nova's names, set by an admin only, and kept across a restart.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { startControlPlane } from '../helpers/control-plane.ts';

const plane = await startControlPlane({ nodes: 1 });
t.teardown(() => plane.close());
const { demo, other, admin } = plane;
const project = await demo.tenantId();
const refused = (status: number) => ({ name: 'ControllerError', status });
type QuotaSet = Record<string, number | string>;
const quotaSet = (c = demo, path = '') => c.call<{ quota_set: QuotaSet }>('GET', `/v2.1/os-quota-sets/${project}${path}`).then((r) => r.quota_set);

t.test('a project\'s quotas are the defaults until an admin sets them; a member may not', async (t) => {
  const defaults = await quotaSet(demo, '/defaults');
  t.match(defaults, { id: project, instances: -1, cores: -1, ram: -1, key_pairs: -1, metadata_items: 128, injected_files: 5 });
  t.same(await quotaSet(), defaults);
  await t.rejects(demo.call('PUT', `/v2.1/os-quota-sets/${project}`, { quota_set: { instances: 1 } }), refused(403));
  await t.rejects(other.call('GET', `/v2.1/os-quota-sets/${project}`), refused(403));
  const { quota_set } = await admin.call<{ quota_set: QuotaSet }>('PUT', `/v2.1/os-quota-sets/${project}`, { quota_set: { instances: 3, ram: 1024, key_pairs: 2, force: true } });
  t.match(quota_set, { instances: 3, ram: 1024, key_pairs: 2 });
  t.match(await demo.call('GET', `/tenants/${project}/quotas`), { quotas: [{ name: 'instances', limit: 3 }, {}, { name: 'mem_mb', limit: 1024 }] }, 'the ciao quota itself');
  for (const body of [{ quota_set: { security_groups: 5 } }, { quota_set: { instances: 'many' } }, { quota_set: { instances: -2 } }, {}]) {
    await t.rejects(admin.call('PUT', `/v2.1/os-quota-sets/${project}`, body), refused(400), JSON.stringify(body));
  }
  await plane.restartController();
  t.match(await quotaSet(), { instances: 3, key_pairs: 2 }, 'kept across a restart');
});

t.test('limits and quota detail count what the project uses, and the limits hold', async (t) => {
  const { flavors } = await demo.call<{ flavors: { id: string; name: string }[] }>('GET', '/v2.1/flavors');
  const flavor = flavors.find((f) => f.name === 'Busybox container')!.id;
  await demo.call('POST', '/v2.1/servers', { server: { name: 'counted', flavorRef: flavor } });
  await demo.call('POST', '/v2.1/os-keypairs', { keypair: { name: 'k1' } });
  await demo.call('POST', '/v2.1/os-keypairs', { keypair: { name: 'k2' } });
  await t.rejects(demo.call('POST', '/v2.1/os-keypairs', { keypair: { name: 'k3' } }), refused(403), 'key_pairs is 2');
  const { limits } = await demo.call<{ limits: { absolute: Record<string, number>; rate: unknown[] } }>('GET', '/v2.1/limits');
  t.match(limits.absolute, { maxTotalInstances: 3, totalInstancesUsed: 1, totalCoresUsed: 1, totalRAMUsed: 64, maxTotalRAMSize: 1024, maxTotalKeypairs: 2, maxServerMeta: 128 });
  t.match(await quotaSet(demo, '/detail'), { instances: { limit: 3, in_use: 1, reserved: 0 }, key_pairs: { limit: 2, in_use: 2 } });
  const meta = Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`k${i}`, 'v']));
  await t.rejects(demo.call('POST', '/v2.1/servers', { server: { name: 'too-much-meta', flavorRef: flavor, metadata: meta } }), refused(403));
  await admin.call('DELETE', `/v2.1/os-quota-sets/${project}`);
  t.same(await quotaSet(), await quotaSet(demo, '/defaults'), 'DELETE reverts to the defaults');
});

t.test("a deleted tenant's quotas go with it: its project, seen again, starts from the defaults", async (t) => {
  const id = randomUUID();
  type Report = { quotas: { name: string; limit: number }[] };
  const instances = async () => (await admin.call<Report>('GET', `/tenants/${id}/quotas`)).quotas.find((q) => q.name === 'instances')?.limit;
  await admin.call('POST', '/tenants', { id, name: 'quota-leak' });
  await admin.call('PUT', `/tenants/${id}/quotas`, { instances: 1 });
  t.equal(await instances(), 1);
  await admin.call('DELETE', `/tenants/${id}`);
  await admin.call('POST', '/tenants', { id, name: 'quota-leak' });
  t.equal(await instances(), -1, 'unlimited, the default: nothing of the old tenant');
  await admin.call('DELETE', `/tenants/${id}`);
});

t.test('one availability zone, nova, available; its hosts for an admin only', async (t) => {
  t.same(await demo.call('GET', '/v2.1/os-availability-zone'), { availabilityZoneInfo: [{ zoneName: 'nova', zoneState: { available: true }, hosts: null }] });
  const { availabilityZoneInfo: [zone] } = await admin.call<{ availabilityZoneInfo: { hosts: Record<string, object> }[] }>('GET', '/v2.1/os-availability-zone/detail');
  t.match(zone.hosts, { 'host-0': { 'nova-compute': { available: true, active: true } } });
  await t.rejects(demo.call('GET', '/v2.1/os-availability-zone/detail'), refused(403));
});
