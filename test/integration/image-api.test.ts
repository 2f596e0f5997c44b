// The Image v2 API as Glance answers it (issue 13 §4): properties and JSON Patch, protected images,
// owners, tags, deactivation, sharing with members as seen from a second tenant, list filters, sort
// and pages, the JSON schemas — and a controller restart keeping all of it.
import t from 'tap';
import { waitFor } from '../../shared/wait-for.ts';
import { request } from 'undici';
import { startControlPlane } from '../helpers/control-plane.ts';
import { workloadId } from '../helpers/api-waits.ts';
import type { ControllerClient } from '../../shared/controller-client.ts';
import { failure } from '../helpers/call-status.ts';

const plane = await startControlPlane({ nodes: 1 });
t.teardown(() => plane.close());
const { demo, other, admin } = plane;
const [demoProject, otherProject] = [await demo.tenantId(), await other.tenantId()];
const V21 = 'application/openstack-images-v2.1-json-patch';
const V20 = 'application/openstack-images-v2.0-json-patch';

type ImageView = Record<string, unknown> & { id: string; status: string; tags: string[]; owner: string; visibility: string };
const create = (client: ControllerClient, body: Record<string, unknown>) =>
  client.call<ImageView>('POST', '/image/v2/images', { disk_format: 'raw', container_format: 'bare', ...body });
const show = (client: ControllerClient, id: string) => client.call<ImageView>('GET', `/image/v2/images/${id}`);
const patch = (client: ControllerClient, id: string, ops: unknown, type = V21) => client.call<ImageView>('PATCH', `/image/v2/images/${id}`, ops, type);
const list = async (client: ControllerClient, query = '') => (await client.call<{ images: ImageView[]; next?: string }>('GET', `/image/v2/images${query}`));
const ids = async (client: ControllerClient, query = '') => (await list(client, query)).images.map((i) => i.id);
async function download(client: ControllerClient, id: string) {
  const res = await request(`${plane.controllerUrl}/image/v2/images/${id}/file`, { dispatcher: plane.dispatcher, headers: { 'x-auth-token': await client.authToken() } });
  return { status: res.statusCode, bytes: (await res.body.arrayBuffer()).byteLength };
}
const upload = (client: ControllerClient, id: string, bytes = 1024) => client.call('PUT', `/image/v2/images/${id}/file`, Buffer.alloc(bytes, 7));

t.test('custom properties at create are kept and served as top-level keys; read-only, reserved and invalid fields are refused', async (t) => {
  const image = await create(demo, { name: 'props', ramdisk_id: '00000000-1111-2222-3333-444455556666', hw_disk_bus: 'virtio', tags: ['a', 'b', 'a'], min_ram: 64 });
  t.match(image, { visibility: 'shared', owner: demoProject, ramdisk_id: '00000000-1111-2222-3333-444455556666', hw_disk_bus: 'virtio', min_ram: 64, protected: false });
  t.same(image.tags, ['a', 'b'], 'tags, each once');
  t.equal((await show(demo, image.id)).hw_disk_bus, 'virtio', 'and shown again');
  t.equal(await failure(create(demo, { status: 'active' })), 403, 'a read-only field');
  t.equal(await failure(create(demo, { os_glance_foo: 'bar' })), 403, 'a reserved os_glance_* property');
  t.equal(await failure(create(demo, { disk_format: 'vhd' })), 400, 'a disk format the service does not take');
  t.equal(await failure(create(demo, { container_format: 'wrong' })), 400, 'a container format the service does not take');
  t.equal(await failure(create(demo, { speed: 88 })), 400, 'a property that is not a string');
  t.equal(await failure(create(demo, { visibility: 'public' })), 403, 'a public image from a tenant');
});

t.test('JSON Patch in both Glance media types: add, replace and remove of core fields and custom properties', async (t) => {
  const { id } = await create(demo, { name: 'before' });
  const after = await patch(demo, id, [
    { op: 'replace', path: '/name', value: 'after' }, { op: 'add', path: '/os_distro', value: 'debian' },
    { op: 'add', path: '/speed', value: '88mph' }, { op: 'remove', path: '/speed' }, { op: 'replace', path: '/min_disk', value: 2 },
  ]);
  t.match(after, { name: 'after', os_distro: 'debian', min_disk: 2 });
  t.notOk('speed' in after, 'a removed property is gone');
  t.equal((await patch(demo, id, [{ replace: '/name', value: 'v2.0' }], V20)).name, 'v2.0', "v2.0's {replace: path}");
  t.equal(await failure(patch(demo, id, [{ add: '/os_distro', value: 'x' }], V20)), 409, "v2.0's add of a property already there");
  t.equal((await patch(demo, id, [{ op: 'add', path: '/os_distro', value: 'alpine' }])).os_distro, 'alpine', "v2.1's add sets it");
  t.equal(await failure(patch(demo, id, [{ op: 'replace', path: '/nothing', value: 'x' }])), 409, 'replace of a missing property');
  t.equal(await failure(patch(demo, id, [{ op: 'remove', path: '/nothing' }])), 409, 'remove of a missing property');
  t.equal(await failure(patch(demo, id, [{ op: 'remove', path: '/name' }])), 403, 'remove of a core field');
  t.equal(await failure(patch(demo, id, [{ op: 'replace', path: '/status', value: 'active' }])), 403, 'a read-only field');
  t.equal(await failure(patch(demo, id, [{ op: 'add', path: '/os_glance_x', value: 'y' }])), 403, 'a reserved property');
  t.equal(await failure(patch(demo, id, [{ op: 'replace', path: '/disk_format', value: 'vmdk' }])), 400, 'a format the service does not take');
  t.equal(await failure(patch(demo, id, [{ op: 'add', path: '/a/b', value: 'x' }])), 400, 'a nested path');
  t.equal(await failure(patch(demo, id, [{ op: 'replace', path: '/name', value: 'x' }], 'application/json')), 400, 'another media type');
  t.equal((await show(demo, id)).name, 'v2.0', 'a refused patch changes nothing');
  await upload(demo, id);
  t.equal(await failure(patch(demo, id, [{ op: 'replace', path: '/disk_format', value: 'qcow2' }])), 403, 'the disk format of an image with data');
  t.equal(await failure(patch(other, id, [{ op: 'replace', path: '/name', value: 'x' }])), 404, "another tenant's image");
});

t.test('a protected image cannot be deleted until it is unprotected', async (t) => {
  const { id } = await create(demo, { protected: true });
  t.equal(await failure(demo.call('DELETE', `/image/v2/images/${id}`)), 403);
  await patch(demo, id, [{ op: 'replace', path: '/protected', value: false }]);
  await demo.call('DELETE', `/image/v2/images/${id}`);
  t.equal(await failure(show(demo, id)), 404, 'deleted once unprotected');
});

t.test('only an admin gives an image to another project', async (t) => {
  const owned = await create(admin, { owner: otherProject });
  t.equal(owned.owner, otherProject);
  t.ok((await ids(other)).includes(owned.id), 'the new owner lists it');
  const { id } = await create(demo, {});
  t.equal(await failure(patch(demo, id, [{ op: 'replace', path: '/owner', value: otherProject }])), 403, 'a tenant cannot');
  t.equal(await failure(create(demo, { owner: otherProject })), 403, 'nor at create');
  t.equal((await patch(admin, id, [{ op: 'replace', path: '/owner', value: otherProject }])).owner, otherProject, 'an admin can');
});

t.test('tags are added and removed one by one', async (t) => {
  const { id } = await create(demo, {});
  await demo.call('PUT', `/image/v2/images/${id}/tags/blue`);
  await demo.call('PUT', `/image/v2/images/${id}/tags/blue`);
  t.same((await show(demo, id)).tags, ['blue'], 'added once');
  t.ok((await ids(demo, '?tag=blue')).includes(id), 'listed by its tag');
  t.equal(await failure(other.call('PUT', `/image/v2/images/${id}/tags/red`)), 404, "not on another tenant's image");
  await demo.call('DELETE', `/image/v2/images/${id}/tags/blue`);
  t.same((await show(demo, id)).tags, []);
  t.equal(await failure(demo.call('DELETE', `/image/v2/images/${id}/tags/blue`)), 404, 'a tag that is not there');
});

t.test("a deactivated image's data is for admins only until it is reactivated", async (t) => {
  const { id } = await create(demo, {});
  t.equal(await failure(demo.call('POST', `/image/v2/images/${id}/actions/deactivate`)), 403, 'an image without data');
  await upload(demo, id, 512);
  await demo.call('POST', `/image/v2/images/${id}/actions/deactivate`);
  t.equal((await show(demo, id)).status, 'deactivated');
  t.equal((await download(demo, id)).status, 403, 'its owner cannot download it');
  t.match(await download(admin, id), { status: 200, bytes: 512 }, 'an admin can');
  await demo.call('POST', `/image/v2/images/${id}/actions/reactivate`);
  t.equal((await show(demo, id)).status, 'active');
  t.match(await download(demo, id), { status: 200, bytes: 512 }, 'downloadable again');
});

t.test('sharing: a member sees a shared image, lists it once accepted, and loses it when removed', async (t) => {
  const priv = await create(demo, { visibility: 'private' });
  t.equal(await failure(demo.call('POST', `/image/v2/images/${priv.id}/members`, { member: otherProject })), 403, 'a private image has no members');
  t.equal(await failure(show(other, priv.id)), 404, "another tenant's private image is not found");
  const { id } = await create(demo, {});
  t.equal(await failure(show(other, id)), 404, 'a shared image is not seen before it is offered');
  const member = await demo.call<Record<string, unknown>>('POST', `/image/v2/images/${id}/members`, { member: otherProject });
  t.match(member, { member_id: otherProject, image_id: id, status: 'pending' });
  t.equal(await failure(demo.call('POST', `/image/v2/images/${id}/members`, { member: otherProject })), 409, 'offered twice');
  t.equal((await show(other, id)).id, id, 'the member reads it while pending');
  t.notOk((await ids(other)).includes(id), 'but does not list it');
  const pending = (await list(other, '?visibility=shared&member_status=pending')).images.filter((i) => i.owner !== otherProject);
  t.same(pending.map((i) => i.id), [id], 'except when it asks for pending offers');
  t.equal(await failure(demo.call('PUT', `/image/v2/images/${id}/members/${otherProject}`, { status: 'accepted' })), 403, 'the owner cannot accept');
  t.equal(await failure(other.call('PUT', `/image/v2/images/${id}/members/${otherProject}`, { status: 'maybe' })), 400, 'an unknown status');
  await other.call('PUT', `/image/v2/images/${id}/members/${otherProject}`, { status: 'accepted' });
  t.ok((await ids(other)).includes(id), 'listed once accepted');
  t.notOk((await ids(other)).includes(priv.id), 'the private image still is not');
  const { members } = await demo.call<{ members: { member_id: string; status: string }[] }>('GET', `/image/v2/images/${id}/members`);
  t.match(members, [{ member_id: otherProject, status: 'accepted' }]);
  t.equal((await other.call<{ status: string }>('GET', `/image/v2/images/${id}/members/${otherProject}`)).status, 'accepted');
  t.equal(await failure(other.call('DELETE', `/image/v2/images/${id}/members/${otherProject}`)), 403, 'a member does not remove itself');
  t.equal(await failure(other.call('DELETE', `/image/v2/images/${id}`)), 403, "nor deletes the owner's image");
  await other.call('PUT', `/image/v2/images/${id}/members/${otherProject}`, { status: 'rejected' });
  t.notOk((await ids(other)).includes(id), 'not listed once rejected');
  await demo.call('DELETE', `/image/v2/images/${id}/members/${otherProject}`);
  t.equal(await failure(show(other, id)), 404, 'not seen once removed');
});

t.test('compute boots what a tenant reads: an image shared with it, never a deactivated one', async (t) => {
  const { id } = await create(demo, { name: 'bootable' });
  await upload(demo, id);
  const flavorRef = await workloadId(other, 'qemu');
  const boot = (client: ControllerClient) => failure(client.call('POST', '/v2.1/servers', { server: { name: 'from-shared', flavorRef, imageRef: id } }));
  t.equal(await boot(other), 400, 'not by a project it is not shared with (Nova: 400 for an image you cannot boot)');
  await demo.call('POST', `/image/v2/images/${id}/members`, { member: otherProject });
  t.equal(await boot(other), 200, 'by a member');
  t.equal(await boot(demo), 200, 'by its owner (shared is the default visibility)');
  await demo.call('POST', `/image/v2/images/${id}/actions/deactivate`);
  t.equal(await boot(demo), 400, 'not once deactivated');
});

t.test("another tenant's image never stands in for an image named by its name (a workload's image_name, imageRef)", async (t) => {
  const flavorRef = await workloadId(demo, 'qemu');
  const { workloads } = await demo.call<{ workloads: { id: string; image_name: string }[] }>('GET', `/tenants/${demoProject}/workloads`);
  const imageName = workloads.find((w) => w.id === flavorRef)!.image_name;
  const real = (await list(admin, `?name=${encodeURIComponent(imageName)}`)).images.find((i) => i.visibility === 'public')!;
  const servers: string[] = [];
  const images: string[] = [];
  try {
    // The squatter's images: one takes the workload's image name, for everyone to read.
    for (const name of [imageName, 'only-mine']) {
      const { id } = await create(other, { name, visibility: 'community' });
      images.push(id);
      await upload(other, id, 512);
    }
    const boot = async (server: Record<string, string>) => {
      const { server: s } = await demo.call<{ server: { id: string } }>('POST', '/v2.1/servers', { server: { name: 'by-ref', flavorRef, ...server } });
      servers.push(s.id);
      return (await demo.call<{ image: string }>('GET', `/tenants/${demoProject}/instances/${s.id}`)).image;
    };
    t.equal(await boot({}), real.id, "the flavor's image is the public one");
    t.equal(await boot({ imageRef: imageName }), real.id, 'by name: the public one too');
    t.equal(await failure(boot({ imageRef: 'only-mine' })), 400, "another tenant's image is not found by its name");
    t.equal(await boot({ imageRef: images[1] }), images[1], 'by its id, a community image boots');
  } finally {
    for (const id of servers) await demo.call('DELETE', `/v2.1/servers/${id}`);
    await waitFor('the servers to be gone', async () => (await demo.call<{ servers: { id: string }[] }>('GET', '/v2.1/servers')).servers.every((x) => !servers.includes(x.id)));
    for (const id of images) await other.call('DELETE', `/image/v2/images/${id}`);
  }
});

t.test('list filters, sort, limit and marker; a trailing slash names no image', async (t) => {
  const made: ImageView[] = [];
  for (const size of [3000, 1000, 2000]) {
    const image = await create(other, { name: `sized-${size}`, flavour: size === 1000 ? 'small' : 'big' });
    await upload(other, image.id, size);
    made.push(image);
  }
  const sizes = async (query: string) => (await list(other, query)).images.filter((i) => i.name?.toString().startsWith('sized-')).map((i) => i.size);
  t.same(await sizes('?sort=size:desc'), [3000, 2000, 1000], 'sort=size:desc');
  t.same(await sizes('?sort_key=size&sort_dir=asc'), [1000, 2000, 3000], 'sort_key and sort_dir');
  t.same(await sizes('?size_min=1500&size_max=2500'), [2000], 'size_min and size_max');
  t.same(await sizes('?size=1000&status=active&disk_format=raw'), [1000], 'size, status and disk_format');
  t.same(await sizes('?flavour=big&sort=size:asc'), [2000, 3000], 'a custom property');
  const first = await list(other, '?sort=size:asc&limit=1&size_min=1000');
  t.equal(first.images.length, 1);
  t.match(first.next, /marker=/, 'a next link');
  const second = await list(other, `?sort=size:asc&limit=1&size_min=1000&marker=${first.images[0].id}`);
  t.equal(second.images[0].size, 2000, 'the next page');
  t.equal(await failure(list(other, '?sort_key=nope')), 400, 'an unknown sort key');
  t.equal(await failure(list(other, '?limit=-1')), 400, 'a negative limit');
  t.equal(await failure(list(other, `?marker=${made[0].id.replace(/.$/, '0')}x`)), 400, 'a marker that is no image of the list');
  t.equal(await failure(other.call('GET', '/image/v2/images/')), 404, 'GET /v2/images/');
  t.equal(await failure(other.call('DELETE', '/image/v2/images/')), 404, 'DELETE /v2/images/');
});

t.test('the JSON schemas Glance publishes', async (t) => {
  for (const name of ['image', 'images', 'member', 'members']) {
    t.equal((await demo.call<{ name: string }>('GET', `/image/v2/schemas/${name}`)).name, name);
  }
  const image = await demo.call<{ properties: { disk_format: { enum: unknown[] } } }>('GET', '/image/v2/schemas/image');
  t.same(image.properties.disk_format.enum, ['raw', 'qcow2', null], 'the formats the service takes');
});

t.test('a controller restart keeps properties, tags, protection, status and members', async (t) => {
  const { id } = await create(demo, { os_distro: 'debian', tags: ['kept'], protected: true });
  await upload(demo, id);
  await demo.call('POST', `/image/v2/images/${id}/actions/deactivate`);
  await demo.call('POST', `/image/v2/images/${id}/members`, { member: otherProject });
  await other.call('PUT', `/image/v2/images/${id}/members/${otherProject}`, { status: 'accepted' });
  await plane.restartController();
  t.match(await show(demo, id), { os_distro: 'debian', tags: ['kept'], protected: true, status: 'deactivated' });
  t.ok((await ids(other)).includes(id), 'the member still lists it');
  t.equal(await failure(demo.call('DELETE', `/image/v2/images/${id}`)), 403, 'still protected');
});
