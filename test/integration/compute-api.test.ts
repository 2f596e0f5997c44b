// The Compute v2.1 API over an in-process control plane: views at microversion 2.1, list filters
// and paging, rename, metadata, validation, tenant isolation, and what survives a restart.
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { startControlPlane } from '../helpers/control-plane.ts';
import { eventMark, events, waitForEvent, waitForState, workloadId } from '../helpers/api-waits.ts';
import { waitFor } from '../../shared/wait-for.ts';
import type { ControllerClient } from '../../shared/controller-client.ts';
import type { Instance } from '../../controller/api-types.ts';

const plane = await startControlPlane({ nodes: 1 });
t.teardown(() => plane.close());
const { demo, other, admin } = plane;
const users: { id: string; name: string }[] = JSON.parse(readFileSync(join(plane.dir, 'identity.json'), 'utf8')).users;
const userId = (name: string) => users.find((u) => u.name === name)!.id;

/** A compute call that returns status and body, whatever the status. */
const call = async (c: ControllerClient, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
  const res = await request(`${plane.controllerUrl}/v2.1${path}`, {
    method: method as 'GET', dispatcher: plane.dispatcher, body: body === undefined ? undefined : JSON.stringify(body),
    headers: { 'x-auth-token': await c.authToken(), 'content-type': 'application/json', ...headers },
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : undefined, requestId: String(res.headers['x-compute-request-id']) };
};
type Server = Record<string, unknown> & { id: string; name: string };
const vmFlavor = await workloadId(demo, 'qemu');
const containerFlavor = await workloadId(demo, 'docker');
const imageId = (await call(demo, 'GET', '/flavors')).status === 200
  ? ((await admin.call<{ images: { id: string }[] }>('GET', '/image/v2/images')).images[0].id) : '';

/** A server made for test `t` and deleted after it (a VM unless the flavor says otherwise). */
async function boot(t: Test, c: ControllerClient, server: Record<string, unknown>): Promise<Server> {
  const vm = (server.flavorRef ?? vmFlavor) === vmFlavor;
  const r = await call(c, 'POST', '/servers', { server: { flavorRef: vmFlavor, ...(vm ? { imageRef: imageId } : {}), ...server } });
  if (r.status !== 202) throw new Error(`create answered ${r.status}: ${JSON.stringify(r.body)}`);
  t.teardown(async () => void await call(c, 'DELETE', `/servers/${r.body.server.id}`));
  await waitForState(c, r.body.server.id, 'active');
  return r.body.server;
}
const show = async (c: ControllerClient, id: string): Promise<Server> => (await call(c, 'GET', `/servers/${id}`)).body.server;
/** A keypair of the user's, for a server's key_name (an unknown one is Nova's 400). */
async function keypair(t: Test, c: ControllerClient, name: string) {
  t.equal((await call(c, 'POST', '/os-keypairs', { keypair: { name } })).status, 200, `keypair ${name} made`);
  t.teardown(async () => void await call(c, 'DELETE', `/os-keypairs/${name}`));
}

t.test('a server keeps its creator, metadata, access addresses and key name, and shows them', async (t) => {
  await keypair(t, demo, 'k1');
  const created = await boot(t, demo, { name: 'kept', metadata: { hello: 'world' }, accessIPv4: '1.1.1.1', accessIPv6: '0000:0000:0000:0000:0000:babe:220.12.22.2', key_name: 'k1', adminPass: 'secret-pw' });
  t.equal(created.adminPass, 'secret-pw', 'the given password is answered once');
  const s = await show(demo, created.id);
  t.match(s, { name: 'kept', user_id: userId('demo'), metadata: { hello: 'world' }, accessIPv4: '1.1.1.1', accessIPv6: '::babe:dc0c:1602', key_name: 'k1', status: 'ACTIVE' });
  const generated = (await call(demo, 'POST', '/servers', { server: { name: 'gen', flavorRef: containerFlavor } })).body.server;
  t.match(generated.adminPass, /^[\w-]{12}$/, 'a password is generated when none is given');
  await call(demo, 'DELETE', `/servers/${generated.id}`);
});

t.test('views have exactly the fields of microversion 2.1', async (t) => {
  const flavors = (await call(demo, 'GET', '/flavors/detail')).body.flavors;
  t.ok(flavors.length >= 2);
  for (const f of flavors) {
    t.same(Object.keys(f).sort(), ['OS-FLV-DISABLED:disabled', 'OS-FLV-EXT-DATA:ephemeral', 'disk', 'id', 'links', 'name', 'os-flavor-access:is_public', 'ram', 'rxtx_factor', 'swap', 'vcpus']);
  }
  t.same(Object.keys((await call(demo, 'GET', '/flavors')).body.flavors[0]).sort(), ['id', 'links', 'name']);
  const s = await boot(t, demo, { name: 'fields' });
  const member = await show(demo, s.id);
  t.notOk('OS-EXT-SRV-ATTR:host' in member, 'the host is for admins');
  t.equal(member['OS-EXT-STS:vm_state'], 'active');
  t.same(Object.keys((await call(demo, 'GET', '/servers')).body.servers[0]).sort(), ['id', 'links', 'name']);
  const later = await call(demo, 'GET', '/servers', undefined, { 'OpenStack-API-Version': 'compute 2.65' });
  t.equal(later.status, 406, 'no version beyond 2.64 is claimed');
});

t.test('flavor filters, sort and paging', async (t) => {
  const all = (await call(demo, 'GET', '/flavors/detail')).body.flavors as { id: string; ram: number; disk: number }[];
  t.same(all.map((f) => f.id), [...all.map((f) => f.id)].sort(), 'by id, as Nova');
  const big = Math.max(...all.map((f) => f.ram));
  t.same((await call(demo, 'GET', `/flavors?minRam=${big}`)).body.flavors.map((f: { id: string }) => f.id), all.filter((f) => f.ram >= big).map((f) => f.id));
  const maxDisk = Math.max(...all.map((f) => f.disk));
  t.same((await call(demo, 'GET', `/flavors/detail?minDisk=${maxDisk + 1}`)).body.flavors, []);
  const first = await call(demo, 'GET', '/flavors?limit=1');
  t.equal(first.body.flavors.length, 1);
  t.match(first.body.flavors_links, [{ rel: 'next', href: new RegExp(`marker=${all[0].id}`) }]);
  t.same((await call(demo, 'GET', `/flavors?marker=${all[0].id}`)).body.flavors.map((f: { id: string }) => f.id), all.slice(1).map((f) => f.id));
  t.equal((await call(demo, 'GET', '/flavors?marker=nope')).status, 400);
  t.equal((await call(demo, 'GET', '/flavors?minRam=-1')).status, 400);
});

t.test('server list filters and paging', async (t) => {
  const a = await boot(t, demo, { name: 'filter-alpha-1' });
  const b = await boot(t, demo, { name: 'filter-beta-2', flavorRef: containerFlavor });
  const ids = async (query: string) => (await call(demo, 'GET', `/servers${query}`)).body.servers.map((s: Server) => s.id);
  t.same(await ids('?name=filter-alpha'), [a.id]);
  t.same((await ids('?name=^filter-.*-[0-9]$')).sort(), [a.id, b.id].sort(), 'name is a regular expression');
  t.same(await ids(`?flavor=${containerFlavor}&name=filter`), [b.id]);
  t.same(await ids(`?image=${imageId}&name=filter`), [a.id]);
  t.ok((await ids('?status=active')).includes(a.id));
  t.same(await ids('?status=shutoff'), []);
  t.same(await ids('?status=no_such_status'), [], 'an unknown status lists nothing at 2.1');
  t.same(await ids('?changes-since=2051-01-01T12:34:00Z'), []);
  t.equal((await call(demo, 'GET', '/servers?changes-since=2011/01/01')).status, 400);
  t.equal((await call(demo, 'GET', '/servers?limit=testing')).status, 400);
  t.equal((await call(demo, 'GET', '/servers?limit=-1')).status, 400);
  t.equal((await call(demo, 'GET', '/servers?name=(')).status, 400, 'a broken pattern is a 400');
  t.same(await ids('?limit=0'), []);
  const one = await call(demo, 'GET', '/servers?limit=1');
  t.equal(one.body.servers.length, 1);
  const next = new URL(one.body.servers_links[0].href);
  const rest = await ids(`?marker=${next.searchParams.get('marker')}`);
  t.same([one.body.servers[0].id, ...rest], await ids(''), 'the pages make the whole list');
  const filtered = new URL((await call(demo, 'GET', '/servers?name=filter&limit=1')).body.servers_links[0].href);
  t.same([filtered.searchParams.get('name'), filtered.searchParams.get('limit')], ['filter', '1'], 'the next link keeps the filters');
  t.same(await ids(`${filtered.search}`), [b.id, a.id].slice(1), 'and its page follows the first');
  t.same((await call(demo, 'GET', '/servers/detail?limit=1')).body.servers.length, 1);
  t.notOk((await ids('?all_tenants=1')).length > (await ids('')).length, 'all_tenants is for admins only');
  const everyone = (await call(admin, 'GET', '/servers/detail?all_tenants=1')).body.servers as Server[];
  t.ok(everyone.some((s) => s.id === a.id), 'an admin lists every project with all_tenants');
  t.ok('OS-EXT-SRV-ATTR:host' in everyone[0], 'and sees the hosts');
});

t.test('PUT renames and sets the access addresses; bad input is 400', async (t) => {
  const s = await boot(t, demo, { name: 'before' });
  const r = await call(demo, 'PUT', `/servers/${s.id}`, { server: { name: 'Íñstáñcé', accessIPv4: '2.2.2.2', accessIPv6: '::babe:202:202' } });
  t.equal(r.status, 200);
  t.match(r.body.server, { name: 'Íñstáñcé', accessIPv4: '2.2.2.2' });
  t.notOk('key_name' in r.body.server, 'the update view is the common one');
  t.match(await show(demo, s.id), { name: 'Íñstáñcé', accessIPv4: '2.2.2.2', accessIPv6: '::babe:202:202' });
  t.equal((await call(demo, 'PUT', `/servers/${s.id}`, { server: { name: '' } })).status, 400);
  t.equal((await call(demo, 'PUT', `/servers/${s.id}`, { server: { name: 'a'.repeat(256) } })).status, 400);
  t.equal((await call(demo, 'PUT', `/servers/${s.id}`, { server: { accessIPv4: '1.1.1.1.1' } })).status, 400);
  t.equal((await show(demo, s.id)).name, 'Íñstáñcé', 'nothing changed');
});

t.test('metadata: replace, merge, one key, delete, limits', async (t) => {
  const s = await boot(t, demo, { name: 'meta', metadata: { a: '1' } });
  const path = `/servers/${s.id}/metadata`;
  t.same((await call(demo, 'GET', path)).body, { metadata: { a: '1' } });
  t.same((await call(demo, 'POST', path, { metadata: { b: '2' } })).body, { metadata: { a: '1', b: '2' } });
  t.same((await call(demo, 'PUT', path, { metadata: { c: '3' } })).body, { metadata: { c: '3' } });
  t.same((await call(demo, 'PUT', `${path}/d`, { meta: { d: '4' } })).body, { meta: { d: '4' } });
  t.same((await call(demo, 'GET', `${path}/d`)).body, { meta: { d: '4' } });
  t.equal((await call(demo, 'PUT', `${path}/d`, { meta: { e: '5' } })).status, 400, 'the key must be the URL\'s');
  t.equal((await call(demo, 'DELETE', `${path}/d`)).status, 204);
  t.equal((await call(demo, 'GET', `${path}/d`)).status, 404);
  t.equal((await call(demo, 'DELETE', `${path}/d`)).status, 404);
  t.equal((await call(demo, 'PUT', path, { metadata: { '': 'x' } })).status, 400);
  t.equal((await call(demo, 'PUT', path, JSON.parse('{"metadata": {"__proto__": "x"}}'))).status, 400, 'a key that cannot be kept is refused, not dropped');
  t.equal((await call(demo, 'PUT', path, { meta: { a: 'x' } })).status, 400, 'the body must say metadata');
  const many = Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`k${i}`, 'v']));
  t.equal((await call(demo, 'PUT', path, { metadata: many })).status, 403);
  t.same((await call(demo, 'GET', path)).body, { metadata: { c: '3' } });
  t.equal((await call(demo, 'GET', '/servers/00000000-0000-4000-8000-000000000000/metadata')).status, 404);
});

t.test('create is validated: 400s, never a 500', async (t) => {
  const bad = async (server: Record<string, unknown>) => (await call(demo, 'POST', '/servers', { server: { name: 'x', flavorRef: vmFlavor, imageRef: imageId, ...server } })).status;
  for (const [why, server] of Object.entries({
    'blank name': { name: '' }, 'numeric name': { name: 12345 }, 'long name': { name: 'a'.repeat(256) }, '4-byte character': { name: 'a\u{1F600}' },
    'unknown flavor': { flavorRef: '-1' }, 'unknown image': { imageRef: '-1' }, 'bad IPv4': { accessIPv4: '1.1.1.1.1.1' }, 'bad IPv6': { accessIPv6: 'notvalid' },
    'long metadata key': { metadata: { ['k'.repeat(256)]: 'v' } }, 'blank metadata key': { metadata: { '': 'v' } }, 'long metadata value': { metadata: { a: 'b'.repeat(260) } },
    'min_count 0': { min_count: 0 }, 'min_count 2.5': { min_count: 2.5 }, 'max_count 0': { max_count: 0 }, 'max below min': { min_count: 3, max_count: 2 },
    'a network': { networks: [{ uuid: 'a-b-c-d-e-f-g-h-i-j' }] }, 'unknown security group': { security_groups: [{ name: 'does_not_exist' }] },
    'unknown field': { flavour: 'x' },
  })) t.equal(await bad(server), 400, why);
  t.equal((await call(demo, 'GET', '/servers?name=^x$')).body.servers.length, 0, 'nothing was made');
});

t.test('multiple create: max_count servers, or a reservation id when asked', async (t) => {
  const r = await call(demo, 'POST', '/servers', { server: { name: 'multi', flavorRef: containerFlavor, min_count: 1, max_count: 2, return_reservation_id: true } });
  t.equal(r.status, 202);
  t.match(r.body, { reservation_id: /^r-/ });
  t.notOk('server' in r.body);
  const made = (await call(demo, 'GET', `/servers?reservation_id=${r.body.reservation_id}`)).body.servers as Server[];
  t.equal(made.length, 2);
  for (const s of made) await call(demo, 'DELETE', `/servers/${s.id}`);
});

t.test('ips: the addresses by network', async (t) => {
  const s = await boot(t, demo, { name: 'ips' });
  const { addresses } = (await call(demo, 'GET', `/servers/${s.id}/ips`)).body;
  const [network] = Object.keys(addresses);
  t.match(addresses[network], [{ version: 4, addr: /^\d+\.\d+\.\d+\.\d+$/ }]);
  t.same((await call(demo, 'GET', `/servers/${s.id}/ips/${network}`)).body, { [network]: addresses[network] });
  t.equal((await call(demo, 'GET', `/servers/${s.id}/ips/invalid`)).status, 404);
});

t.test('another tenant can neither see nor change my server', async (t) => {
  const s = await boot(t, demo, { name: 'private', metadata: { mine: 'yes' } });
  t.notOk((await call(other, 'GET', '/servers')).body.servers.some((x: Server) => x.id === s.id));
  t.equal((await call(other, 'GET', `/servers/${s.id}`)).status, 404);
  t.equal((await call(other, 'PUT', `/servers/${s.id}`, { server: { name: 'stolen' } })).status, 404);
  t.equal((await call(other, 'GET', `/servers/${s.id}/metadata`)).status, 404);
  t.equal((await call(other, 'PUT', `/servers/${s.id}/metadata/mine`, { meta: { mine: 'no' } })).status, 404);
  t.equal((await call(other, 'DELETE', `/servers/${s.id}`)).status, 404);
  t.match(await show(demo, s.id), { name: 'private', metadata: { mine: 'yes' } });
});

t.test('what a client set survives a controller restart', async (t) => {
  await keypair(t, demo, 'kk');
  const s = await boot(t, demo, { name: 'durable', metadata: { k: 'v' }, accessIPv6: '2001:2001::3', key_name: 'kk' });
  await call(demo, 'PUT', `/servers/${s.id}`, { server: { name: 'durable-2' } });
  await plane.restartController();
  t.match(await show(demo, s.id), { name: 'durable-2', metadata: { k: 'v' }, accessIPv6: '2001:2001::3', key_name: 'kk', user_id: userId('demo') });
});

t.test('lock refuses the owner\'s stop, delete and metadata changes until unlock; an admin\'s lock only an admin lifts', async (t) => {
  const s = await boot(t, demo, { name: 'locked' });
  const action = (c: ControllerClient, body: unknown) => call(c, 'POST', `/servers/${s.id}/action`, body);
  t.equal((await action(demo, { lock: null })).status, 202);
  t.equal((await action(demo, { 'os-stop': null })).status, 409);
  t.equal((await call(demo, 'DELETE', `/servers/${s.id}`)).status, 409);
  t.equal((await call(demo, 'PUT', `/servers/${s.id}/metadata`, { metadata: { a: 'b' } })).status, 409);
  t.equal((await show(demo, s.id)).status, 'ACTIVE', 'still running');
  await plane.restartController();
  t.equal((await action(demo, { 'os-stop': null })).status, 409, 'the lock is kept across a restart');
  t.equal((await action(demo, { unlock: null })).status, 202);
  t.equal((await action(demo, { 'os-stop': null })).status, 202);
  await waitForState(demo, s.id, 'exited');
  t.equal((await show(demo, s.id)).status, 'SHUTOFF');
});

t.test('actions: 404 for a server that is not mine, 409 for what is not so, 400 for what is not done here', async (t) => {
  const s = await boot(t, demo, { name: 'acts' });
  const missing = '00000000-0000-4000-8000-000000000000';
  for (const a of ['reboot', 'pause', 'forceDelete', 'lock']) t.equal((await call(demo, 'POST', `/servers/${missing}/action`, { [a]: null })).status, 404, a);
  t.equal((await call(other, 'POST', `/servers/${s.id}/action`, { lock: null })).status, 404);
  for (const a of ['unpause', 'resume', 'unrescue', 'restore', 'forceDelete']) t.equal((await call(demo, 'POST', `/servers/${s.id}/action`, { [a]: null })).status, 409, a);
  t.equal((await call(demo, 'POST', `/servers/${s.id}/action`, { 'os-migrateLive': null })).status, 400, 'live migration is not done here (one node)');
  t.equal((await call(demo, 'POST', `/servers/${s.id}/action`, { 'os-stop': null, 'os-start': null })).status, 400);
  t.equal((await show(demo, s.id)).status, 'ACTIVE');
});

t.test('reboot: the node boots the guest again while it stays active (REBOOT/HARD_REBOOT meanwhile); soft needs a running server, hard starts a stopped one', async (t) => {
  const s = await boot(t, demo, { name: 'reboot' });
  const action = (body: unknown) => call(demo, 'POST', `/servers/${s.id}/action`, body);
  const mark = await eventMark(demo);
  t.equal((await action({ reboot: { type: 'HARD' } })).status, 202);
  t.match((await show(demo, s.id)).status, /^(HARD_REBOOT|ACTIVE)$/);
  await waitForEvent(demo, new RegExp(`^Rebooting ${s.id} \\(hard\\)`), { after: mark });
  await waitFor('the reboot to end', async () => (await show(demo, s.id)).status === 'ACTIVE');
  t.notOk((await events(demo)).some((e) => !mark.has(e.id) && e.message.startsWith(`Stopped ${s.id}`)), 'a reboot is not a stop');
  t.equal((await action({ reboot: { type: 'FAST' } })).status, 400);
  t.equal((await action({ 'os-stop': null })).status, 202);
  await waitForState(demo, s.id, 'exited');
  t.equal((await action({ reboot: { type: 'SOFT' } })).status, 409);
  t.equal((await action({ reboot: { type: 'HARD' } })).status, 202);
  await waitForState(demo, s.id, 'active');
  await waitFor('the reboot to end', async () => (await show(demo, s.id)).status === 'ACTIVE');
});

t.test('pause and unpause: PAUSED (power state 3) between, 409 from the wrong state, refused while locked', async (t) => {
  const s = await boot(t, demo, { name: 'pause' });
  const action = (body: unknown) => call(demo, 'POST', `/servers/${s.id}/action`, body);
  t.equal((await action({ unpause: null })).status, 409, 'an active server is not paused');
  t.equal((await action({ pause: null })).status, 202);
  const paused = await waitFor('PAUSED', async () => { const v = await show(demo, s.id); return v.status === 'PAUSED' && v; });
  t.match(paused, { 'OS-EXT-STS:vm_state': 'paused', 'OS-EXT-STS:power_state': 3 });
  t.equal((await action({ pause: null })).status, 409, 'a paused server cannot be paused');
  t.equal((await action({ 'os-stop': null })).status, 409, 'nor stopped');
  t.equal((await action({ lock: null })).status, 202);
  t.equal((await action({ unpause: null })).status, 409, 'locked: the owner cannot unpause');
  t.equal((await action({ unlock: null })).status, 202);
  t.equal((await action({ unpause: null })).status, 202);
  await waitFor('ACTIVE again', async () => (await show(demo, s.id)).status === 'ACTIVE');
});

t.test('suspend and resume: SUSPENDED (power state 7) between, 409 from the wrong state, a suspended server deletes; a container is 409', async (t) => {
  const s = await boot(t, demo, { name: 'suspend' });
  const action = (body: unknown) => call(demo, 'POST', `/servers/${s.id}/action`, body);
  t.equal((await action({ resume: null })).status, 409, 'an active server is not suspended');
  t.equal((await action({ suspend: null })).status, 202);
  const suspended = await waitFor('SUSPENDED', async () => { const v = await show(demo, s.id); return v.status === 'SUSPENDED' && v; });
  t.match(suspended, { 'OS-EXT-STS:vm_state': 'suspended', 'OS-EXT-STS:power_state': 7 });
  for (const a of [{ suspend: null }, { pause: null }, { 'os-stop': null }, { reboot: { type: 'SOFT' } }]) t.equal((await action(a)).status, 409, `${Object.keys(a)[0]} of a suspended server`);
  t.equal((await action({ resume: null })).status, 202);
  await waitFor('ACTIVE again', async () => (await show(demo, s.id)).status === 'ACTIVE');
  t.equal((await action({ suspend: null })).status, 202);
  await waitFor('SUSPENDED again', async () => (await show(demo, s.id)).status === 'SUSPENDED');
  t.equal((await call(demo, 'DELETE', `/servers/${s.id}`)).status, 204);
  await waitFor('the suspended server gone', async () => (await call(demo, 'GET', `/servers/${s.id}`)).status === 404);

  const c = await boot(t, demo, { name: 'container', flavorRef: containerFlavor });
  const refused = await call(demo, 'POST', `/servers/${c.id}/action`, { suspend: null });
  t.equal(refused.status, 409);
  t.match(JSON.stringify(refused.body), /a container cannot be suspended/);
});

t.test('rebuild: the node makes the disk again from the new image (REBUILD meanwhile); same id, MAC and address; a stopped server stays SHUTOFF; wrong state 409, bad body 400', async (t) => {
  const s = await boot(t, demo, { name: 'rebuild' });
  const before = await show(demo, s.id);
  const alt = await demo.call<{ id: string }>('POST', '/image/v2/images', { name: 'alt', disk_format: 'raw', container_format: 'bare' });
  const action = (body: unknown) => call(demo, 'POST', `/servers/${s.id}/action`, body);
  const ciao = async () => demo.call<Instance>('GET', `/tenants/${await demo.tenantId()}/instances/${s.id}`);
  const onNode = () => {
    const node = plane.launchers.findIndex((l) => l.id === nodeOf);
    return plane.backends[node].list().then((all) => all.find((i) => i.spec.instanceId === s.id)?.spec.image);
  };
  const nodeOf = (await ciao()).node_id;
  t.equal((await action({ rebuild: {} })).status, 400, 'imageRef is needed');
  t.equal((await action({ rebuild: { imageRef: '-1' } })).status, 400, 'an unknown image is 400');
  t.equal((await action({ rebuild: { imageRef: alt.id, flavorRef: 'x' } })).status, 400, 'an unknown field is 400');
  const r = await action({ rebuild: { imageRef: alt.id, name: 'rebuilt', metadata: { k: 'v' }, adminPass: 'pw' } });
  t.equal(r.status, 202);
  t.match(r.body.server, { id: s.id, name: 'rebuilt', image: { id: alt.id }, metadata: { k: 'v' }, adminPass: 'pw' });
  t.equal((await action({ rebuild: { imageRef: alt.id } })).status, 409, 'a second rebuild while one runs');
  await waitFor('ACTIVE after the rebuild', async () => (await show(demo, s.id)).status === 'ACTIVE');
  const after = await show(demo, s.id);
  t.same(after.addresses, before.addresses, 'same address and MAC');
  t.equal(await onNode(), alt.id, 'the node boots the new image');
  await waitForEvent(demo, new RegExp(`^Rebuilt ${s.id}$`));

  t.equal((await action({ 'os-stop': null })).status, 202);
  await waitForState(demo, s.id, 'exited');
  t.equal((await action({ rebuild: { imageRef: imageId } })).status, 202);
  await waitForEvent(demo, new RegExp(`^Rebuilt ${s.id} \\(stopped\\)`));
  t.equal((await show(demo, s.id)).status, 'SHUTOFF', 'rebuilt from stopped: stopped');
  t.equal(await onNode(), imageId);
  t.equal((await action({ 'os-start': null })).status, 202);
  await waitForState(demo, s.id, 'active');
  t.equal((await action({ pause: null })).status, 202);
  await waitForState(demo, s.id, 'paused');
  t.equal((await action({ rebuild: { imageRef: alt.id } })).status, 409, 'a paused server is not rebuilt');
  t.equal((await call(demo, 'DELETE', `/servers/${s.id}`)).status, 204);
  await waitFor('the server gone', async () => (await call(demo, 'GET', `/servers/${s.id}`)).status === 404);
  await demo.call('DELETE', `/image/v2/images/${alt.id}`);
});

t.test('an image whose min_ram or min_disk the flavor does not hold is refused with 400, as Nova does', async (t) => {
  const flavor = (await call(demo, 'GET', `/flavors/${vmFlavor}`)).body.flavor;
  const image = async (need: object) => {
    const made = await demo.call<{ id: string }>('POST', '/image/v2/images', { name: 'needy', disk_format: 'raw', container_format: 'bare', ...need });
    t.teardown(() => demo.call('DELETE', `/image/v2/images/${made.id}`));
    return made.id;
  };
  const create = (imageRef: string) => call(demo, 'POST', '/servers', { server: { name: 'needy', flavorRef: vmFlavor, imageRef } });
  const lowRam = await create(await image({ min_ram: flavor.ram + 1 }));
  t.equal(lowRam.status, 400);
  t.match(JSON.stringify(lowRam.body), /min_ram/);
  if (flavor.disk > 0) {
    const lowDisk = await create(await image({ min_disk: flavor.disk + 1 }));
    t.equal(lowDisk.status, 400);
    t.match(JSON.stringify(lowDisk.body), /min_disk/);
  } else t.fail(`the VM flavor has a disk (${flavor.disk} GB)`);
  const fits = await create(await image({ min_ram: flavor.ram, min_disk: flavor.disk }));
  t.equal(fits.status, 202, 'an image the flavor holds exactly boots');
  await call(demo, 'DELETE', `/servers/${fits.body.server.id}`);
  await waitFor('the server gone, and its image free', async () => (await call(demo, 'GET', `/servers/${fits.body.server.id}`)).status === 404);
});

t.test('a flavor\'s extra specs are its workload\'s machine type and firmware until an admin sets some; a member cannot', async (t) => {
  t.match((await call(demo, 'GET', `/flavors/${vmFlavor}/os-extra_specs`)).body, { extra_specs: { vm_type: 'qemu', fw_type: /^(legacy|efi)$/ } });
  t.same((await call(demo, 'GET', `/flavors/${containerFlavor}/os-extra_specs/vm_type`)).body, { vm_type: 'docker' });
  t.equal((await call(demo, 'GET', `/flavors/${vmFlavor}/os-extra_specs/nope`)).status, 404);
  t.equal((await call(demo, 'POST', `/flavors/${vmFlavor}/os-extra_specs`, { extra_specs: { a: 'b' } })).status, 403);
});

t.test('instance actions: what was asked of a server, by whom, under which request id', async (t) => {
  const r = await call(demo, 'POST', '/servers', { server: { name: 'acted', flavorRef: containerFlavor } });
  const id = r.body.server.id;
  t.teardown(async () => void await call(demo, 'DELETE', `/servers/${id}`));
  await waitForState(demo, id, 'active');
  const stop = await call(demo, 'POST', `/servers/${id}/action`, { 'os-stop': null });
  await call(demo, 'POST', `/servers/${id}/action`, { unpause: null });
  const { instanceActions } = (await call(demo, 'GET', `/servers/${id}/os-instance-actions`)).body;
  t.match(instanceActions, [
    { action: 'stop', request_id: stop.requestId, user_id: userId('demo'), instance_uuid: id, message: null },
    { action: 'create', request_id: r.requestId },
  ], 'newest first; a refused action is not recorded');
  t.equal(instanceActions.length, 2);
  t.match((await call(demo, 'GET', `/servers/${id}/os-instance-actions/${r.requestId}`)).body, { instanceAction: { action: 'create', instance_uuid: id } });
  t.equal((await call(demo, 'GET', `/servers/${id}/os-instance-actions/${stop.requestId.replace(/.$/, '0')}`)).status, stop.requestId.endsWith('0') ? 200 : 404);
  t.equal((await call(other, 'GET', `/servers/${id}/os-instance-actions`)).status, 404);
});
