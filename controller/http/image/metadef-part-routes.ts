// What a metadata definitions namespace holds: its objects, properties and tags
// (/image/v2/metadefs/namespaces/{ns}/objects|properties|tags; controller/metadefs.ts).
import type { MetadefObject } from '../../api-types.ts';
import type { Caller } from '../../auth.ts';
import { ObjectBody, PropertyBody, TagBody, TagsBody } from '../../metadef-bodies.ts';
import type { Services } from '../../services.ts';
import { reply, type Request, type Router } from '../../../shared/http-router.ts';
import { MetadefParams, NAMESPACES, nsSelf } from './metadef-routes.ts';

const objectView = (ns: string, o: MetadefObject) => ({
  ...o, schema: '/v2/schemas/metadefs/object', self: `${nsSelf(ns)}/objects/${encodeURIComponent(o.name)}`,
});

export function metadefPartRoutes(router: Router, s: Services, caller: (req: Request) => Promise<Caller>): void {
  const on = (method: string, path: string, handler: (req: Request, c: Caller) => Promise<ReturnType<typeof reply>>) =>
    router.on(method, `${NAMESPACES}/:ns${path}`, async (req) => handler(req, await caller(req)), MetadefParams);

  on('GET', '/objects', async (req, c) => {
    const ns = s.metadefs.get(c, req.params.ns);
    return reply(200, { objects: ns.objects.map((o) => objectView(ns.id, o)), schema: '/v2/schemas/metadefs/objects' });
  });
  on('POST', '/objects', async (req, c) => reply(201, objectView(req.params.ns, s.metadefs.addObject(c, req.params.ns, await req.body(ObjectBody)))));
  on('GET', '/objects/:name', async (req, c) => reply(200, objectView(req.params.ns, s.metadefs.part(c, req.params.ns, 'objects', req.params.name))));
  on('PUT', '/objects/:name', async (req, c) => {
    const body = await req.body(ObjectBody);
    return reply(200, objectView(req.params.ns, s.metadefs.updateObject(c, req.params.ns, req.params.name, body)));
  });
  on('DELETE', '/objects/:name', async (req, c) => (s.metadefs.removePart(c, req.params.ns, 'objects', req.params.name), reply(204)));
  on('DELETE', '/objects', async (req, c) => (s.metadefs.removePart(c, req.params.ns, 'objects'), reply(204)));

  on('GET', '/properties', async (req, c) => reply(200, { properties: s.metadefs.get(c, req.params.ns).properties }));
  on('POST', '/properties', async (req, c) => {
    const { name, ...fields } = await req.body(PropertyBody);
    return reply(201, { name, ...s.metadefs.setProperty(c, req.params.ns, undefined, name, fields) });
  });
  on('GET', '/properties/:name', async (req, c) => reply(200, { name: req.params.name, ...s.metadefs.property(c, req.params.ns, req.params.name) }));
  on('PUT', '/properties/:name', async (req, c) => {
    const { name, ...fields } = await req.body(PropertyBody);
    return reply(200, { name, ...s.metadefs.setProperty(c, req.params.ns, req.params.name, name, fields) });
  });
  on('DELETE', '/properties/:name', async (req, c) => (s.metadefs.removePart(c, req.params.ns, 'properties', req.params.name), reply(204)));
  on('DELETE', '/properties', async (req, c) => (s.metadefs.removePart(c, req.params.ns, 'properties'), reply(204)));

  on('GET', '/tags', async (req, c) => reply(200, { tags: s.metadefs.get(c, req.params.ns).tags }));
  // Glance replaces the namespace's tags unless X-Openstack-Append says to add to them.
  on('POST', '/tags', async (req, c) => {
    const { tags } = await req.body(TagsBody);
    const append = req.header('x-openstack-append')?.toLowerCase() === 'true';
    return reply(201, { tags: s.metadefs.addTags(c, req.params.ns, tags.map((t) => t.name), append) });
  });
  on('DELETE', '/tags', async (req, c) => (s.metadefs.removePart(c, req.params.ns, 'tags'), reply(204)));
  on('POST', '/tags/:name', async (req, c) => reply(201, s.metadefs.addTags(c, req.params.ns, [req.params.name], true)[0]));
  on('GET', '/tags/:name', async (req, c) => reply(200, s.metadefs.part(c, req.params.ns, 'tags', req.params.name)));
  on('PUT', '/tags/:name', async (req, c) => {
    const { name } = await req.body(TagBody);
    return reply(200, s.metadefs.renameTag(c, req.params.ns, req.params.name, name));
  });
  on('DELETE', '/tags/:name', async (req, c) => (s.metadefs.removePart(c, req.params.ns, 'tags', req.params.name), reply(204)));
}
