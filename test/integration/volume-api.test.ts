// The Block Storage v3 subset (/volume/v3) and compute's os-volume_attachments against an
// in-process control plane: every route, bad input answered 4xx, tenants kept apart, quotas
// enforced, the file really grown, the attach really sent to the node, and state kept over a restart.
import t from 'tap';
import { request } from 'undici';
import { run } from '../../shared/run.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { startControlPlane } from '../helpers/control-plane.ts';
import { createInstances, waitForState, workloadId } from '../helpers/api-waits.ts';
import type { ControllerClient } from '../../shared/controller-client.ts';

const plane = await startControlPlane({ nodes: 1 });
t.teardown(() => plane.close());
const { demo, other, admin } = plane;
const demoProject = await demo.tenantId();

interface Answer { status: number; body: any; headers: Record<string, unknown> } // eslint-disable-line @typescript-eslint/no-explicit-any
const api = async (who: ControllerClient, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> => {
  const res = await request(`${plane.controllerUrl}${path}`, {
    method: method as 'GET', dispatcher: plane.dispatcher,
    headers: { 'x-auth-token': await who.authToken(), 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : undefined, headers: res.headers };
};
const v3 = (path: string) => `/volume/v3${path}`;
const waitForStatus = (who: ControllerClient, id: string, status: string) => waitFor(`volume ${id} to be ${status}`, async () => {
  const r = await api(who, 'GET', v3(`/volumes/${id}`));
  return r.body.volume?.status === status && r.body.volume;
}, { timeoutMs: 10_000 });
const newVolume = async (who: ControllerClient, volume: Record<string, unknown> = {}) => {
  const r = await api(who, 'POST', v3('/volumes'), { volume: { size: 1, ...volume } });
  if (r.status !== 202) throw new Error(`volume create answered ${r.status}: ${JSON.stringify(r.body)}`);
  return waitForStatus(who, r.body.volume.id, 'available');
};

t.test('version documents: 300 for the list, 200 for v3, and the volume microversion negotiated', async (t) => {
  const list = await api(demo, 'GET', '/volume/');
  t.equal(list.status, 300);
  t.match(list.body.versions, [{ id: 'v3.0', min_version: '3.0', version: '3.12', status: 'CURRENT' }]);
  t.match((await api(demo, 'GET', '/volume/v3/')).body.versions, [{ id: 'v3.0' }]);
  const asked = await api(demo, 'GET', v3('/volumes'), undefined, { 'openstack-api-version': 'compute 2.1, volume 3.0' });
  t.equal(asked.headers['openstack-api-version'], 'volume 3.0');
  t.equal((await api(demo, 'GET', v3('/volumes'), undefined, { 'openstack-api-version': 'volume latest' })).headers['openstack-api-version'], 'volume 3.12');
  t.match(await api(demo, 'GET', v3('/volumes'), undefined, { 'openstack-api-version': 'volume 3.13' }), { status: 406, body: { notAcceptable: { message: /3\.13 is not supported/ } } });
  t.match(await api(demo, 'GET', v3('/volumes'), undefined, { 'openstack-api-version': 'volume three' }), { status: 400 });
});

t.test('create (size in GiB, name, description, metadata), show, list, detail, update, delete', async (t) => {
  const made = await api(demo, 'POST', v3(`/${demoProject}/volumes`), { volume: { size: 1, name: 'data', description: 'for tests', metadata: { team: 'a' } } });
  t.equal(made.status, 202);
  t.match(made.body.volume, { name: 'data', size: 1, status: 'creating', metadata: { team: 'a' }, bootable: 'false', availability_zone: 'nova' });
  const v = await waitForStatus(demo, made.body.volume.id, 'available');
  const file = await run('qemu-img', ['info', '--output=json', plane.controller.services.volumes.path(v.id)]);
  t.equal(JSON.parse(file.stdout)['virtual-size'], 2 ** 30, 'the file is 1 GiB');
  t.match((await api(demo, 'GET', v3('/volumes'))).body.volumes, [{ id: v.id, name: 'data', links: Array }]);
  t.match((await api(demo, 'GET', v3('/volumes/detail'))).body.volumes, [{ id: v.id, description: 'for tests', user_id: String }]);
  const renamed = await api(demo, 'PUT', v3(`/volumes/${v.id}`), { volume: { name: 'data-2', description: '' } });
  t.match(renamed, { status: 200, body: { volume: { name: 'data-2', description: '' } } });
  t.match((await api(demo, 'GET', `/tenants/${demoProject}/volumes/${v.id}`)).body, { name: 'data-2', size_mb: 1024 }, 'the ciao API sees the same volume');
  t.equal((await api(demo, 'DELETE', v3(`/volumes/${v.id}`))).status, 202);
  t.equal((await api(demo, 'GET', v3(`/volumes/${v.id}`))).status, 404);
});

t.test('list filters, sort, limit and marker with a next link', async (t) => {
  const vols = [];
  for (const name of ['f-1', 'f-2', 'f-3']) vols.push(await newVolume(demo, { name, metadata: { kind: name === 'f-2' ? 'x' : 'y' } }));
  const names = (r: Answer) => r.body.volumes.map((v: { name: string }) => v.name);
  t.same(names(await api(demo, 'GET', v3('/volumes?name=f-2'))), ['f-2']);
  t.same(names(await api(demo, 'GET', v3(`/volumes/detail?metadata=${encodeURIComponent("{'kind': 'x'}")}`))), ['f-2'], 'a Python dict literal, as Tempest sends it');
  t.same(names(await api(demo, 'GET', v3('/volumes?sort_key=name&sort_dir=asc&status=available'))), ['f-1', 'f-2', 'f-3']);
  t.same(names(await api(demo, 'GET', v3('/volumes?sort=name:desc'))), ['f-3', 'f-2', 'f-1']);
  const page = await api(demo, 'GET', v3('/volumes?sort_key=name&sort_dir=asc&limit=2'));
  t.same(names(page), ['f-1', 'f-2']);
  const next = new URL(page.body.volumes_links[0].href);
  t.same(names(await api(demo, 'GET', `${next.pathname}${next.search}`)), ['f-3']);
  t.equal((await api(demo, 'GET', v3('/volumes?bootable=true'))).body.volumes.length, 0);
  t.equal((await api(demo, 'GET', v3('/volumes?marker=nope'))).status, 400);
  t.equal((await api(demo, 'GET', v3('/volumes?sort_key=owner'))).status, 400);
  for (const v of vols) t.equal((await api(demo, 'DELETE', v3(`/volumes/${v.id}`))).status, 202);
});

t.test('bad input is 400, unknown ids 404, never a 5xx', async (t) => {
  for (const volume of [{ size: 0 }, { size: -1 }, { size: '#$%' }, {}, { size: 1, name: 'x'.repeat(256) }, { size: 1, metadata: { k: 5 } }, { size: 1, availability_zone: 'moon' }]) {
    t.equal((await api(demo, 'POST', v3('/volumes'), { volume })).status, 400, JSON.stringify(volume));
  }
  t.equal((await api(demo, 'POST', v3('/volumes'), '{"volume": ')).status, 400);
  t.equal((await api(demo, 'POST', v3('/volumes'), { volume: { size: 1, volume_type: 'gold' } })).status, 404);
  t.equal((await api(demo, 'POST', v3('/volumes'), { volume: { size: 1, snapshot_id: 'c8a1d0b4-2f6e-4a61-9d0c-0d5f2f1c9f00' } })).status, 404);
  t.equal((await api(demo, 'GET', v3('/volumes/not-a-uuid'))).status, 404);
  t.equal((await api(demo, 'GET', v3('/volumes/c8a1d0b4-2f6e-4a61-9d0c-0d5f2f1c9f00'))).status, 404);
  t.equal((await api(demo, 'PUT', v3('/volumes'), { volume: { name: 'x' } })).status, 404);
  t.equal((await api(demo, 'GET', v3('/volumes/'))).status, 404, 'an empty id names no volume');
  const v = await newVolume(demo);
  t.equal((await api(demo, 'POST', v3(`/volumes/${v.id}/action`), { 'os-extend': { new_size: 'big' } })).status, 400);
  t.equal((await api(demo, 'POST', v3(`/volumes/${v.id}/action`), { 'os-extend': { new_size: null } })).status, 400);
  t.equal((await api(demo, 'POST', v3(`/volumes/${v.id}/action`), { 'os-extend': { new_size: 1 } })).status, 400, 'not larger');
  t.equal((await api(demo, 'POST', v3(`/volumes/${v.id}/action`), { 'os-migrate_volume': {} })).status, 400);
  t.equal((await api(demo, 'PUT', v3(`/volumes/${v.id}`), { volume: {} })).status, 400);
  t.equal((await api(demo, 'PUT', v3(`/${await other.tenantId()}/volumes/${v.id}`), { volume: { name: 'x' } })).status, 403, 'a project path that is not the token\'s');
  t.equal((await api(demo, 'DELETE', v3(`/volumes/${v.id}`))).status, 202);
});

t.test('another tenant\'s volume is 404 to every route; an admin sees it', async (t) => {
  const v = await newVolume(demo, { name: 'mine' });
  t.notOk((await api(other, 'GET', v3('/volumes'))).body.volumes.some((x: { id: string }) => x.id === v.id));
  for (const [method, path, body] of [['GET', ''], ['PUT', '', { volume: { name: 'x' } }], ['DELETE', ''], ['GET', '/metadata'],
    ['POST', '/action', { 'os-extend': { new_size: 2 } }]] as [string, string, unknown?][]) {
    t.equal((await api(other, method, v3(`/volumes/${v.id}${path}`), body)).status, 404, `${method} ${path}`);
  }
  t.match((await api(admin, 'GET', v3(`/volumes/${v.id}`))).body.volume, { id: v.id, 'os-vol-tenant-attr:tenant_id': demoProject });
  t.ok((await api(admin, 'GET', v3('/volumes?all_tenants=1'))).body.volumes.some((x: { id: string }) => x.id === v.id));
  t.notOk((await api(admin, 'GET', v3('/volumes'))).body.volumes.some((x: { id: string }) => x.id === v.id), 'without all_tenants, only the admin\'s own');
  t.equal((await api(demo, 'DELETE', v3(`/volumes/${v.id}`))).status, 202);
});

t.test('metadata: create (merge), replace, show and update a key, delete a key', async (t) => {
  const v = await newVolume(demo, { metadata: { a: '1' } });
  const m = (path = '') => v3(`/volumes/${v.id}/metadata${path}`);
  t.same((await api(demo, 'POST', m(), { metadata: { b: '2' } })).body, { metadata: { a: '1', b: '2' } });
  t.same((await api(demo, 'PUT', m(), { metadata: { c: '3' } })).body, { metadata: { c: '3' } });
  t.same((await api(demo, 'GET', m('/c'))).body, { meta: { c: '3' } });
  t.same((await api(demo, 'PUT', m('/c'), { meta: { c: '4' } })).body, { meta: { c: '4' } });
  t.equal((await api(demo, 'PUT', m('/c'), { meta: { d: '4' } })).status, 400, 'the key of the body must be the path\'s');
  t.equal((await api(demo, 'DELETE', m('/c'))).status, 200);
  t.equal((await api(demo, 'GET', m('/c'))).status, 404);
  t.same((await api(demo, 'GET', m())).body, { metadata: {} });
  t.equal((await api(demo, 'DELETE', v3(`/volumes/${v.id}`))).status, 202);
});

t.test('a volume from an image is bootable and keeps the image\'s facts, which the tenant may change', async (t) => {
  const { images } = (await api(demo, 'GET', '/image/v2/images')).body;
  const v = await newVolume(demo, { imageRef: images[0].id });
  t.match(v, { bootable: 'true', volume_image_metadata: { image_id: images[0].id, image_name: images[0].name, checksum: images[0].checksum } });
  const act = (body: unknown) => api(demo, 'POST', v3(`/volumes/${v.id}/action`), body);
  t.match((await act({ 'os-set_image_metadata': { metadata: { kernel_id: 'k', ramdisk_id: 'r' } } })).body.metadata, { image_id: images[0].id, kernel_id: 'k' });
  t.equal((await act({ 'os-unset_image_metadata': { key: 'ramdisk_id' } })).status, 200);
  t.equal((await act({ 'os-unset_image_metadata': { key: 'ramdisk_id' } })).status, 404);
  const shown = (await act({ 'os-show_image_metadata': {} })).body.metadata;
  t.match(shown, { kernel_id: 'k' });
  t.notOk('ramdisk_id' in shown);
  t.equal((await act({ 'os-set_image_metadata': { metadata: { k: 1 } } })).status, 400);
  t.equal((await api(demo, 'DELETE', v3(`/volumes/${v.id}`))).status, 202);
});

t.test('actions: extend grows the file; set_bootable; reserve; reset_status and force_delete are for admins', async (t) => {
  const v = await newVolume(demo);
  const act = (who: ControllerClient, body: unknown) => api(who, 'POST', v3(`/volumes/${v.id}/action`), body);
  t.equal((await act(demo, { 'os-extend': { new_size: 2 } })).status, 202);
  t.equal((await api(demo, 'GET', v3(`/volumes/${v.id}`))).body.volume.size, 2);
  const info = JSON.parse((await run('qemu-img', ['info', '--output=json', plane.controller.services.volumes.path(v.id)])).stdout);
  t.equal(info['virtual-size'], 2 * 2 ** 30, 'the file really grew');
  t.equal((await act(demo, { 'os-set_bootable': { bootable: true } })).status, 200);
  t.equal((await api(demo, 'GET', v3(`/volumes/${v.id}`))).body.volume.bootable, 'true');
  t.equal((await act(demo, { 'os-reserve': {} })).status, 202);
  t.equal((await api(demo, 'GET', v3(`/volumes/${v.id}`))).body.volume.status, 'attaching');
  t.equal((await act(demo, { 'os-reserve': {} })).status, 400, 'reserved already');
  t.equal((await api(demo, 'DELETE', v3(`/volumes/${v.id}`))).status, 400, 'a reserved volume is not deleted');
  t.equal((await act(demo, { 'os-unreserve': {} })).status, 202);
  t.equal((await act(demo, { 'os-reset_status': { status: 'error' } })).status, 403);
  t.equal((await act(admin, { 'os-reset_status': { status: 'creating' } })).status, 400, 'creating would make the volume again over its data');
  t.equal((await act(admin, { 'os-reset_status': { status: 'maintenance' } })).status, 202);
  t.equal((await api(demo, 'GET', v3(`/volumes/${v.id}`))).body.volume.status, 'maintenance');
  t.equal((await act(demo, { 'os-extend': { new_size: 3 } })).status, 400, 'only an available volume is extended');
  t.equal((await act(demo, { 'os-force_delete': {} })).status, 403);
  t.equal((await act(admin, { 'os-force_delete': {} })).status, 202);
  t.equal((await api(demo, 'GET', v3(`/volumes/${v.id}`))).status, 404);
});

t.test('quotas: shown with usage, set and deleted by an admin, and enforced on create and extend (413)', async (t) => {
  const q = (path = '') => v3(`/os-quota-sets/${demoProject}${path}`);
  t.match((await api(demo, 'GET', q())).body.quota_set, { id: demoProject, volumes: -1, gigabytes: -1, snapshots: 0 });
  t.equal((await api(demo, 'GET', v3(`/os-quota-sets/${await other.tenantId()}`))).status, 403);
  t.equal((await api(demo, 'PUT', q(), { quota_set: { volumes: 1 } })).status, 403);
  t.equal((await api(admin, 'PUT', q(), { quota_set: { snapshots: 5 } })).status, 400, 'the cluster has no snapshots');
  t.equal((await api(admin, 'PUT', q(), { quota_set: { volumes: 'many' } })).status, 400);
  t.match((await api(admin, 'PUT', q(), { quota_set: { volumes: 1, gigabytes: 2 } })).body.quota_set, { volumes: 1, gigabytes: 2 });
  const v = await newVolume(demo);
  t.match((await api(demo, 'GET', q('?usage=true'))).body.quota_set, { volumes: { limit: 1, in_use: 1 }, gigabytes: { limit: 2, in_use: 1 } });
  t.match((await api(demo, 'GET', v3('/limits'))).body.limits.absolute, { maxTotalVolumes: 1, totalVolumesUsed: 1, maxTotalVolumeGigabytes: 2, totalGigabytesUsed: 1 });
  t.match(await api(demo, 'POST', v3('/volumes'), { volume: { size: 1 } }), { status: 413, body: { overLimit: { message: /quota volumes is 1/ } } });
  t.equal((await api(demo, 'POST', v3(`/volumes/${v.id}/action`), { 'os-extend': { new_size: 3 } })).status, 413);
  t.match((await api(demo, 'GET', `/tenants/${demoProject}/quotas`)).body.quotas, [{}, {}, {}, {}, {}, {}, {}, { name: 'volumes', limit: 1 }, { name: 'volume_mb', limit: 2048 }], 'kept as the ciao quotas');
  t.match((await api(admin, 'GET', v3('/os-quota-class-sets/default'))).body.quota_class_set, { id: 'default', volumes: -1, gigabytes: -1, snapshots: 0 });
  t.equal((await api(demo, 'GET', v3('/os-quota-class-sets/default'))).status, 403);
  t.equal((await api(admin, 'GET', v3('/os-quota-class-sets/gold'))).status, 404);
  t.equal((await api(admin, 'DELETE', q())).status, 200);
  t.match((await api(demo, 'GET', q('/defaults'))).body.quota_set, { volumes: -1, gigabytes: -1 });
  t.match((await api(demo, 'GET', q())).body.quota_set, { volumes: -1, gigabytes: -1 });
  t.equal((await api(demo, 'DELETE', v3(`/volumes/${v.id}`))).status, 202);
});

t.test('zones, types and extensions', async (t) => {
  t.same((await api(demo, 'GET', v3('/os-availability-zone'))).body, { availabilityZoneInfo: [{ zoneName: 'nova', zoneState: { available: true } }] });
  const types = (await api(demo, 'GET', v3('/types'))).body.volume_types;
  t.match(types, [{ name: '__DEFAULT__', is_public: true }]);
  t.match((await api(demo, 'GET', v3('/types/default'))).body.volume_type, { id: types[0].id });
  t.equal((await api(demo, 'GET', v3('/types/gold'))).status, 404);
  t.equal((await api(admin, 'DELETE', v3(`/types/${types[0].id}`))).status, 400, 'the default type stays');
  t.ok((await api(demo, 'GET', v3('/extensions'))).body.extensions.some((e: { alias: string }) => e.alias === 'os-quota-sets'));
});

t.test('attach and detach through compute: in-use while attached, the node really asked, another tenant 404', async (t) => {
  const [inst] = await createInstances(demo, await workloadId(demo, 'qemu'));
  await waitForState(demo, inst.id, 'active');
  const v = await newVolume(demo);
  const at = (path = '') => `/v2.1/servers/${inst.id}/os-volume_attachments${path}`;
  t.equal((await api(demo, 'POST', at(), { volumeAttachment: { volumeId: 'c8a1d0b4-2f6e-4a61-9d0c-0d5f2f1c9f00' } })).status, 404);
  t.equal((await api(demo, 'POST', at(), { volumeAttachment: {} })).status, 400);
  const attached = await api(demo, 'POST', at(), { volumeAttachment: { volumeId: v.id, device: '/dev/vdb' } });
  t.match(attached, { status: 200, body: { volumeAttachment: { id: v.id, volumeId: v.id, serverId: inst.id, device: '/dev/vdb' } } });
  const inUse = await waitForStatus(demo, v.id, 'in-use');
  t.match(inUse.attachments, [{ server_id: inst.id, volume_id: v.id, device: '/dev/vdb' }]);
  const onNode = async () => (await plane.backends[0].list()).find((i) => i.spec.instanceId === inst.id)?.spec.volumes?.map((x) => x.id) ?? [];
  t.same(await onNode(), [v.id], 'the node attached it');
  t.match((await api(demo, 'GET', at())).body.volumeAttachments, [{ volumeId: v.id }]);
  t.match((await api(demo, 'GET', at(`/${v.id}`))).body.volumeAttachment, { serverId: inst.id });
  t.equal((await api(demo, 'DELETE', v3(`/volumes/${v.id}`))).status, 400, 'an attached volume is not deleted');
  t.equal((await api(other, 'GET', at())).status, 404);
  t.equal((await api(other, 'DELETE', at(`/${v.id}`))).status, 404);
  t.equal((await api(demo, 'DELETE', at(`/${v.id}`))).status, 202);
  await waitForStatus(demo, v.id, 'available');
  t.same(await onNode(), [], 'the node detached it');
  t.equal((await api(demo, 'GET', at(`/${v.id}`))).status, 404);
  // Cinder's os-attach (what Nova asks of Cinder) does the same real attach.
  t.equal((await api(demo, 'POST', v3(`/volumes/${v.id}/action`), { 'os-attach': { instance_uuid: inst.id, mountpoint: '/dev/vdb' } })).status, 202);
  await waitForStatus(demo, v.id, 'in-use');
  t.equal((await api(demo, 'POST', v3(`/volumes/${v.id}/action`), { 'os-detach': {} })).status, 202);
  await waitForStatus(demo, v.id, 'available');
  t.equal((await api(demo, 'POST', v3(`/volumes/${v.id}/action`), { 'os-detach': {} })).status, 202, 'a detach of a detached volume does nothing');
  // An admin marks an attached volume in error, then force-detaches it: the node really lets it go.
  t.equal((await api(demo, 'POST', v3(`/volumes/${v.id}/action`), { 'os-attach': { instance_uuid: inst.id } })).status, 202);
  await waitForStatus(demo, v.id, 'in-use');
  const act = (who: ControllerClient, action: object) => api(who, 'POST', v3(`/volumes/${v.id}/action`), action);
  t.equal((await act(admin, { 'os-reset_status': { status: 'available' } })).status, 400, 'an attached volume is only marked error');
  t.equal((await act(admin, { 'os-reset_status': { status: 'error' } })).status, 202);
  await waitForStatus(demo, v.id, 'error');
  t.equal((await act(demo, { 'os-force_detach': { attachment_id: v.id } })).status, 403);
  t.equal((await act(admin, { 'os-force_detach': { attachment_id: 'c8a1d0b4-2f6e-4a61-9d0c-0d5f2f1c9f00' } })).status, 404);
  t.equal((await act(admin, { 'os-force_detach': { attachment_id: v.id, connector: null } })).status, 202);
  await waitForStatus(demo, v.id, 'available');
  t.same(await onNode(), [], 'the node detached it');
  t.equal((await act(admin, { 'os-force_detach': {} })).status, 400, 'not attached any more');
  t.equal((await api(demo, 'DELETE', v3(`/volumes/${v.id}`))).status, 202);
  await demo.call('DELETE', `/tenants/${demoProject}/instances/${inst.id}`);
});

t.test('volumes, their metadata and quotas survive a controller restart', async (t) => {
  const v = await newVolume(demo, { name: 'kept', metadata: { k: 'v' } });
  await api(admin, 'PUT', v3(`/os-quota-sets/${demoProject}`), { quota_set: { volumes: 7 } });
  await plane.restartController();
  t.match((await api(demo, 'GET', v3(`/volumes/${v.id}`))).body.volume, { name: 'kept', metadata: { k: 'v' }, status: 'available', size: 1 });
  t.equal((await api(demo, 'GET', v3(`/os-quota-sets/${demoProject}`))).body.quota_set.volumes, 7);
  await api(admin, 'DELETE', v3(`/os-quota-sets/${demoProject}`));
  t.equal((await api(demo, 'DELETE', v3(`/volumes/${v.id}`))).status, 202);
});

t.test('a clone (source_volid) is a copy of the source\'s file, as large or larger; not smaller, not another tenant\'s', async (t) => {
  const src = await newVolume(demo, { name: 'src' });
  const path = (id: string) => plane.controller.services.volumes.path(id);
  await run('qemu-io', ['-c', 'write -P 0x5a 0 64k', path(src.id)]);
  const made = await api(demo, 'POST', v3('/volumes'), { volume: { source_volid: src.id, size: 2 } });
  t.equal(made.status, 202);
  const clone = await waitForStatus(demo, made.body.volume.id, 'available');
  t.match(clone, { source_volid: src.id, size: 2, bootable: 'false' });
  t.equal(JSON.parse((await run('qemu-img', ['info', '--output=json', path(clone.id)])).stdout)['virtual-size'], 2 * 2 ** 30, 'grown to 2 GiB');
  const read = await run('qemu-io', ['-c', 'read -P 0x5a 0 64k', path(clone.id)]);
  t.notMatch(read.stdout, /Pattern verification failed/, 'the source\'s data is in the clone');
  t.equal((await api(demo, 'POST', v3('/volumes'), { volume: { source_volid: clone.id, size: 1 } })).status, 400, 'smaller than its source');
  t.equal((await api(other, 'POST', v3('/volumes'), { volume: { source_volid: src.id } })).status, 404, 'another tenant\'s volume');
  for (const id of [clone.id, src.id]) t.equal((await api(demo, 'DELETE', v3(`/volumes/${id}`))).status, 202);
});
