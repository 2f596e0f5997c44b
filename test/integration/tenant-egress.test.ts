import t from 'tap';
import { startControlPlane } from '../helpers/control-plane.ts';
import { createInstances, waitForState, workloadId } from '../helpers/api-waits.ts';
import { waitFor } from '../../shared/wait-for.ts';
import type { Tenant } from '../../controller/api-types.ts';

// Per-tenant egress (docs/egress.md, "Per tenant"): stored, shown, refused where the cluster has
// no way out, and told to the tenant's CNCI on a change and when it joins.

t.test('on a cluster with egress: on by default, switched by an admin, told to the CNCI, kept over a controller restart', async (t) => {
  const plane = await startControlPlane({ nodes: 1, egress: true });
  t.teardown(() => plane.close());
  const { demo, admin } = plane;
  const tenant = await demo.tenantId();
  t.equal((await demo.call<Tenant>('GET', `/tenants/${tenant}`)).config.egress, true, 'a new tenant gets the cluster default');

  const [vm] = await createInstances(demo, await workloadId(demo, 'qemu'));
  await waitForState(demo, vm.id, 'active');
  const told = () => plane.egressSwitches.get(tenant) ?? [];
  await waitFor('the CNCI to be told on its CNCI_READY', () => told().length > 0, { timeoutMs: 5000 });
  t.same(told(), [true]);

  await t.rejects(demo.call('PATCH', `/tenants/${tenant}`, { config: { egress: false } }), { name: 'ControllerError', status: 403 }, 'a member may not switch it');
  await t.rejects(admin.call('PATCH', `/tenants/${tenant}`, { config: { egress: 'off' } }), { name: 'ControllerError', status: 400 }, 'a boolean only');
  const off = await admin.call<Tenant>('PATCH', `/tenants/${tenant}`, { config: { egress: false } });
  t.equal(off.config.egress, false);
  await waitFor('the CNCI to be told off', () => told().at(-1) === false, { timeoutMs: 5000 });
  t.same(told(), [true, false]);

  await plane.restartController();
  t.equal((await admin.call<Tenant>('GET', `/tenants/${tenant}`)).config.egress, false, 'kept in the datastore');
  const listed = (await admin.call<{ tenants: Tenant[] }>('GET', '/tenants')).tenants.find((x) => x.id === tenant);
  t.equal(listed?.config.egress, false, 'and in the list');
});

t.test('on a cluster without egress: off by default, and on is refused with what to do', async (t) => {
  const plane = await startControlPlane({ nodes: 1 });
  t.teardown(() => plane.close());
  const { demo, admin } = plane;
  const tenant = await demo.tenantId();
  t.equal((await demo.call<Tenant>('GET', `/tenants/${tenant}`)).config.egress, false);
  await t.rejects(admin.call('PATCH', `/tenants/${tenant}`, { config: { egress: true } }), { status: 409, code: 'no_egress', message: /--egress/ });
  await t.rejects(admin.call('POST', '/tenants', { name: 'x', config: { egress: true } }), { status: 409, code: 'no_egress' });
  t.equal((await admin.call<Tenant>('PATCH', `/tenants/${tenant}`, { config: { egress: false } })).config.egress, false, 'off is already the truth');
});
