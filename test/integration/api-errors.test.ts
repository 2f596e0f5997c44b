import t from 'tap';
import { request } from 'undici';
import { startControlPlane } from '../helpers/control-plane.ts';
import { createInstances, waitForState, workloadId } from '../helpers/api-waits.ts';
import { waitFor } from '../../shared/wait-for.ts';

const plane = await startControlPlane({ nodes: 1 });
t.teardown(() => plane.close());
const { demo, other, admin } = plane;
const tenant = await demo.tenantId();

const raw = async (method: string, path: string, headers: Record<string, string> = {}, body?: string) => {
  const res = await request(`${plane.controllerUrl}${path}`, { method: method as 'GET', headers, body, dispatcher: plane.dispatcher });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : undefined, headers: res.headers };
};

t.test('no token is 401 missing_token; a bad token is 401 invalid_token', async (t) => {
  t.match(await raw('GET', `/tenants/${tenant}/instances`), { status: 401, body: { error: { code: 'missing_token', message: /X-Auth-Token/ } } });
  t.match(await raw('GET', `/tenants/${tenant}/instances`, { 'x-auth-token': 'forged.token' }), { status: 401, body: { error: { code: 'invalid_token' } } });
  t.match(await raw('GET', '/v2.1/servers', { 'x-auth-token': 'x' }), { status: 401 });
});

t.test('malformed JSON and YAML are 400 with the reason, never a 5xx', async (t) => {
  const token = { 'x-auth-token': await demo.authToken(), 'content-type': 'application/json' };
  t.match(await raw('POST', `/tenants/${tenant}/instances`, token, '{"workload_id": '), { status: 400, body: { error: { code: 'invalid_json' } } });
  t.match(await raw('POST', `/tenants/${tenant}/instances`, token, '[1,2]'), { status: 400, body: { error: { code: 'invalid_json' } } });
  t.match(await raw('POST', `/tenants/${tenant}/workloads`, { ...token, 'content-type': 'application/yaml' }, 'description: [oops'), { status: 400, body: { error: { code: 'invalid_yaml' } } });
  t.match(await raw('POST', `/tenants/${tenant}/instances`, token, '{"workload_id": 5}'), { status: 400, body: { error: { code: 'invalid_request', message: /workload_id/ } } });
  t.match(await raw('POST', `/tenants/${tenant}/instances`, token, '{"workload_id": "x", "count": 0}'), { status: 400, body: { error: { message: /count/ } } });
  t.match(await raw('PUT', '/pools', token, '{}'), { status: 405 });
});

t.test('unknown ids and paths are 404; unknown workloads and images are 422', async (t) => {
  await t.rejects(demo.call('GET', `/tenants/${tenant}/instances/nope`), { status: 404, code: 'not_found', message: /instance nope does not exist/ });
  await t.rejects(demo.call('GET', `/tenants/${tenant}/workloads/nope`), { name: 'ControllerError', status: 404 });
  await t.rejects(demo.call('GET', '/no/such/path'), { name: 'ControllerError', status: 404 });
  await t.rejects(demo.call('POST', `/tenants/${tenant}/instances`, { workload_id: 'nope' }), { status: 422, code: 'unknown_workload' });
  const w = await demo.call<{ id: string }>('POST', `/tenants/${tenant}/workloads`, { description: 'no image', vm_type: 'qemu', image_name: 'missing-image' });
  await t.rejects(demo.call('POST', `/tenants/${tenant}/instances`, { workload_id: w.id }), { status: 422, code: 'unknown_image', message: /missing-image/ });
});

t.test('another tenant cannot see, show, stop or delete my instance, nor use my tenant path', async (t) => {
  const [mine] = await createInstances(demo, await workloadId(demo, 'docker'));
  await waitForState(demo, mine.id, 'active');
  const otherTenant = await other.tenantId();
  const theirs = await other.call<{ instances: { id: string }[] }>('GET', `/tenants/${otherTenant}/instances`);
  t.notOk(theirs.instances.some((i) => i.id === mine.id));
  await t.rejects(other.call('GET', `/tenants/${otherTenant}/instances/${mine.id}`), { name: 'ControllerError', status: 404 });
  await t.rejects(other.call('DELETE', `/tenants/${otherTenant}/instances/${mine.id}`), { name: 'ControllerError', status: 404 });
  await t.rejects(other.call('GET', `/tenants/${tenant}/instances`), { status: 403, code: 'wrong_tenant' });
  await t.rejects(other.call('DELETE', `/tenants/${tenant}/instances/${mine.id}`), { name: 'ControllerError', status: 403 });
  await t.rejects(other.call('GET', `/v2.1/servers/${mine.id}`), { name: 'ControllerError', status: 404 });
  t.equal((await waitForState(demo, mine.id, 'active')).id, mine.id, 'still there');
});

t.test('admin-only paths refuse a member with 403 not_admin', async (t) => {
  await t.rejects(demo.call('GET', '/nodes'), { status: 403, code: 'not_admin' });
  await t.rejects(demo.call('POST', '/pools', { name: 'x', subnet: '203.0.113.0/24' }), { name: 'ControllerError', status: 403 });
  await t.rejects(demo.call('PUT', `/tenants/${tenant}/quotas`, { instances: 100 }), { name: 'ControllerError', status: 403 });
  await t.rejects(demo.call('POST', `/tenants/${tenant}/workloads`, { description: 'pub', vm_type: 'docker', image_name: 'busybox', visibility: 'public' }), { name: 'ControllerError', status: 403 });
  t.ok((await admin.call<{ nodes: unknown[] }>('GET', '/nodes')).nodes.length >= 1);
});

t.test('quotas: limits and usage, instance-count limit, memory limit below the workload', async (t) => {
  const docker = await workloadId(demo, 'docker');
  await demo.call('DELETE', `/tenants/${tenant}/instances`);
  await waitForEmpty();
  await admin.call('PUT', `/tenants/${tenant}/quotas`, { instances: 3, mem_mb: -1 });
  const three = await createInstances(demo, docker, 3);
  const q = await demo.call<{ quotas: { name: string; limit: number; usage: number }[] }>('GET', `/tenants/${tenant}/quotas`);
  t.same(q.quotas.find((x) => x.name === 'instances'), { name: 'instances', limit: 3, usage: 3 });
  t.equal(q.quotas.find((x) => x.name === 'mem_mb')!.usage, three.reduce((s, i) => s + i.mem_mb, 0));
  await t.rejects(createInstances(demo, docker, 1), { status: 422, code: 'over_quota', message: /quota instances is 3/ });
  await admin.call('PUT', `/tenants/${tenant}/quotas`, { instances: -1, mem_mb: 10 });
  await t.rejects(createInstances(demo, docker, 1), { status: 422, code: 'over_quota', message: /mem_mb/ });
  await t.rejects(admin.call('PUT', `/tenants/${tenant}/quotas`, { bananas: 3 }), { name: 'ControllerError', status: 400, message: /unknown quota bananas/ });
  await admin.call('PUT', `/tenants/${tenant}/quotas`, { mem_mb: -1 });
  t.equal((await createInstances(demo, docker, 1)).length, 1);
});

t.test('privileged workloads need the tenant permission', async (t) => {
  const w = await demo.call<{ id: string }>('POST', `/tenants/${tenant}/workloads`, { description: 'priv', vm_type: 'docker', image_name: 'busybox', requirements: { privileged: true } });
  await t.rejects(createInstances(demo, w.id), { name: 'ControllerError', status: 403, message: /privileged/ });
  await admin.call('PATCH', `/tenants/${tenant}`, { config: { privileged_containers: true } });
  t.equal((await createInstances(demo, w.id)).length, 1);
  await admin.call('PATCH', `/tenants/${tenant}`, { config: { privileged_containers: false } });
});

async function waitForEmpty() {
  await waitFor('no instances', async () => (await demo.call<{ instances: unknown[] }>('GET', `/tenants/${tenant}/instances`)).instances.length === 0);
}

t.test('compute answers say their microversion and request id; a version outside 2.1–2.64 is 406, a malformed one 400', async (t) => {
  const token = { 'x-auth-token': await demo.authToken() };
  const plain = await raw('GET', '/v2.1/flavors', token);
  t.equal(plain.status, 200);
  t.match(plain.headers, { 'openstack-api-version': 'compute 2.1', 'x-openstack-nova-api-version': '2.1', vary: /OpenStack-API-Version/ }, 'no version asked: the minimum, said so');
  t.equal(plain.headers['x-compute-request-id'], plain.headers['x-openstack-request-id'], 'one request id under both names');
  t.match(plain.headers['x-compute-request-id'], /^req-[0-9a-f-]{36}$/);
  t.match((await raw('GET', '/v2.1/servers', { ...token, 'openstack-api-version': 'volume 3.1, compute 2.1' })).headers, { 'openstack-api-version': 'compute 2.1' });
  t.match((await raw('GET', '/v2.1/servers', { ...token, 'x-openstack-nova-api-version': 'latest' })).headers, { 'x-openstack-nova-api-version': '2.64' }, 'latest is the newest');
  const tooNew = await raw('GET', '/v2.1/servers', { ...token, 'openstack-api-version': 'compute 2.99' });
  t.match(tooNew, { status: 406, body: { error: { code: 'version_not_supported', message: 'Version 2.99 is not supported by the API. Minimum is 2.1 and maximum is 2.64.' } } });
  t.equal(tooNew.headers['openstack-api-version'], 'compute 2.1', 'a refusal says which version it is');
  t.match(await raw('GET', '/v2.1/servers', { ...token, 'x-openstack-nova-api-version': '2.x' }), { status: 400, body: { error: { code: 'invalid_request', message: /X\.Y/ } } });
  t.match(await raw('GET', '/', {}), { status: 200, body: { versions: [{ id: 'v2.1', min_version: '2.1', version: '2.64' }] } }, 'the version document answers 200, as Nova');
});
