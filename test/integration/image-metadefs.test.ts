// Glance's metadata definitions catalogue (metadefs): an admin writes namespaces and what they hold,
// tenants read the public ones and their own; protected namespaces keep their contents; hostile
// bodies are refused; and a controller restart keeps all of it.
import t from 'tap';
import { startControlPlane } from '../helpers/control-plane.ts';
import { failure } from '../helpers/call-status.ts';

const plane = await startControlPlane({ nodes: 1 });
t.teardown(() => plane.close());
const { demo, admin } = plane;
const NS = '/image/v2/metadefs/namespaces';

type Namespace = Record<string, unknown> & { namespace: string; visibility: string; protected: boolean; owner: string };
const names = async (client: typeof demo, query = '') =>
  (await client.call<{ namespaces: Namespace[] }>('GET', `${NS}${query}`)).namespaces.map((n) => n.namespace);

t.test('an admin creates, shows, updates and deletes a namespace; protected is not deletable', async (t) => {
  const made = await admin.call<Namespace>('POST', NS, {
    namespace: 'OS::Test::One', display_name: 'One', description: 'first', visibility: 'public', protected: true,
    resource_type_associations: [{ name: 'OS::Glance::Image', prefix: 'one_' }], tags: [{ name: 'a' }],
  });
  t.match(made, { namespace: 'OS::Test::One', visibility: 'public', protected: true, self: '/v2/metadefs/namespaces/OS%3A%3ATest%3A%3AOne' });
  t.match((await admin.call<Namespace>('GET', `${NS}/OS::Test::One`)).resource_type_associations, [{ name: 'OS::Glance::Image', prefix: 'one_' }]);
  t.equal(await failure(admin.call('POST', NS, { namespace: 'OS::Test::One' })), 409, 'a second namespace of that name');
  t.equal(await failure(admin.call('DELETE', `${NS}/OS::Test::One`)), 403, 'protected');
  t.equal(await failure(admin.call('DELETE', `${NS}/OS::Test::One/tags/a`)), 403, 'nothing inside a protected namespace is deleted');
  const updated = await admin.call<Namespace>('PUT', `${NS}/OS::Test::One`, { namespace: 'OS::Test::Renamed', visibility: 'private', protected: false });
  t.match(updated, { namespace: 'OS::Test::Renamed', visibility: 'private', protected: false, tags: [{ name: 'a' }] }, 'renamed, with its tags');
  t.equal(await failure(admin.call('GET', `${NS}/OS::Test::One`)), 404, 'the old name is gone');
  await admin.call('DELETE', `${NS}/OS::Test::Renamed`);
  t.equal(await failure(admin.call('GET', `${NS}/OS::Test::Renamed`)), 404);
});

t.test('a tenant reads public namespaces only, and writes nothing', async (t) => {
  await admin.call('POST', NS, { namespace: 'pub', visibility: 'public' });
  await admin.call('POST', NS, { namespace: 'priv' });
  t.ok((await names(demo)).includes('pub'));
  t.notOk((await names(demo)).includes('priv'), 'another project\'s private namespace is not listed');
  t.equal(await failure(demo.call('GET', `${NS}/priv`)), 404, 'nor shown');
  t.ok((await names(admin)).includes('priv'), 'the admin sees it');
  t.same(await names(admin, '?visibility=private&resource_types=OS::Nova::Flavor'), [], 'filters');
  t.equal(await failure(demo.call('POST', NS, { namespace: 'mine' })), 403, 'a tenant cannot create');
  t.equal(await failure(demo.call('POST', `${NS}/pub/tags/x`)), 403, 'nor add to a public one');
  t.equal(await failure(demo.call('DELETE', `${NS}/pub`)), 403, 'nor delete it');
  const page = await admin.call<{ namespaces: Namespace[]; next?: string }>('GET', `${NS}?limit=1&sort_key=namespace&sort_dir=asc`);
  t.equal(page.namespaces.length, 1);
  t.match(page.next, /marker=/, 'a next page');
});

t.test('objects, properties, tags and resource type associations', async (t) => {
  await admin.call('POST', NS, { namespace: 'parts', visibility: 'public' });
  const base = `${NS}/parts`;
  const prop = { title: 'Hypervisor', type: 'string', enum: ['kvm', 'qemu'] };
  t.match(await admin.call('POST', `${base}/properties`, { name: 'OS::Glance::Image', ...prop }), { name: 'OS::Glance::Image', title: 'Hypervisor' });
  t.equal(await failure(admin.call('POST', `${base}/properties`, { name: 'OS::Glance::Image', ...prop })), 409);
  t.match(await admin.call('PUT', `${base}/properties/OS::Glance::Image`, { name: 'hv', ...prop, title: 'HV' }), { name: 'hv', title: 'HV' });
  t.same(Object.keys((await demo.call<{ properties: object }>('GET', `${base}/properties`)).properties), ['hv'], 'renamed');
  await admin.call('DELETE', `${base}/properties/hv`);
  t.equal(await failure(demo.call('GET', `${base}/properties/hv`)), 404);

  t.match(await admin.call('POST', `${base}/objects`, { name: 'cpu', required: ['cores'], properties: { cores: { title: 'Cores', type: 'integer', minimum: 1 } } }), { name: 'cpu', schema: '/v2/schemas/metadefs/object' });
  t.match(await admin.call('PUT', `${base}/objects/cpu`, { name: 'cpu2' }), { name: 'cpu2' });
  t.match(await demo.call('GET', `${base}/objects/cpu2`), { name: 'cpu2' });
  await admin.call('DELETE', `${base}/objects/cpu2`);
  t.same((await demo.call<{ objects: unknown[] }>('GET', `${base}/objects`)).objects, []);

  await admin.call('POST', `${base}/tags`, { tags: [{ name: 't1' }, { name: 't2' }] });
  t.equal(await failure(admin.call('POST', `${base}/tags`, { tags: [{ name: 'd' }, { name: 'd' }] })), 409, 'a repeated tag');
  t.equal((await demo.call<{ tags: unknown[] }>('GET', `${base}/tags`)).tags.length, 2, 'the refused request changed nothing');
  await admin.call('POST', `${base}/tags/t3`);
  t.equal(await failure(admin.call('POST', `${base}/tags/t3`)), 409);
  t.match(await admin.call('PUT', `${base}/tags/t3`, { name: 't4' }), { name: 't4' });
  await admin.call('DELETE', `${base}/tags/t4`);
  t.same((await demo.call<{ tags: { name: string }[] }>('GET', `${base}/tags`)).tags.map((x) => x.name), ['t1', 't2']);
  await admin.call('DELETE', `${base}/tags`);
  t.same((await demo.call<{ tags: unknown[] }>('GET', `${base}/tags`)).tags, []);

  const types = (await demo.call<{ resource_types: { name: string }[] }>('GET', '/image/v2/metadefs/resource_types')).resource_types.map((r) => r.name);
  t.ok(types.includes('OS::Glance::Image'));
  t.match(await admin.call('POST', `${base}/resource_types`, { name: 'OS::Nova::Flavor', prefix: 'hw:' }), { name: 'OS::Nova::Flavor', prefix: 'hw:' });
  t.equal(await failure(admin.call('POST', `${base}/resource_types`, { name: 'OS::Nova::Flavor' })), 409);
  t.ok((await names(demo, '?resource_types=OS::Nova::Flavor')).includes('parts'), 'the list filters by resource type');
  await admin.call('DELETE', `${base}/resource_types/OS::Nova::Flavor`);
  t.same((await demo.call<{ resource_type_associations: unknown[] }>('GET', `${base}/resource_types`)).resource_type_associations, []);
});

t.test('hostile bodies are refused with 400', async (t) => {
  const deep = JSON.parse('{"a":'.repeat(50) + '1' + '}'.repeat(50));
  t.equal(await failure(admin.call('POST', NS, { namespace: 'x'.repeat(81) })), 400, 'a name too long');
  t.equal(await failure(admin.call('POST', NS, { namespace: 'a/b' })), 400, 'a slash in a name');
  t.equal(await failure(admin.call('POST', NS, { namespace: 'v', visibility: 'shared' })), 400, 'an unknown visibility');
  t.equal(await failure(admin.call('POST', NS, { namespace: 'v', surprise: 1 })), 400, 'an unknown field');
  await admin.call('POST', NS, { namespace: 'hostile' });
  t.equal(await failure(admin.call('POST', `${NS}/hostile/properties`, { name: 'p', title: 'P', type: 'string', default: deep })), 400, 'a deep default');
  t.equal(await failure(admin.call('POST', `${NS}/hostile/properties`, { name: 'p', title: 'P', type: 'blob' })), 400, 'an unknown type');
  t.equal(await failure(admin.call('POST', `${NS}/hostile/tags`, { tags: Array.from({ length: 300 }, (_, i) => ({ name: `t${i}` })) })), 400, 'too many tags');
  t.equal(await failure(admin.call('GET', `${NS}?limit=-1`)), 400, 'a negative limit');
});

t.test('the metadefs schemas are served', async (t) => {
  const expect = { namespace: 'namespace', namespaces: 'namespaces', resource_type: 'resource_type_association', resource_types: 'resource_type_associations', object: 'object', objects: 'objects', property: 'property', properties: 'properties', tag: 'tag', tags: 'tags' };
  for (const [path, name] of Object.entries(expect)) t.equal((await demo.call<{ name: string }>('GET', `/image/v2/schemas/metadefs/${path}`)).name, name, path);
});

t.test('a controller restart keeps namespaces and their contents', async (t) => {
  await admin.call('POST', NS, { namespace: 'kept', visibility: 'public', protected: true, objects: [{ name: 'o' }], properties: { p: { title: 'P', type: 'boolean' } } });
  await plane.restartController();
  t.match(await demo.call('GET', `${NS}/kept`), { namespace: 'kept', protected: true, objects: [{ name: 'o' }], properties: { p: { title: 'P' } } });
  t.equal(await failure(admin.call('DELETE', `${NS}/kept`)), 403, 'still protected');
});
