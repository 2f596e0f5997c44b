// An admin's flavors through the Compute API: a flavor made with POST /flavors is a workload a
// server really boots from; Nova's validation and conflicts; private flavors shared with projects
// (os-flavor-access); extra specs written by the admin only; delete; and a restart keeping it all.
import t from 'tap';
import { request } from 'undici';
import { startControlPlane } from '../helpers/control-plane.ts';
import { waitForState } from '../helpers/api-waits.ts';
import type { ControllerClient } from '../../shared/controller-client.ts';

const plane = await startControlPlane({ nodes: 1 });
t.teardown(() => plane.close());
const { demo, other, admin } = plane;
const [demoProject, otherProject] = [await demo.tenantId(), await other.tenantId()];

const call = async (c: ControllerClient, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
  const res = await request(`${plane.controllerUrl}/v2.1${path}`, {
    method: method as 'GET', dispatcher: plane.dispatcher, body: body === undefined ? undefined : JSON.stringify(body),
    headers: { 'x-auth-token': await c.authToken(), 'content-type': 'application/json', ...headers },
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
};
const create = (flavor: Record<string, unknown>, c: ControllerClient = admin) => call(c, 'POST', '/flavors', { flavor: { ram: 512, vcpus: 1, disk: 10, ...flavor } });
const names = async (c: ControllerClient, query = '') => (await call(c, 'GET', `/flavors/detail${query}`)).body.flavors.map((f: { name: string }) => f.name);
const imageId = (await admin.call<{ images: { id: string }[] }>('GET', '/image/v2/images')).images[0].id;

t.test('an admin makes a flavor: Nova\'s view of it, and a server boots from it', async (t) => {
  const made = await create({ name: 'big', id: 4242, ram: '1024', vcpus: 2, 'OS-FLV-EXT-DATA:ephemeral': 5, swap: 256, rxtx_factor: 2 });
  t.equal(made.status, 200);
  t.match(made.body.flavor, { id: '4242', name: 'big', ram: 1024, vcpus: 2, disk: 10, swap: 256, 'OS-FLV-EXT-DATA:ephemeral': 5, rxtx_factor: 2, 'os-flavor-access:is_public': true });
  t.match((await create({ name: 'plain' })).body.flavor, { swap: '', rxtx_factor: 1, 'OS-FLV-EXT-DATA:ephemeral': 0 }, 'defaults as Nova shows them at 2.1');
  t.match((await create({ name: 'uuid', id: null })).body.flavor.id, /^[0-9a-f-]{36}$/, 'no id: a UUID');
  t.ok((await names(demo)).includes('big'), 'a member sees the public flavor');
  const server = await call(demo, 'POST', '/servers', { server: { name: 'on-big', flavorRef: '4242', imageRef: imageId } });
  t.equal(server.status, 202);
  await waitForState(demo, server.body.server.id, 'active');
  const shown = await call(demo, 'GET', `/servers/${server.body.server.id}`);
  t.equal(shown.body.server.flavor.id, '4242');
  const inst = await admin.call<{ vcpus: number; mem_mb: number }>('GET', `/tenants/${demoProject}/instances/${server.body.server.id}`);
  t.match(inst, { vcpus: 2, mem_mb: 1024 }, 'the instance has the flavor\'s size');
  t.equal((await call(admin, 'DELETE', '/flavors/4242')).status, 409, 'a flavor in use is not deleted');
  await call(demo, 'DELETE', `/servers/${server.body.server.id}`);
});

t.test('Nova\'s validation, conflicts and the admin rule', async (t) => {
  await create({ name: 'dup', id: 'dup-id' });
  t.equal((await create({ name: 'dup', id: 'other-id' })).status, 409, 'a name taken');
  t.equal((await create({ name: 'other', id: 'dup-id' })).status, 409, 'an id taken');
  for (const [what, flavor] of Object.entries({
    'ram 0': { name: 'v1', ram: 0 }, 'vcpus not a number': { name: 'v2', vcpus: 'two' }, 'negative disk': { name: 'v3', disk: -1 },
    'ram over the 32-bit range': { name: 'v4', ram: 2 ** 31 }, 'a blank name': { name: ' padded ' }, 'an id with a slash': { name: 'v5', id: 'a/b' }, 'an id of dots': { name: 'v6', id: '..' },
    'rxtx_factor 0': { name: 'v6', rxtx_factor: 0 }, 'is_public not a boolean': { name: 'v7', 'os-flavor-access:is_public': 'maybe' },
    'an unknown field': { name: 'v8', surprise: 1 }, 'a description before 2.55': { name: 'v9', description: 'x' },
  })) t.equal((await create(flavor)).status, 400, what);
  t.equal((await call(admin, 'POST', '/flavors', { flavor: { name: 'x' } })).status, 400, 'ram, vcpus and disk are required');
  t.equal((await create({ name: 'mine' }, demo)).status, 403, 'a member cannot create');
  t.equal((await call(demo, 'DELETE', '/flavors/dup-id')).status, 403, 'nor delete');
  t.equal((await call(admin, 'DELETE', '/flavors/dup-id')).status, 202);
  t.equal((await call(admin, 'GET', '/flavors/dup-id')).status, 404, 'deleted');
  t.equal((await call(admin, 'GET', '/flavors?is_public=maybe')).status, 400, 'an unknown is_public filter');
});

t.test('a private flavor: listed and bootable only by the projects it is shared with', async (t) => {
  const id = (await create({ name: 'secret', 'os-flavor-access:is_public': 'False' })).body.flavor.id;
  t.notOk((await names(admin)).includes('secret'), 'not in the admin\'s default list');
  t.ok((await names(admin, '?is_public=false')).includes('secret'), 'but with is_public=false');
  t.ok((await names(admin, '?is_public=none')).includes('secret'), 'and with is_public=none');
  t.same((await call(admin, 'GET', `/flavors/${id}/os-flavor-access`)).body, { flavor_access: [] });
  t.equal((await call(demo, 'POST', '/servers', { server: { name: 'no', flavorRef: id, imageRef: imageId } })).status, 400, 'no access: no such flavor');
  t.equal((await call(demo, 'POST', `/flavors/${id}/action`, { addTenantAccess: { tenant: demoProject } })).status, 403, 'a member cannot share a flavor it does not see: 403 before any lookup');
  const added = await call(admin, 'POST', `/flavors/${id}/action`, { addTenantAccess: { tenant: demoProject } });
  t.same(added.body, { flavor_access: [{ flavor_id: id, tenant_id: demoProject }] });
  t.equal((await call(admin, 'POST', `/flavors/${id}/action`, { addTenantAccess: { tenant: demoProject } })).status, 409, 'twice');
  t.ok((await names(demo)).includes('secret'), 'the project now lists it');
  t.notOk((await names(other)).includes('secret'), 'another does not');
  t.equal((await call(other, 'GET', `/flavors/${id}`)).status, 404);
  t.equal((await call(demo, 'POST', `/flavors/${id}/action`, { addTenantAccess: { tenant: otherProject } })).status, 403, 'a member cannot share it');
  t.equal((await call(demo, 'GET', `/flavors/${id}/os-flavor-access`)).status, 403);
  t.equal((await call(admin, 'POST', `/flavors/${id}/action`, { removeTenantAccess: { tenant: otherProject } })).status, 404, 'removing a project not on the list');
  t.equal((await call(admin, 'POST', `/flavors/${id}/action`, { addTenantAccess: { tenant: 'a b' } })).status, 400, 'not a project id');
  t.same((await call(admin, 'POST', `/flavors/${id}/action`, { removeTenantAccess: { tenant: demoProject } })).body, { flavor_access: [] });
  t.notOk((await names(demo)).includes('secret'), 'gone from the project\'s list');
  const pub = (await create({ name: 'open' })).body.flavor.id;
  t.equal((await call(admin, 'GET', `/flavors/${pub}/os-flavor-access`)).status, 404, 'a public flavor has no access list');
  t.equal((await call(admin, 'POST', `/flavors/${pub}/action`, { addTenantAccess: { tenant: demoProject } })).status, 409);
});

t.test('extra specs: the admin sets, updates and unsets them; members read them', async (t) => {
  const id = (await create({ name: 'specs' })).body.flavor.id;
  const base = `/flavors/${id}/os-extra_specs`;
  t.same((await call(admin, 'GET', base)).body, { extra_specs: {} }, 'a new flavor has none');
  const specs = { 'hw:numa_nodes': '1', 'hw:cpu_policy': 'shared' };
  t.same((await call(admin, 'POST', base, { extra_specs: specs })).body, { extra_specs: specs });
  t.same((await call(demo, 'GET', base)).body, { extra_specs: specs });
  t.same((await call(admin, 'PUT', `${base}/hw:numa_nodes`, { 'hw:numa_nodes': '2' })).body, { 'hw:numa_nodes': '2' });
  t.equal((await call(admin, 'PUT', `${base}/hw:numa_nodes`, { 'hw:cpu_policy': 'x' })).status, 400, 'the body\'s key must be the URL\'s');
  t.equal((await call(admin, 'PUT', `${base}/hw:numa_nodes`, { 'hw:numa_nodes': '1', b: '2' })).status, 400, 'one key only');
  t.equal((await call(demo, 'POST', base, { extra_specs: { a: 'b' } })).status, 403, 'a member cannot set');
  t.equal((await call(demo, 'DELETE', `${base}/hw:numa_nodes`)).status, 403, 'nor unset');
  t.equal((await call(admin, 'POST', base, { extra_specs: { 'bad/key': 'x' } })).status, 400, 'a key with a slash');
  t.equal((await call(admin, 'POST', base, { extra_specs: { k: 'v'.repeat(256) } })).status, 400, 'a value too long');
  t.equal((await call(admin, 'DELETE', `${base}/hw:numa_nodes`)).status, 200);
  t.equal((await call(admin, 'DELETE', `${base}/hw:numa_nodes`)).status, 404, 'unset twice');
  t.same((await call(demo, 'GET', `${base}/hw:cpu_policy`)).body, { 'hw:cpu_policy': 'shared' });
  t.equal((await call(demo, 'GET', `${base}/hw:numa_nodes`)).status, 404);
});

t.test('a restart keeps the flavors, their extra specs and their access lists', async (t) => {
  const id = (await create({ name: 'kept', 'os-flavor-access:is_public': false, swap: 64 })).body.flavor.id;
  await call(admin, 'POST', `/flavors/${id}/action`, { addTenantAccess: { tenant: demoProject } });
  await call(admin, 'POST', `/flavors/${id}/os-extra_specs`, { extra_specs: { 'hw:a': 'b' } });
  await plane.restartController();
  t.match((await call(demo, 'GET', `/flavors/${id}`)).body.flavor, { name: 'kept', swap: 64, 'os-flavor-access:is_public': false });
  t.same((await call(demo, 'GET', `/flavors/${id}/os-extra_specs`)).body, { extra_specs: { 'hw:a': 'b' } });
  t.equal((await call(other, 'GET', `/flavors/${id}`)).status, 404, 'still private to the projects on its list');
});
