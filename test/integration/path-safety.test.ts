// A hostile tenant against the controller (docs/security.md): ids crafted to leave the state dir,
// images that read host files through qemu-img, bodies that once crashed a daemon or a SQLite
// batch, and admin input that once blocked the event loop. Each is refused with a 4xx, nothing
// lands outside the state dir, and the controller keeps serving.
import t from 'tap';
import { access, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { startControlPlane } from '../helpers/control-plane.ts';
import { createInstances, waitForState, workloadId } from '../helpers/api-waits.ts';
import { run } from '../../shared/run.ts';

const plane = await startControlPlane({ nodes: 1 });
t.teardown(() => plane.close());
const { demo, other, admin, controllerUrl, dispatcher } = plane;
const tenant = await demo.tenantId();
const exists = (p: string) => access(p).then(() => true, () => false);

/** A raw call: path as given (no encoding), body as given. */
async function raw(method: string, path: string, body?: string | Buffer, token?: string, contentType = 'application/json') {
  const res = await request(`${controllerUrl}${path}`, {
    method: method as 'GET', dispatcher, body,
    headers: { 'content-type': contentType, 'x-auth-token': token ?? await demo.authToken() },
  });
  const text = await res.body.text();
  let parsed: { error?: { code: string; message: string } } | undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.statusCode, body: parsed };
}
const alive = async () => (await raw('GET', `/tenants/${tenant}/instances`)).status === 200;

const TRAVERSALS = ['../../../../tmp/ciao-escape', 'x/../x', '..%2F..%2F..%2Ftmp%2Fciao-escape', '..%252F..%252Ftmp', '%2e%2e%2f%2e%2e', '../volumes/x.qcow2'];

t.test('an image id that would leave the images folder is refused; nothing is written outside it', async (t) => {
  for (const id of TRAVERSALS) {
    const r = await raw('POST', '/image/v2/images', JSON.stringify({ id, name: 'evil', disk_format: 'raw', container_format: 'bare' }));
    t.equal(r.status, 400, `create with id ${id}: ${r.body?.error?.message}`);
    t.equal((await raw('PUT', `/image/v2/images/${id}/file`, Buffer.from('data'), undefined, 'application/octet-stream')).status, 404, `upload to ${id}`);
    t.equal((await raw('DELETE', `/image/v2/images/${id}`)).status, 404, `delete of ${id}`);
  }
  t.notOk(await exists('/tmp/ciao-escape'), 'no file outside the state dir');
  t.ok(await alive());
});

t.test('every file-backed resource refuses ids crafted as paths, encoded once or twice, as 404', async (t) => {
  for (const id of TRAVERSALS) {
    for (const path of [`/tenants/${tenant}/volumes/${id}`, `/tenants/${tenant}/instances/${id}`, `/tenants/${tenant}/workloads/${id}`, `/image/v2/images/${id}`, `/v2.1/servers/${id}`]) {
      const r = await raw('GET', path);
      t.equal(r.status, 404, `GET ${path}`);
    }
    t.equal((await raw('DELETE', `/tenants/${tenant}/volumes/${id}`)).status, 404);
    t.equal((await raw('POST', `/tenants/${tenant}/volumes/${id}/attach`, JSON.stringify({ instance_id: randomUUID() }))).status, 404);
  }
  t.ok(await alive());
});

t.test("qcow2 uploads that name a backing file or a data file, or lie about their format, are refused before they are used", async (t) => {
  const dir = t.testdir({});
  const secret = join(plane.dir, 'pki', 'ca.key');
  const files = {
    backing: join(dir, 'backing.qcow2'), dataFile: join(dir, 'data.qcow2'), plain: join(dir, 'plain.qcow2'), raw: join(dir, 'plain.raw'),
  };
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', secret, '-F', 'raw', files.backing, '1M']);
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', `data_file=${join(dir, 'data.raw')}`, files.dataFile, '1M']);
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', files.plain, '1M']);
  await run('qemu-img', ['create', '-q', '-f', 'raw', files.raw, '1M']);
  const upload = async (file: string, disk_format: string) => {
    const { id } = await demo.call<{ id: string }>('POST', '/image/v2/images', { name: `up-${disk_format}`, disk_format, container_format: 'bare' });
    const { readFile } = await import('node:fs/promises');
    const r = await raw('PUT', `/image/v2/images/${id}/file`, await readFile(file), undefined, 'application/octet-stream');
    const image = await demo.call<{ status: string }>('GET', `/image/v2/images/${id}`);
    return { ...r, id, state: image.status };
  };
  const backing = await upload(files.backing, 'qcow2');
  t.match(backing, { status: 400, state: 'queued', body: { error: { message: /backing file/ } } }, 'a backing file (here: the CA key)');
  t.equal((await raw('POST', `/tenants/${tenant}/volumes`, JSON.stringify({ image_id: backing.id, size_mb: 2 }))).status, 422, 'no volume can be made from it');
  t.match(await upload(files.dataFile, 'qcow2'), { status: 400, state: 'queued', body: { error: { message: /data file/ } } }, 'an external data file');
  t.match(await upload(files.plain, 'raw'), { status: 400, body: { error: { message: /its data is qcow2, not the raw/ } } }, 'qcow2 data declared raw');
  t.match(await upload(files.raw, 'qcow2'), { status: 400, body: { error: { message: /its data is raw, not the qcow2/ } } }, 'raw data declared qcow2');
  t.match(await upload(files.plain, 'qcow2'), { status: 204, state: 'active' }, 'a plain qcow2 is taken');
  const images = await readdir(join(plane.dir, 'images'));
  t.notOk(images.some((f) => f.endsWith('.partial')), 'refused uploads leave no partial file');
});

t.test('image bytes count against the image_mb quota; an upload past it is refused and leaves nothing', async (t) => {
  await admin.call('PUT', `/tenants/${tenant}/quotas`, { image_mb: 1 });
  t.teardown(() => admin.call('PUT', `/tenants/${tenant}/quotas`, { image_mb: -1 }));
  const { id } = await demo.call<{ id: string }>('POST', '/image/v2/images', { name: 'too-big', disk_format: 'raw', container_format: 'bare' });
  const r = await raw('PUT', `/image/v2/images/${id}/file`, Buffer.alloc(3 * 2 ** 20), undefined, 'application/octet-stream');
  t.match(r, { status: 422, body: { error: { code: 'over_quota', message: /image_mb/ } } });
  t.equal((await demo.call<{ status: string }>('GET', `/image/v2/images/${id}`)).status, 'queued', 'the image stays without data');
  t.notOk((await readdir(join(plane.dir, 'images'))).some((f) => f.startsWith(id)), 'no file of it is kept');
  const usage = (await demo.call<{ quotas: { name: string; usage: number }[] }>('GET', `/tenants/${tenant}/quotas`)).quotas;
  t.ok(usage.some((q) => q.name === 'image_mb'), 'image_mb is reported with the other quotas');
});

t.test("an image's data that vanished is a 404 on download, and the controller goes on", async (t) => {
  const { id } = await demo.call<{ id: string }>('POST', '/image/v2/images', { name: 'vanishing', disk_format: 'raw', container_format: 'bare' });
  await demo.call('PUT', `/image/v2/images/${id}/file`, Buffer.alloc(1024), 'application/octet-stream');
  await rm(join(plane.dir, 'images', id));
  t.match(await raw('GET', `/image/v2/images/${id}/file`), { status: 404, body: { error: { message: /missing/ } } });
  t.ok(await alive());
});

t.test("a tenant cannot boot an internal image, nor see another tenant's image", async (t) => {
  const { id: internal } = await admin.call<{ id: string }>('POST', '/image/v2/images', { name: 'cnci-only', visibility: 'internal', disk_format: 'raw', container_format: 'bare' });
  await admin.call('PUT', `/image/v2/images/${internal}/file`, Buffer.alloc(512), 'application/octet-stream');
  const flavor = await workloadId(demo, 'qemu');
  for (const ref of [internal, 'cnci-only']) {
    const r = await raw('POST', '/v2.1/servers', JSON.stringify({ server: { name: 'x', flavorRef: flavor, imageRef: ref } }));
    // Nova answers an image it cannot boot with 400.
    t.match(r, { status: 400, body: { error: { code: 'invalid_request', message: /image .* does not exist/ } } }, `imageRef ${ref}`);
  }
  const { id: mine } = await other.call<{ id: string }>('POST', '/image/v2/images', { name: 'theirs', disk_format: 'raw', container_format: 'bare' });
  const theirs = await raw('GET', `/image/v2/images/${mine}`);
  const none = await raw('GET', `/image/v2/images/${randomUUID()}`);
  t.equal(theirs.status, 404, "another tenant's image is not found");
  t.same(theirs.body?.error?.message.replace(mine, 'ID'), none.body?.error?.message.replace(/[0-9a-f-]{36}/, 'ID'), '…in the same words as one that does not exist');
});

t.test('bodies that once crashed the controller or returned 500 are 400s', async (t) => {
  const adminToken = await admin.authToken();
  t.equal((await raw('POST', '/tenants', JSON.stringify({ id: true, name: 'x' }), adminToken)).status, 400, 'a tenant id that is not a string');
  t.equal((await raw('POST', '/tenants', JSON.stringify({ id: '../x', name: 'x' }), adminToken)).status, 400, 'a tenant id that is not a UUID');
  const flavor = await workloadId(demo, 'docker');
  for (const n of [0, -1, 300, 1.5, '2']) {
    t.equal((await raw('POST', '/v2.1/servers', JSON.stringify({ server: { name: 'x', flavorRef: flavor, min_count: n } }))).status, 400, `min_count ${JSON.stringify(n)}`);
  }
  t.equal((await raw('POST', '/v2.1/servers', JSON.stringify({ server: { name: 'x', flavorRef: flavor, min_count: 3, max_count: 2 } }))).status, 400, 'min_count over max_count');
  const { id } = await demo.call<{ id: string }>('POST', '/image/v2/images', { name: 'patchme', disk_format: 'raw', container_format: 'bare' });
  for (const patch of ['[null]', '[1]', '{"op": "replace"}', '[{"op": "replace", "path": "/disk_format", "value": "vmdk"}]']) {
    t.equal((await raw('PATCH', `/image/v2/images/${id}`, patch, undefined, 'application/openstack-images-v2.1-json-patch')).status, 400, `patch ${patch}`);
  }
  t.ok(await alive(), 'the controller is alive');
  const [inst] = await createInstances(demo, flavor);
  t.equal((await waitForState(demo, inst.id, 'active')).state, 'active', 'and still makes instances');
});

t.test('an instance create that cannot be completed leaves no instance, address or quota use behind', async (t) => {
  // A /28 holds 13 instances (.1 is the gateway): 20 cannot all get an address.
  const small = await admin.call<{ id: string }>('POST', '/tenants', { name: 'small', config: { subnet_bits: 28 } });
  const path = `/tenants/${small.id}`;
  const r = await raw('POST', `${path}/instances`, JSON.stringify({ workload_id: await workloadId(demo, 'docker'), count: 20 }), await admin.authToken());
  t.match(r, { status: 409, body: { error: { code: 'pool_exhausted' } } });
  t.same((await admin.call<{ instances: unknown[] }>('GET', `${path}/instances`)).instances, [], 'no instance');
  const usage = (await admin.call<{ quotas: { name: string; usage: number }[] }>('GET', `${path}/quotas`)).quotas;
  t.equal(usage.find((q) => q.name === 'instances')!.usage, 0, 'no quota use');
  t.equal((await admin.call<{ cnci: unknown }>('GET', path)).cnci, null, 'not even its CNCI was started');
});

t.test('an external-IP pool larger than /16 is refused at once', async (t) => {
  const t0 = performance.now();
  const r = await raw('POST', '/pools', JSON.stringify({ name: 'huge', subnet: '10.64.0.0/10' }), await admin.authToken());
  t.equal(r.status, 400);
  t.ok(performance.now() - t0 < 1000, 'without computing its addresses');
  t.ok(await alive());
});
