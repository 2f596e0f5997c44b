// A server's tags (microversion 2.26, Nova's /servers/{id}/tags): strings kept on the instance,
// listed, replaced whole, added, checked and removed one at a time. Before 2.26 none of it exists.
import { ApiError, badRequest, notFound } from '../../../shared/errors.ts';
import { reply, type Request } from '../../../shared/http-router.ts';
import type { Instance } from '../../api-types.ts';
import { atLeast } from '../compute-scope.ts';
import { MAX_SERVER_TAGS, ServerTag, ServerTags } from '../request-schemas.ts';
import type { ComputeApi } from './context.ts';
import { z } from 'zod';

const TagsBody = z.strictObject({ tags: ServerTags });

export function serverTagRoutes(api: ComputeApi): void {
  const { s } = api;
  /** The server, when the version has tags (404 before 2.26, as for any path Nova does not serve). */
  const server = async (req: Request) => {
    if (!atLeast(req, '2.26')) throw notFound('resource', req.path);
    const { tenant } = await api.scoped(req);
    return { tenant, inst: s.instances.get(tenant, req.params.id) };
  };
  /** Nova changes tags only on a server that is not being built or deleted (409 then). */
  const changeable = (inst: Instance) => {
    if (inst.state === 'pending' || inst.state === 'deleting') throw new ApiError('invalid_state', `instance ${inst.id} is ${inst.state}: its tags can be changed once it is built`);
  };
  const save = async (req: Request, tags: string[]) => {
    const { tenant, inst } = await server(req);
    changeable(inst);
    return s.instances.update(tenant, inst.id, { tags }).tags ?? [];
  };
  const tag = { params: { tag: ServerTag } };

  api.on('GET', '/servers/:id/tags', async (req) => reply(200, { tags: (await server(req)).inst.tags ?? [] }));
  api.on('PUT', '/servers/:id/tags', async (req) => {
    const { tags } = await req.body(TagsBody);
    return reply(200, { tags: await save(req, [...new Set(tags)]) });
  });
  api.on('DELETE', '/servers/:id/tags', async (req) => (await save(req, []), reply(204)));

  api.on('GET', '/servers/:id/tags/:tag', async (req) => {
    if (!((await server(req)).inst.tags ?? []).includes(req.params.tag)) throw notFound('tag', req.params.tag);
    return reply(204);
  }, tag);
  // 201 with its location when the tag is new, 204 when the server had it.
  api.on('PUT', '/servers/:id/tags/:tag', async (req) => {
    const { inst } = await server(req);
    changeable(inst);
    const current = inst.tags ?? [];
    if (current.includes(req.params.tag)) return reply(204);
    if (current.length >= MAX_SERVER_TAGS) throw badRequest(`a server has at most ${MAX_SERVER_TAGS} tags`);
    await save(req, [...current, req.params.tag]);
    return reply(201, undefined, { Location: api.url(`/servers/${req.params.id}/tags/${encodeURIComponent(req.params.tag)}`) });
  }, tag);
  api.on('DELETE', '/servers/:id/tags/:tag', async (req) => {
    const current = (await server(req)).inst.tags ?? [];
    if (!current.includes(req.params.tag)) throw notFound('tag', req.params.tag);
    await save(req, current.filter((t) => t !== req.params.tag));
    return reply(204);
  }, tag);
}
