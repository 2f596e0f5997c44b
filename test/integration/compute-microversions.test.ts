// Compute microversions 2.1–2.64 over an in-process control plane: each field and rule appears at
// its version and not before (server views, tags, networks, instance actions, limits, keypairs,
// flavor description).
import t, { type Test } from 'tap';
import { request } from 'undici';
import { startControlPlane } from '../helpers/control-plane.ts';
import { waitForState, workloadId } from '../helpers/api-waits.ts';
import type { ControllerClient } from '../../shared/controller-client.ts';
import { waitFor } from '../../shared/wait-for.ts';

const plane = await startControlPlane({ nodes: 1 });
t.teardown(() => plane.close());
const { demo, admin } = plane;

/** A compute call at microversion `version` (none: the minimum). */
const call = async (c: ControllerClient, version: string | undefined, method: string, path: string, body?: unknown) => {
  const res = await request(`${plane.controllerUrl}/v2.1${path}`, {
    method: method as 'GET', dispatcher: plane.dispatcher, body: body === undefined ? undefined : JSON.stringify(body),
    headers: { 'x-auth-token': await c.authToken(), 'content-type': 'application/json', ...(version ? { 'openstack-api-version': `compute ${version}` } : {}) },
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body: text ? JSON.parse(text) : undefined };
};
const flavor = await workloadId(demo, 'docker');

/** A container server made at `version` for test `t`, deleted after it. */
async function boot(t: Test, version: string, server: Record<string, unknown> = {}, c = demo) {
  const r = await call(c, version, 'POST', '/servers', { server: { name: 'mv', flavorRef: flavor, ...server } });
  if (r.status !== 202) throw new Error(`create answered ${r.status}: ${JSON.stringify(r.body)}`);
  t.teardown(async () => void await call(c, undefined, 'DELETE', `/servers/${r.body.server.id}`));
  await waitForState(c, r.body.server.id, 'active');
  return r.body.server.id as string;
}

t.test('the range is 2.1–2.64: latest is 2.64, 2.65 is refused, every answer says its version', async (t) => {
  t.match((await call(demo, undefined, 'GET', '')).body, { version: { min_version: '2.1', version: '2.64' } });
  const latest = await call(demo, 'latest', 'GET', '/flavors');
  t.match(latest.headers, { 'openstack-api-version': 'compute 2.64', 'x-openstack-nova-api-version': '2.64', vary: /X-OpenStack-Nova-API-Version/ });
  const old = await request(`${plane.controllerUrl}/v2.1/flavors`, { dispatcher: plane.dispatcher, headers: { 'x-auth-token': await demo.authToken(), 'x-openstack-nova-api-version': '2.19' } });
  t.equal(old.headers['openstack-api-version'], 'compute 2.19', 'the older header is read too');
  await old.body.text();
  const over = await call(demo, '2.65', 'GET', '/flavors');
  t.match(over, { status: 406, body: { error: { message: 'Version 2.65 is not supported by the API. Minimum is 2.1 and maximum is 2.64.' } } });
});

t.test('a server view gains locked at 2.9, description at 2.19, tags at 2.26, its flavor embedded at 2.47', async (t) => {
  const id = await boot(t, '2.52', { description: 'about it', tags: ['a', 'b', 'a'], networks: 'auto' });
  const at = async (v: string) => (await call(demo, v, 'GET', `/servers/${id}`)).body.server;
  const v21 = await at('2.1');
  for (const f of ['locked', 'description', 'tags']) t.notOk(f in v21, `no ${f} at 2.1`);
  t.match(v21.flavor, { id: flavor, links: [{ rel: 'bookmark' }] });
  t.equal((await at('2.9')).locked, false);
  t.notOk('description' in (await at('2.18')));
  t.equal((await at('2.19')).description, 'about it');
  t.notOk('tags' in (await at('2.25')));
  t.same((await at('2.26')).tags, ['a', 'b'], 'tags given at create, once each');
  t.notOk('original_name' in (await at('2.46')).flavor);
  const embedded = (await at('2.47')).flavor;
  t.match(embedded, { original_name: String, vcpus: Number, ram: Number, disk: Number, ephemeral: 0, swap: 0, extra_specs: { vm_type: 'docker' } });
  t.notOk('id' in embedded, 'no flavor id from 2.47');
  t.notOk('trusted_image_certificates' in (await at('2.62')));
  t.equal((await at('2.63')).trusted_image_certificates, null, 'none: they cannot be given');
  await call(demo, undefined, 'POST', `/servers/${id}/action`, { lock: null });
  t.equal((await at('2.9')).locked, true, 'locked follows the lock');
  await call(demo, undefined, 'POST', `/servers/${id}/action`, { unlock: null });
});

t.test('description and tags are refused before their versions; PUT changes the description from 2.19', async (t) => {
  t.equal((await call(demo, '2.18', 'POST', '/servers', { server: { name: 'x', flavorRef: flavor, description: 'd' } })).status, 400);
  t.equal((await call(demo, '2.51', 'POST', '/servers', { server: { name: 'x', flavorRef: flavor, tags: ['t'] } })).status, 400);
  const id = await boot(t, '2.1');
  t.equal((await call(demo, '2.18', 'PUT', `/servers/${id}`, { server: { description: 'd' } })).status, 400);
  const put = await call(demo, '2.19', 'PUT', `/servers/${id}`, { server: { description: 'new' } });
  t.match(put, { status: 200, body: { server: { description: 'new', locked: false } } });
  t.equal((await call(demo, '2.19', 'GET', `/servers/${id}`)).body.server.description, 'new', 'kept');
});

t.test('from 2.37 a create names its networks: auto is the project\'s, none cannot be', async (t) => {
  t.match(await call(demo, '2.37', 'POST', '/servers', { server: { name: 'x', flavorRef: flavor } }), { status: 400, body: { error: { message: /networks/ } } });
  t.equal((await call(demo, '2.37', 'POST', '/servers', { server: { name: 'x', flavorRef: flavor, networks: 'none' } })).status, 400);
  t.equal((await call(demo, '2.36', 'POST', '/servers', { server: { name: 'x', flavorRef: flavor, networks: 'auto' } })).status, 400, 'auto is not a value before 2.37');
  const id = await boot(t, '2.37', { networks: 'auto' });
  t.equal((await call(demo, '2.37', 'GET', `/servers/${id}`)).body.server.status, 'ACTIVE');
});

t.test('the tags API exists from 2.26, and lists filter by tags', async (t) => {
  const id = await boot(t, '2.1');
  t.equal((await call(demo, '2.25', 'GET', `/servers/${id}/tags`)).status, 404, 'no tags before 2.26');
  t.match(await call(demo, '2.26', 'PUT', `/servers/${id}/tags`, { tags: ['x', 'y'] }), { status: 200, body: { tags: ['x', 'y'] } });
  const added = await call(demo, '2.26', 'PUT', `/servers/${id}/tags/z`);
  t.equal(added.status, 201);
  t.match(added.headers.location, new RegExp(`/servers/${id}/tags/z$`));
  t.equal((await call(demo, '2.26', 'PUT', `/servers/${id}/tags/z`)).status, 204, 'a tag it has: 204');
  t.equal((await call(demo, '2.26', 'GET', `/servers/${id}/tags/z`)).status, 204);
  t.equal((await call(demo, '2.26', 'GET', `/servers/${id}/tags/w`)).status, 404);
  t.equal((await call(demo, '2.26', 'PUT', `/servers/${id}/tags`, { tags: ['a,b'] })).status, 400, 'no comma in a tag');
  t.equal((await call(demo, '2.26', 'PUT', `/servers/${id}/tags`, { tags: Array.from({ length: 51 }, (_, n) => `t${n}`) })).status, 400, 'at most 50');
  const ids = async (q: string) => (await call(demo, '2.26', 'GET', `/servers?${q}`)).body.servers.map((s: { id: string }) => s.id);
  t.same(await ids('tags=x,z'), [id]);
  t.same(await ids('tags=x,w'), []);
  t.same(await ids('tags-any=w,y'), [id]);
  t.same(await ids('not-tags-any=y'), []);
  t.same(await ids('not-tags=x,w'), [id]);
  t.equal((await call(demo, '2.26', 'DELETE', `/servers/${id}/tags/z`)).status, 204);
  t.same((await call(demo, '2.26', 'GET', `/servers/${id}/tags`)).body.tags, ['x', 'y']);
  t.equal((await call(demo, '2.26', 'DELETE', `/servers/${id}/tags`)).status, 204);
  t.same((await call(demo, '2.26', 'GET', `/servers/${id}`)).body.server.tags, []);
});

t.test('from 2.38 an unknown status filter is a 400; before, it matches nothing', async (t) => {
  t.same((await call(demo, '2.37', 'GET', '/servers?status=NOPE')).body.servers, []);
  t.equal((await call(demo, '2.38', 'GET', '/servers?status=NOPE')).status, 400);
  t.equal((await call(demo, '2.38', 'GET', '/servers?status=shutoff')).status, 200);
});

t.test('instance actions: a deleted server\'s from 2.21, updated_at and paging from 2.58, events from 2.51', async (t) => {
  const r = await call(demo, undefined, 'POST', '/servers', { server: { name: 'gone', flavorRef: flavor } });
  const id = r.body.server.id;
  await waitForState(demo, id, 'active');
  t.equal((await call(demo, undefined, 'DELETE', `/servers/${id}`)).status, 204);
  await waitFor('the server gone', async () => (await call(demo, undefined, 'GET', `/servers/${id}`)).status === 404);
  t.equal((await call(demo, '2.20', 'GET', `/servers/${id}/os-instance-actions`)).status, 404, 'gone before 2.21');
  const listed = (await call(demo, '2.21', 'GET', `/servers/${id}/os-instance-actions`)).body.instanceActions;
  t.same(listed.map((a: { action: string }) => a.action), ['delete', 'create']);
  t.notOk('updated_at' in listed[0]);
  const paged = await call(demo, '2.58', 'GET', `/servers/${id}/os-instance-actions?limit=1`);
  t.equal(paged.body.instanceActions.length, 1);
  t.match(paged.body.instanceActions[0], { action: 'delete', updated_at: String });
  t.match(paged.body.links, [{ rel: 'next' }]);
  const second = await call(demo, '2.58', 'GET', `/servers/${id}/os-instance-actions?marker=${paged.body.instanceActions[0].request_id}`);
  t.same(second.body.instanceActions.map((a: { action: string }) => a.action), ['create']);
  const reqId = second.body.instanceActions[0].request_id;
  t.notOk('events' in (await call(demo, '2.50', 'GET', `/servers/${id}/os-instance-actions/${reqId}`)).body.instanceAction);
  t.same((await call(demo, '2.51', 'GET', `/servers/${id}/os-instance-actions/${reqId}`)).body.instanceAction.events, []);
});

t.test('limits lose maxImageMeta at 2.39', async (t) => {
  t.ok('maxImageMeta' in (await call(demo, '2.38', 'GET', '/limits')).body.limits.absolute);
  t.notOk('maxImageMeta' in (await call(demo, '2.39', 'GET', '/limits')).body.limits.absolute);
});

t.test('keypairs page from 2.35; an admin names another user from 2.10', async (t) => {
  for (const name of ['kb', 'ka', 'kc']) {
    t.equal((await call(demo, '2.2', 'POST', '/os-keypairs', { keypair: { name } })).status, 201);
    t.teardown(async () => void await call(demo, undefined, 'DELETE', `/os-keypairs/${name}`));
  }
  const names = (r: { body: { keypairs: { keypair: { name: string } }[] } }) => r.body.keypairs.map((k) => k.keypair.name);
  t.same(names(await call(demo, '2.34', 'GET', '/os-keypairs?limit=1')), ['ka', 'kb', 'kc'], 'no paging before 2.35');
  const first = await call(demo, '2.35', 'GET', '/os-keypairs?limit=2');
  t.same(names(first), ['ka', 'kb']);
  t.match(first.body.keypairs_links, [{ rel: 'next', href: /marker=kb/ }]);
  t.same(names(await call(demo, '2.35', 'GET', '/os-keypairs?marker=kb')), ['kc']);
  const demoId = (await call(demo, '2.10', 'GET', '/os-keypairs/ka')).body.keypair.user_id;
  t.same(names(await call(admin, '2.10', 'GET', `/os-keypairs?user_id=${demoId}`)), ['ka', 'kb', 'kc'], 'an admin lists the user\'s');
  t.equal((await call(demo, '2.10', 'GET', '/os-keypairs?user_id=someone-else')).status, 403);
});

t.test('a flavor has a description from 2.55, which an admin sets with PUT', async (t) => {
  t.notOk('description' in (await call(demo, '2.54', 'GET', `/flavors/${flavor}`)).body.flavor);
  t.equal((await call(demo, '2.55', 'GET', `/flavors/${flavor}`)).body.flavor.description, null);
  t.equal((await call(admin, '2.54', 'PUT', `/flavors/${flavor}`, { flavor: { description: 'x' } })).status, 404, 'no PUT before 2.55');
  t.equal((await call(demo, '2.55', 'PUT', `/flavors/${flavor}`, { flavor: { description: 'x' } })).status, 403);
  t.match(await call(admin, '2.55', 'PUT', `/flavors/${flavor}`, { flavor: { description: 'small box' } }), { status: 200, body: { flavor: { description: 'small box' } } });
  t.equal((await call(demo, '2.55', 'GET', '/flavors')).body.flavors.find((f: { id: string }) => f.id === flavor).description, 'small box', 'in lists too');
  t.teardown(async () => void await call(admin, '2.55', 'PUT', `/flavors/${flavor}`, { flavor: { description: null } }));
});

t.test('admins see the extended attributes from 2.3 and host_status from 2.16', async (t) => {
  const mine = await boot(t, '2.1', { user_data: 'aGVsbG8=' });
  t.notOk('OS-EXT-SRV-ATTR:user_data' in ((await call(demo, '2.3', 'GET', `/servers/${mine}`)).body.server), 'not for a member');
  const id = await boot(t, '2.1', { user_data: 'aGVsbG8=' }, admin);
  const at = async (v: string) => (await call(admin, v, 'GET', `/servers/${id}`)).body.server;
  t.notOk('OS-EXT-SRV-ATTR:user_data' in (await at('2.2')));
  t.match(await at('2.3'), { 'OS-EXT-SRV-ATTR:user_data': 'aGVsbG8=', 'OS-EXT-SRV-ATTR:hostname': id, 'OS-EXT-SRV-ATTR:launch_index': 0, 'OS-EXT-SRV-ATTR:reservation_id': /^r-/ });
  t.notOk('host_status' in (await at('2.15')));
  t.equal((await at('2.16')).host_status, 'UP');
});

t.test('a volume attach with a tag is refused before 2.49 and from it (no tagged attach here)', async (t) => {
  const id = await boot(t, '2.1');
  const attach = (v: string, extra: Record<string, unknown>) => call(demo, v, 'POST', `/servers/${id}/os-volume_attachments`, { volumeAttachment: { volumeId: '00000000-0000-4000-8000-000000000000', ...extra } });
  t.match(await attach('2.48', { tag: 'disk1' }), { status: 400, body: { error: { message: /2\.49/ } } });
  t.match(await attach('2.49', { tag: 'disk1' }), { status: 400, body: { error: { message: /tagged volume attach is not supported/ } } });
  t.match(await attach('2.60', { delete_on_termination: true }), { status: 400, body: { error: { message: /2\.79/ } } });
  t.equal((await attach('2.60', {})).status, 404, 'without them, the volume is looked up');
});

t.test('trusted image certificates are refused: not in the schema before 2.63, not verified here from it', async (t) => {
  const create = (v: string) => call(demo, v, 'POST', '/servers', { server: { name: 'x', flavorRef: flavor, networks: 'auto', trusted_image_certificates: ['c1'] } });
  t.match(await create('2.62'), { status: 400, body: { error: { message: /2\.63/ } } });
  t.match(await create('2.63'), { status: 400, body: { error: { message: /not verified/ } } });
});

t.test('a flavor shows its extra specs from 2.61', async (t) => {
  t.notOk('extra_specs' in (await call(demo, '2.60', 'GET', `/flavors/${flavor}`)).body.flavor);
  t.same((await call(demo, '2.61', 'GET', `/flavors/${flavor}`)).body.flavor.extra_specs, { vm_type: 'docker', fw_type: 'legacy' });
  t.notOk('extra_specs' in (await call(demo, '2.61', 'GET', '/flavors')).body.flavors[0], 'not in the summary list');
});

t.test('from 2.64 a server group has policy and rules, not policies and metadata', async (t) => {
  const make = (v: string, group: Record<string, unknown>) => call(demo, v, 'POST', '/os-server-groups', { server_group: { name: 'g', ...group } });
  t.equal((await make('2.63', { policy: 'affinity' })).status, 400, 'policy is 2.64');
  t.equal((await make('2.64', { policies: ['affinity'] })).status, 400, 'policies is before 2.64');
  t.equal((await make('2.64', { policy: 'anti-affinity', rules: { max_server_per_host: 2 } })).status, 400, 'no rules kept');
  const g = await make('2.64', { policy: 'anti-affinity', rules: {} });
  t.equal(g.status, 200);
  t.teardown(async () => void await call(demo, undefined, 'DELETE', `/os-server-groups/${g.body.server_group.id}`));
  t.same(Object.keys(g.body.server_group).sort(), ['id', 'members', 'name', 'policy', 'project_id', 'rules', 'user_id']);
  t.match(g.body.server_group, { policy: 'anti-affinity', rules: {} });
  t.match((await call(demo, '2.63', 'GET', `/os-server-groups/${g.body.server_group.id}`)).body.server_group, { policies: ['anti-affinity'], metadata: {} });
});

t.test('personality up to 2.56 (kept for the node, 403 over the quotas), refused from 2.57; OS-DCF:diskConfig kept through create and update', async (t) => {
  const file = { path: '/etc/x.txt', contents: Buffer.from('x').toString('base64') };
  const id = await boot(t, '2.56', { personality: [file], 'OS-DCF:diskConfig': 'AUTO', networks: 'auto' });
  const onNode = (await plane.backends[0].list()).find((x) => x.spec.instanceId === id);
  t.same(onNode?.spec.files, [file], 'the node was given the files in START');
  const show = async () => (await call(demo, '2.56', 'GET', `/servers/${id}`)).body.server;
  t.equal((await show())['OS-DCF:diskConfig'], 'AUTO');
  t.equal((await call(demo, '2.56', 'PUT', `/servers/${id}`, { server: { 'OS-DCF:diskConfig': 'MANUAL' } })).body.server['OS-DCF:diskConfig'], 'MANUAL');
  t.equal((await show())['OS-DCF:diskConfig'], 'MANUAL', 'an update changes it');
  t.match(await call(demo, '2.57', 'POST', '/servers', { server: { name: 'p', flavorRef: flavor, networks: 'auto', personality: [file] } }), { status: 400, body: { error: { message: /2\.57/ } } });
  const six = Array.from({ length: 6 }, (_, n) => ({ path: `/f${n}`, contents: '' }));
  t.equal((await call(demo, '2.1', 'POST', '/servers', { server: { name: 'p', flavorRef: flavor, personality: six } })).status, 403, 'more files than injected_files');
  t.equal((await call(demo, '2.1', 'POST', '/servers', { server: { name: 'p', flavorRef: flavor, personality: [{ path: '/a', contents: 'not base64!' }] } })).status, 400);
  t.match((await call(demo, '2.56', 'GET', '/limits')).body.limits.absolute, { maxPersonality: 5, maxPersonalitySize: 10_240 });
  t.notOk('maxPersonality' in (await call(demo, '2.57', 'GET', '/limits')).body.limits.absolute, 'gone at 2.57');
});
