// Glance's metadata definitions under /image/v2/metadefs: namespaces and resource types here,
// a namespace's objects, properties and tags in metadef-part-routes.ts (controller/metadefs.ts).
import type { MetadefNamespace } from '../../api-types.ts';
import type { Caller } from '../../auth.ts';
import { AssociationBody, MetadefName, NamespaceBody, NamespaceListQuery } from '../../metadef-bodies.ts';
import type { Services } from '../../services.ts';
import { reply, type Request, type Router } from '../../../shared/http-router.ts';
import { metadefPartRoutes } from './metadef-part-routes.ts';

export const NAMESPACES = '/image/v2/metadefs/namespaces';
/** Path parameters of the metadefs routes: names, as Glance keeps them. */
export const MetadefParams = { params: { ns: MetadefName, name: MetadefName } };

export const nsSelf = (name: string) => `/v2/metadefs/namespaces/${encodeURIComponent(name)}`;

/** A namespace as Glance shows it; the list leaves out its properties, objects and tags. */
const namespaceView = (ns: MetadefNamespace, full: boolean) => ({
  namespace: ns.id,
  ...(ns.display_name !== undefined ? { display_name: ns.display_name } : {}),
  ...(ns.description !== undefined ? { description: ns.description } : {}),
  visibility: ns.visibility, protected: ns.protected, owner: ns.owner, created_at: ns.created_at, updated_at: ns.updated_at,
  schema: '/v2/schemas/metadefs/namespace', self: nsSelf(ns.id),
  ...(ns.resource_type_associations.length ? { resource_type_associations: ns.resource_type_associations } : {}),
  ...(full && Object.keys(ns.properties).length ? { properties: ns.properties } : {}),
  ...(full && ns.objects.length ? { objects: ns.objects } : {}),
  ...(full && ns.tags.length ? { tags: ns.tags } : {}),
});

export function metadefRoutes(router: Router, s: Services, caller: (req: Request) => Promise<Caller>): void {
  router.on('GET', NAMESPACES, async (req) => {
    const c = await caller(req);
    const q = req.queryOf(NamespaceListQuery);
    const { namespaces, next } = s.metadefs.list(c, q);
    const rest = [...req.query].filter(([k]) => k !== 'marker');
    return reply(200, {
      namespaces: namespaces.map((ns) => namespaceView(ns, false)), schema: '/v2/schemas/metadefs/namespaces', first: '/v2/metadefs/namespaces',
      ...(next ? { next: `/v2/metadefs/namespaces?${new URLSearchParams([...rest, ['marker', next]])}` } : {}),
    });
  });
  router.on('POST', NAMESPACES, async (req) => {
    const c = await caller(req);
    const ns = s.metadefs.create(c, await req.body(NamespaceBody));
    return reply(201, namespaceView(ns, true));
  });
  router.on('GET', `${NAMESPACES}/:ns`, async (req) => reply(200, namespaceView(s.metadefs.get(await caller(req), req.params.ns), true)), MetadefParams);
  router.on('PUT', `${NAMESPACES}/:ns`, async (req) => {
    const c = await caller(req);
    return reply(200, namespaceView(s.metadefs.update(c, req.params.ns, await req.body(NamespaceBody)), true));
  }, MetadefParams);
  router.on('DELETE', `${NAMESPACES}/:ns`, async (req) => (s.metadefs.delete(await caller(req), req.params.ns), reply(204)), MetadefParams);

  router.on('GET', '/image/v2/metadefs/resource_types', async (req) => {
    await caller(req);
    return reply(200, { resource_types: s.metadefs.resourceTypes() });
  });
  const associations = `${NAMESPACES}/:ns/resource_types`;
  router.on('GET', associations, async (req) => {
    const ns = s.metadefs.get(await caller(req), req.params.ns);
    return reply(200, { resource_type_associations: ns.resource_type_associations });
  }, MetadefParams);
  router.on('POST', associations, async (req) => {
    const c = await caller(req);
    return reply(201, s.metadefs.associate(c, req.params.ns, await req.body(AssociationBody)));
  }, MetadefParams);
  router.on('DELETE', `${associations}/:name`, async (req) => {
    s.metadefs.removePart(await caller(req), req.params.ns, 'resource_type_associations', req.params.name);
    return reply(204);
  }, MetadefParams);

  metadefPartRoutes(router, s, caller);
}
