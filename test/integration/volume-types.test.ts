// Block Storage v3 volume types, group types, user messages and the volumes summary against an
// in-process control plane: admins manage types, a private type is usable only by the projects on
// its access list, a type the backend cannot satisfy leaves the volume in error with a message,
// routes of later microversions exist only from them, and types survive a restart.
import t from 'tap';
import { request } from 'undici';
import { waitFor } from '../../shared/wait-for.ts';
import { startControlPlane } from '../helpers/control-plane.ts';
import type { ControllerClient } from '../../shared/controller-client.ts';

const plane = await startControlPlane({ nodes: 1 });
t.teardown(() => plane.close());
const { demo, other, admin } = plane;
const demoProject = await demo.tenantId();

interface Answer { status: number; body: any; headers: Record<string, unknown> } // eslint-disable-line @typescript-eslint/no-explicit-any
const api = async (who: ControllerClient, method: string, path: string, body?: unknown, version = '3.0'): Promise<Answer> => {
  const res = await request(`${plane.controllerUrl}/volume/v3${path}`, {
    method: method as 'GET', dispatcher: plane.dispatcher,
    headers: { 'x-auth-token': await who.authToken(), 'content-type': 'application/json', 'openstack-api-version': `volume ${version}` },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : undefined, headers: res.headers };
};
const newType = async (volume_type: Record<string, unknown>) => {
  const r = await api(admin, 'POST', '/types', { volume_type });
  if (r.status !== 200) throw new Error(`type create answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body.volume_type as { id: string; name: string };
};
const waitForStatus = (who: ControllerClient, id: string, status: string) => waitFor(`volume ${id} to be ${status}`, async () => {
  const r = await api(who, 'GET', `/volumes/${id}`);
  return r.body.volume?.status === status && r.body.volume;
}, { timeoutMs: 10_000 });

t.test('an admin creates, shows, updates and deletes a type; names are unique; tenants may not manage', async (t) => {
  const made = await api(admin, 'POST', '/types', { volume_type: { name: 'gold', description: 'fast', extra_specs: { vendor_name: 'ciao' } } });
  t.match(made, { status: 200, body: { volume_type: { name: 'gold', description: 'fast', is_public: true, 'os-volume-type-access:is_public': true, extra_specs: { vendor_name: 'ciao' } } } });
  const id = made.body.volume_type.id;
  t.match((await api(demo, 'GET', `/types/${id}`)).body.volume_type, { id, name: 'gold', qos_specs_id: null });
  t.ok((await api(demo, 'GET', '/types')).body.volume_types.some((x: { id: string }) => x.id === id), 'a public type is listed to tenants');
  t.equal((await api(admin, 'POST', '/types', { volume_type: { name: 'gold' } })).status, 409, 'the name is taken');
  t.equal((await api(admin, 'POST', '/types', { volume_type: { name: '  ' } })).status, 400, 'an empty name');
  t.equal((await api(demo, 'POST', '/types', { volume_type: { name: 'mine' } })).status, 403);
  t.equal((await api(demo, 'PUT', `/types/${id}`, { volume_type: { name: 'x' } })).status, 403);
  const updated = await api(admin, 'PUT', `/types/${id}`, { volume_type: { name: 'platinum', description: null } });
  t.match(updated, { status: 200, body: { volume_type: { id, name: 'platinum', description: null } } });
  t.notOk('os-volume-type-access:is_public' in updated.body.volume_type, 'the update view is Cinder\'s, without the access flag');
  t.equal((await api(admin, 'PUT', `/types/${id}`, { volume_type: {} })).status, 400, 'nothing to change');
  t.equal((await api(admin, 'DELETE', `/types/${id}`)).status, 202);
  t.equal((await api(admin, 'GET', `/types/${id}`)).status, 404);
  t.equal((await api(admin, 'DELETE', `/types/${id}`)).status, 404);
});

t.test('extra specs: set (merge), show, update one key, delete; bad bodies 400, unknown ones 404', async (t) => {
  const type = await newType({ name: 'specs' });
  t.match(await api(admin, 'POST', `/types/${type.id}/extra_specs`, { extra_specs: { a: '1', b: '2' } }), { status: 200, body: { extra_specs: { a: '1', b: '2' } } });
  t.same((await api(admin, 'GET', `/types/${type.id}/extra_specs`)).body, { extra_specs: { a: '1', b: '2' } });
  t.match(await api(admin, 'PUT', `/types/${type.id}/extra_specs/a`, { a: '3' }), { status: 200, body: { a: '3' } });
  t.same((await api(admin, 'GET', `/types/${type.id}/extra_specs/a`)).body, { a: '3' });
  t.equal((await api(admin, 'PUT', `/types/${type.id}/extra_specs/a`, { b: '3' })).status, 400, 'the key of the body is not the path\'s');
  t.equal((await api(admin, 'PUT', `/types/${type.id}/extra_specs/a`, { a: '3', b: '4' })).status, 400, 'two keys');
  t.equal((await api(admin, 'PUT', `/types/${type.id}/extra_specs/a`, 'null')).status, 400);
  t.equal((await api(admin, 'POST', `/types/${type.id}/extra_specs`, { extra_specs: ['x'] })).status, 400);
  t.equal((await api(admin, 'DELETE', `/types/${type.id}/extra_specs/b`)).status, 202);
  t.equal((await api(admin, 'GET', `/types/${type.id}/extra_specs/b`)).status, 404);
  t.equal((await api(admin, 'GET', '/types/4b1e1f3c-0000-4000-8000-000000000000/extra_specs')).status, 404);
  t.equal((await api(demo, 'GET', `/types/${type.id}/extra_specs`)).status, 403, 'extra specs are for admins');
});

t.test('a private type: 404 to a project until it is on the access list; a volume of it shows its name', async (t) => {
  const type = await newType({ name: 'private', 'os-volume-type-access:is_public': false });
  t.equal((await api(demo, 'POST', '/volumes', { volume: { size: 1, volume_type: type.id } })).status, 404);
  t.equal((await api(demo, 'GET', `/types/${type.id}`)).status, 404);
  t.equal((await api(admin, 'POST', `/types/${type.id}/action`, { addProjectAccess: { project: demoProject } })).status, 202);
  t.equal((await api(admin, 'POST', `/types/${type.id}/action`, { addProjectAccess: { project: demoProject } })).status, 409);
  t.same((await api(admin, 'GET', `/types/${type.id}/os-volume-type-access`)).body, { volume_type_access: [{ volume_type_id: type.id, project_id: demoProject }] });
  const made = await api(demo, 'POST', '/volumes', { volume: { size: 1, volume_type: 'private' } });
  t.equal(made.status, 202);
  const v = await waitForStatus(demo, made.body.volume.id, 'available');
  t.equal(v.volume_type, 'private');
  t.equal((await api(other, 'POST', '/volumes', { volume: { size: 1, volume_type: type.id } })).status, 404, 'another project still cannot');
  t.equal((await api(admin, 'DELETE', `/types/${type.id}`)).status, 400, 'a type in use stays');
  t.equal((await api(demo, 'DELETE', `/volumes/${v.id}`)).status, 202);
  t.equal((await api(admin, 'POST', `/types/${type.id}/action`, { removeProjectAccess: { project: demoProject } })).status, 202);
  t.equal((await api(admin, 'POST', `/types/${type.id}/action`, { removeProjectAccess: { project: demoProject } })).status, 404);
  t.equal((await api(admin, 'DELETE', `/types/${type.id}`)).status, 202);
});

t.test('retype changes the type of an available volume; the same or an unknown type is refused', async (t) => {
  const [a, b] = [await newType({ name: 'type-a' }), await newType({ name: 'type-b' })];
  const made = await api(demo, 'POST', '/volumes', { volume: { size: 1, volume_type: a.name } });
  const v = await waitForStatus(demo, made.body.volume.id, 'available');
  t.equal((await api(demo, 'POST', `/volumes/${v.id}/action`, { 'os-retype': { new_type: b.id, migration_policy: 'never' } })).status, 202);
  t.equal((await api(demo, 'GET', `/volumes/${v.id}`)).body.volume.volume_type, 'type-b');
  t.equal((await api(demo, 'POST', `/volumes/${v.id}/action`, { 'os-retype': { new_type: 'type-b' } })).status, 400, 'already of it');
  t.equal((await api(demo, 'POST', `/volumes/${v.id}/action`, { 'os-retype': { new_type: 'none-such' } })).status, 404);
  t.match((await api(admin, 'GET', `/volumes/${v.id}`)).body.volume, { 'os-vol-host-attr:host': 'controller@qcow2#volumes', 'os-vol-mig-status-attr:migstat': null });
  t.notOk('os-vol-host-attr:host' in (await api(demo, 'GET', `/volumes/${v.id}`)).body.volume, 'the host is for admins');
  await api(demo, 'DELETE', `/volumes/${v.id}`);
});

t.test('a type the backend cannot satisfy: the volume goes to error with a user message (3.3)', async (t) => {
  const type = await newType({ name: 'iscsi', extra_specs: { storage_protocol: 'iSCSI' } });
  const made = await api(demo, 'POST', '/volumes', { volume: { size: 1, volume_type: type.id } });
  t.equal(made.status, 202);
  await waitForStatus(demo, made.body.volume.id, 'error');
  t.equal((await api(demo, 'GET', '/messages')).status, 404, 'messages came with 3.3');
  const messages = (await api(demo, 'GET', '/messages', undefined, '3.3')).body.messages;
  const m = messages.find((x: { resource_uuid: string }) => x.resource_uuid === made.body.volume.id);
  t.match(m, { event_id: 'VOLUME_VOLUME_001_002', resource_type: 'VOLUME', message_level: 'ERROR', user_message: /weighted backend/ });
  t.equal((await api(other, 'GET', `/messages/${m.id}`, undefined, '3.3')).status, 404, 'another tenant\'s message');
  t.equal((await api(demo, 'DELETE', `/messages/${m.id}`, undefined, '3.3')).status, 204);
  t.equal((await api(demo, 'GET', `/messages/${m.id}`, undefined, '3.3')).status, 404);
  t.equal((await api(demo, 'DELETE', `/volumes/${made.body.volume.id}`)).status, 202, 'a volume in error is deleted');
  const fine = await newType({ name: 'file', extra_specs: { storage_protocol: 'file', 'capabilities:vendor_name': 'ciao', 'qos:iops': '100' } });
  const ok = await api(demo, 'POST', '/volumes', { volume: { size: 1, volume_type: fine.id } });
  await waitForStatus(demo, ok.body.volume.id, 'available');
  await api(demo, 'DELETE', `/volumes/${ok.body.volume.id}`);
});

t.test('the volumes summary (3.12) counts the caller\'s volumes and GiB', async (t) => {
  t.equal((await api(demo, 'GET', '/volumes/summary', undefined, '3.11')).status, 404, 'not before 3.12');
  const before = (await api(demo, 'GET', '/volumes/summary', undefined, '3.12')).body['volume-summary'];
  const made = await api(demo, 'POST', '/volumes', { volume: { size: 2 } });
  t.same((await api(demo, 'GET', '/volumes/summary', undefined, '3.12')).body, { 'volume-summary': { total_count: before.total_count + 1, total_size: before.total_size + 2 } });
  await waitForStatus(demo, made.body.volume.id, 'available');
  await api(demo, 'DELETE', `/volumes/${made.body.volume.id}`);
});

t.test('group types (3.11): created 202 by an admin, group specs, sorted and filtered lists', async (t) => {
  t.equal((await api(admin, 'GET', '/group_types', undefined, '3.10')).status, 404, 'not before 3.11');
  const made = await api(admin, 'POST', '/group_types', { group_type: { name: 'b-private', is_public: false, group_specs: { k: 'v' } } }, '3.11');
  t.match(made, { status: 202, body: { group_type: { name: 'b-private', is_public: false, group_specs: { k: 'v' } } } });
  const pub = (await api(admin, 'POST', '/group_types', { group_type: { name: 'a-public' } }, '3.11')).body.group_type;
  const names = async (query: string) => (await api(admin, 'GET', `/group_types${query}`, undefined, '3.11')).body.group_types.map((g: { name: string }) => g.name);
  t.same(await names('?is_public=None&sort=name:asc'), ['a-public', 'b-private']);
  t.same(await names('?is_public=None&sort=name:desc'), ['b-private', 'a-public']);
  t.same(await names('?is_public=false'), ['b-private']);
  t.same(await names(''), ['a-public']);
  t.equal((await api(demo, 'POST', '/group_types', { group_type: { name: 'mine' } }, '3.11')).status, 403);
  const id = made.body.group_type.id;
  t.match(await api(admin, 'POST', `/group_types/${id}/group_specs`, { group_specs: { k2: 'v2' } }, '3.11'), { status: 202, body: { group_specs: { k2: 'v2' } } });
  t.same((await api(admin, 'GET', `/group_types/${id}/group_specs`, undefined, '3.11')).body, { group_specs: { k: 'v', k2: 'v2' } });
  t.equal((await api(admin, 'DELETE', `/group_types/${id}`, undefined, '3.11')).status, 202);
  t.equal((await api(admin, 'DELETE', `/group_types/${pub.id}`, undefined, '3.11')).status, 202);
});

t.test('types survive a controller restart', async (t) => {
  const type = await newType({ name: 'kept', 'os-volume-type-access:is_public': false, extra_specs: { vendor_name: 'ciao' } });
  await api(admin, 'POST', `/types/${type.id}/action`, { addProjectAccess: { project: demoProject } });
  await plane.restartController();
  t.match((await api(demo, 'GET', `/types/${type.id}`)).body.volume_type, { name: 'kept', is_public: false, extra_specs: { vendor_name: 'ciao' } });
  t.equal((await api(admin, 'DELETE', `/types/${type.id}`)).status, 202);
});

t.test('the backend\'s pool and capabilities, for admins: what extra specs are matched against', async (t) => {
  t.same((await api(admin, 'GET', '/scheduler-stats/get_pools')).body, { pools: [{ name: 'controller@qcow2#volumes' }] });
  const [pool] = (await api(admin, 'GET', '/scheduler-stats/get_pools?detail=True')).body.pools;
  t.match(pool.capabilities, { vendor_name: 'ciao', storage_protocol: 'file', volume_backend_name: 'qcow2' });
  t.ok(pool.capabilities.total_capacity_gb >= pool.capabilities.free_capacity_gb && pool.capabilities.total_capacity_gb > 0, 'the volume store\'s filesystem');
  t.match((await api(admin, 'GET', '/capabilities/controller@qcow2')).body, { vendor_name: 'ciao', storage_protocol: 'file', namespace: /^OS::Storage::Capabilities::/ });
  t.equal((await api(admin, 'GET', '/capabilities/elsewhere@lvm')).status, 404);
  t.equal((await api(demo, 'GET', '/scheduler-stats/get_pools')).status, 403);
});

t.test('os-services: the controller\'s scheduler and volume services; a disabled cinder-volume places no new volume', async (t) => {
  const list = (await api(admin, 'GET', '/os-services')).body.services;
  t.match(list, [{ binary: 'cinder-scheduler', host: 'controller', status: 'enabled', state: 'up' }, { binary: 'cinder-volume', host: 'controller@qcow2', zone: 'nova' }]);
  t.same((await api(admin, 'GET', '/os-services?host=controller&binary=cinder-volume')).body.services.map((x: { binary: string }) => x.binary), ['cinder-volume']);
  const target = { host: 'controller@qcow2', binary: 'cinder-volume' };
  t.equal((await api(admin, 'PUT', '/os-services/disable', { host: 'elsewhere', binary: 'cinder-volume' })).status, 404);
  t.equal((await api(admin, 'PUT', '/os-services/disable-log-reason', { ...target })).status, 400, 'no reason');
  t.equal((await api(admin, 'PUT', '/os-services/freeze', { host: 'elsewhere' })).status, 400);
  t.equal((await api(demo, 'PUT', '/os-services/disable', target)).status, 403);
  t.match(await api(admin, 'PUT', '/os-services/disable-log-reason', { ...target, disabled_reason: 'maintenance' }), { status: 200, body: { disabled: true, status: 'disabled', disabled_reason: 'maintenance' } });
  const made = await api(demo, 'POST', '/volumes', { volume: { size: 1 } });
  await waitForStatus(demo, made.body.volume.id, 'error');
  t.match(await api(admin, 'PUT', '/os-services/enable', target), { status: 200, body: { disabled: false, status: 'enabled', disabled_reason: null } });
  const placed = await api(demo, 'POST', '/volumes', { volume: { size: 1 } });
  await waitForStatus(demo, placed.body.volume.id, 'available');
  for (const id of [made.body.volume.id, placed.body.volume.id]) await api(demo, 'DELETE', `/volumes/${id}`);
});

t.test('os-hosts: the services\' hosts, and the volumes the backend holds in total and per project', async (t) => {
  t.match((await api(admin, 'GET', '/os-hosts')).body.hosts, [{ host_name: 'controller', service: 'cinder-scheduler' }, { host_name: 'controller@qcow2', service: 'cinder-volume', 'service-state': 'enabled' }]);
  const made = await api(demo, 'POST', '/volumes', { volume: { size: 3 } });
  const host = (await api(admin, 'GET', '/os-hosts/controller@qcow2')).body.host;
  t.match(host.find((h: { resource: { project: string } }) => h.resource.project === demoProject), { resource: { host: 'controller@qcow2', volume_count: '1', total_volume_gb: '3' } });
  t.equal((await api(admin, 'GET', '/os-hosts/controller')).status, 404, 'no cinder-volume there');
  t.equal((await api(demo, 'GET', '/os-hosts')).status, 403);
  await waitForStatus(demo, made.body.volume.id, 'available');
  await api(demo, 'DELETE', `/volumes/${made.body.volume.id}`);
});
