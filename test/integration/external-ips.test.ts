import t from 'tap';
import { startControlPlane } from '../helpers/control-plane.ts';
import { createInstances, eventMark, waitForEvent, waitForState, workloadId } from '../helpers/api-waits.ts';
import type { ExternalIp } from '../../controller/api-types.ts';

const plane = await startControlPlane({ nodes: 2 });
t.teardown(() => plane.close());
const { demo, admin } = plane;
const tenant = await demo.tenantId();
const [vm] = await createInstances(demo, await workloadId(demo, 'qemu'));
await waitForState(demo, vm.id, 'active');

t.test('pools: create, show free count, refuse overlaps and bad CIDRs', async (t) => {
  const pool = await admin.call<{ name: string; total: number; free: number }>('POST', '/pools', { name: 'test', subnet: '203.0.113.0/24' });
  t.match(pool, { name: 'test', total: 254, free: 254 });
  await t.rejects(admin.call('POST', '/pools', { name: 'test', subnet: '198.18.0.0/24' }), { name: 'ControllerError', status: 409, message: /already exists/ });
  await t.rejects(admin.call('POST', '/pools', { name: 'clash', ips: ['203.0.113.7'] }), { name: 'ControllerError', status: 409, message: /another pool/ });
  await t.rejects(admin.call('POST', '/pools', { name: 'bad', subnet: '203.0.113.9/24' }), { name: 'ControllerError', status: 400, message: /host bits/ });
  const extra = await admin.call<{ name: string; total: number }>('POST', '/pools', { name: 'extra', ips: ['198.18.0.1'] });
  t.equal(extra.total, 1);
  t.equal((await admin.call<{ total: number }>('POST', '/pools/extra/addresses', { ips: ['198.18.0.2'] })).total, 2);
  await t.rejects(admin.call('POST', '/pools/extra/addresses', {}), { name: 'ControllerError', status: 400, message: /give a subnet or ips/ });
  await admin.call('DELETE', '/pools/extra');
});

t.test('map takes the lowest free address and reports Mapped; unmap reports Unmapped', async (t) => {
  const m = await demo.call<ExternalIp>('POST', `/tenants/${tenant}/external-ips`, { instance_id: vm.id });
  t.match(m, { ip: '203.0.113.1', state: 'mapping', private_ip: vm.ip });
  await waitForEvent(demo, new RegExp(`^Mapped 203\\.0\\.113\\.1 to ${vm.id}`));
  t.equal(plane.nats.get(tenant)!.mappings.get('203.0.113.1')?.privateIp, vm.ip, 'the CNCI installed the NAT');
  t.equal((await admin.call<{ free: number }>('GET', '/pools/test')).free, 253);
  await t.rejects(admin.call('DELETE', '/pools/test'), { status: 409, code: 'in_use' });
  await demo.call('DELETE', `/tenants/${tenant}/external-ips/203.0.113.1`);
  await waitForEvent(demo, new RegExp(`^Unmapped 203\\.0\\.113\\.1 from ${vm.id}`));
  t.equal(plane.nats.get(tenant)!.mappings.size, 0);
});

t.test('with the NAT fault switched on, map and unmap each report Failed; then unmap cleanly', async (t) => {
  await demo.call('DELETE', `/tenants/${tenant}/events`);
  const m = await demo.call<ExternalIp>('POST', `/tenants/${tenant}/external-ips`, { instance_id: vm.id });
  await waitForEvent(demo, /^Mapped /);
  await admin.call('POST', `/tenants/${tenant}/cnci/faults`, { nat_failure: true });
  await demo.call('DELETE', `/tenants/${tenant}/external-ips/${m.ip}`);
  await waitForEvent(demo, new RegExp(`^Failed to unmap ${m.ip.replace(/\./g, '\\.')} from ${vm.id}: nat_failure`));
  const [vm2] = await createInstances(demo, await workloadId(demo, 'qemu'));
  await waitForState(demo, vm2.id, 'active');
  const m2 = await demo.call<ExternalIp>('POST', `/tenants/${tenant}/external-ips`, { instance_id: vm2.id });
  await waitForEvent(demo, new RegExp(`^Failed to map ${m2.ip.replace(/\./g, '\\.')} to ${vm2.id}: nat_failure`));
  await admin.call('POST', `/tenants/${tenant}/cnci/faults`, { nat_failure: false });
  const mark = await eventMark(demo);
  await demo.call('DELETE', `/tenants/${tenant}/external-ips/${m.ip}`);
  await waitForEvent(demo, new RegExp(`^Unmapped ${m.ip.replace(/\./g, '\\.')}`), { after: mark });
  t.same((await demo.call<{ external_ips: unknown[] }>('GET', `/tenants/${tenant}/external-ips`)).external_ips, []);
});

t.test('deleting a mapped instance gives its address back', async (t) => {
  const mark = await eventMark(demo);
  const m = await demo.call<ExternalIp>('POST', `/tenants/${tenant}/external-ips`, { instance_id: vm.id });
  await waitForEvent(demo, new RegExp(`^Mapped ${m.ip.replace(/\./g, '\\.')}`), { after: mark });
  await demo.call('DELETE', `/tenants/${tenant}/instances/${vm.id}`);
  await waitForEvent(demo, new RegExp(`^Deleted ${vm.id}`));
  t.same((await admin.call<{ external_ips: unknown[] }>('GET', '/external-ips')).external_ips, []);
  await admin.call('DELETE', '/pools/test');
  await t.rejects(admin.call('GET', '/pools/test'), { name: 'ControllerError', status: 404 });
});

t.test('mapping with no pool at all says an admin must create one', async (t) => {
  const [c] = await createInstances(demo, await workloadId(demo, 'docker'));
  await waitForState(demo, c.id, 'active');
  await t.rejects(demo.call('POST', `/tenants/${tenant}/external-ips`, { instance_id: c.id }), { status: 409, code: 'pool_exhausted', message: /create one/ });
});
