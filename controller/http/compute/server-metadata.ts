// A server's metadata: key/value pairs kept on the instance, read, replaced, merged and removed
// whole or one key at a time (Nova's /servers/{id}/metadata).
import { ApiError, badRequest, notFound } from '../../../shared/errors.ts';
import { reply } from '../../../shared/http-router.ts';
import type { Tenant } from '../../api-types.ts';
import type { Caller } from '../../auth.ts';
import { MAX_METADATA_ITEMS, MetadataBody, MetadataItemBody, MetadataKey } from '../request-schemas.ts';
import type { ComputeApi } from './context.ts';

export function serverMetadataRoutes(api: ComputeApi): void {
  const { s } = api;
  const current = (tenant: Tenant, id: string) => s.instances.get(tenant, id).metadata ?? {};
  const store = (caller: Caller, tenant: Tenant, id: string, metadata: Record<string, string>) => {
    if (Object.keys(metadata).length > MAX_METADATA_ITEMS) {
      throw new ApiError('forbidden', `Quota exceeded for metadata_items: a server has at most ${MAX_METADATA_ITEMS} metadata items`);
    }
    return s.instances.update(tenant, id, { metadata }, caller.admin).metadata ?? {};
  };
  const key = { params: { key: MetadataKey } };

  api.on('GET', '/servers/:id/metadata', async (req) => reply(200, { metadata: current((await api.scoped(req)).tenant, req.params.id) }));
  // PUT replaces the whole set, POST merges into it.
  api.on('PUT', '/servers/:id/metadata', async (req) => {
    const { caller, tenant } = await api.scoped(req);
    const { metadata } = await req.body(MetadataBody);
    return reply(200, { metadata: store(caller, tenant, req.params.id, metadata) });
  });
  api.on('POST', '/servers/:id/metadata', async (req) => {
    const { caller, tenant } = await api.scoped(req);
    const { metadata } = await req.body(MetadataBody);
    return reply(200, { metadata: store(caller, tenant, req.params.id, { ...current(tenant, req.params.id), ...metadata }) });
  });

  api.on('GET', '/servers/:id/metadata/:key', async (req) => {
    const metadata = current((await api.scoped(req)).tenant, req.params.id);
    if (!Object.hasOwn(metadata, req.params.key)) throw notFound('metadata item', req.params.key);
    return reply(200, { meta: { [req.params.key]: metadata[req.params.key] } });
  }, key);
  api.on('PUT', '/servers/:id/metadata/:key', async (req) => {
    const { caller, tenant } = await api.scoped(req);
    const { meta } = await req.body(MetadataItemBody);
    const keys = Object.keys(meta);
    if (keys.length !== 1) throw badRequest('meta must hold exactly one item');
    if (keys[0] !== req.params.key) throw badRequest(`the item's key ${keys[0]} is not the key in the URL, ${req.params.key}`);
    store(caller, tenant, req.params.id, { ...current(tenant, req.params.id), ...meta });
    return reply(200, { meta });
  }, key);
  api.on('DELETE', '/servers/:id/metadata/:key', async (req) => {
    const { caller, tenant } = await api.scoped(req);
    const { [req.params.key]: gone, ...rest } = current(tenant, req.params.id);
    if (gone === undefined) throw notFound('metadata item', req.params.key);
    store(caller, tenant, req.params.id, rest);
    return reply(204);
  }, key);
}
