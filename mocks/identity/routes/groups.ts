// /v3/groups and their members. A group's roles (routes/roles.ts) count for each member.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { reply, type Router } from '../../../shared/http-router.ts';
import type { Group } from '../config.ts';
import { conflict, Name, notFound, parse, type Helpers, type IdentityContext } from '../context.ts';
import type { Views } from '../views.ts';

const Description = z.string().max(65535);
const NewGroup = z.object({ group: z.object({ name: Name, domain_id: z.string().nullish(), description: Description.nullish() }) });
const GroupPatch = z.object({ group: z.object({ name: Name.optional(), description: Description.nullish() }) });

export function addGroupRoutes(router: Router, ctx: IdentityContext, h: Helpers, v: Views) {
  const { config } = ctx;
  const { changed } = h;
  const nameTaken = (name: string, domainId: string, except?: Group) => config.groups.some((g) => g !== except && g.name === name && g.domain_id === domainId);

  router.on('GET', '/v3/groups', async (req) => {
    h.adminCaller(req);
    const domainId = req.query.get('domain_id');
    return h.list('groups', h.named(req, config.groups).filter((g) => domainId === null || g.domain_id === domainId).map(v.groupView), req);
  });
  router.on('GET', '/v3/groups/:id', async (req) => (h.adminCaller(req), reply(200, { group: v.groupView(h.groupById(req.params.id)) })));
  router.on('POST', '/v3/groups', async (req) => {
    h.adminCaller(req);
    const { group: g } = parse(NewGroup, await req.jsonValue());
    const domainId = h.existingDomain(g.domain_id);
    if (nameTaken(g.name, domainId)) throw conflict(`group ${g.name}`);
    const group: Group = { id: randomUUID().replaceAll('-', ''), name: g.name, domain_id: domainId, description: g.description ?? '', users: [], roles: [] };
    config.groups.push(group);
    changed('group created', group);
    return reply(201, { group: v.groupView(group) });
  });
  router.on('PATCH', '/v3/groups/:id', async (req) => {
    h.adminCaller(req);
    const group = h.groupById(req.params.id);
    const { group: patch } = parse(GroupPatch, await req.jsonValue());
    if (patch.name && nameTaken(patch.name, group.domain_id, group)) throw conflict(`group ${patch.name}`);
    group.name = patch.name ?? group.name;
    group.description = patch.description ?? group.description;
    changed('group updated', group);
    return reply(200, { group: v.groupView(group) });
  });
  router.on('DELETE', '/v3/groups/:id', async (req) => {
    h.adminCaller(req);
    const group = h.groupById(req.params.id);
    config.groups.splice(config.groups.indexOf(group), 1);
    changed('group deleted', group);
    return reply(204);
  });

  router.on('GET', '/v3/groups/:id/users', async (req) => {
    h.adminCaller(req);
    const group = h.groupById(req.params.id);
    return h.list('users', config.users.filter((u) => group.users.includes(u.id)).map(v.userView), req);
  });
  router.on('GET', '/v3/groups/:id/users/:user', async (req) => {
    h.adminCaller(req);
    const group = h.groupById(req.params.id);
    const user = h.userById(req.params.user);
    if (!group.users.includes(user.id)) throw notFound('group member', user.id);
    return reply(204);
  });
  router.on('PUT', '/v3/groups/:id/users/:user', async (req) => {
    h.adminCaller(req);
    const group = h.groupById(req.params.id);
    const user = h.userById(req.params.user);
    if (!group.users.includes(user.id)) {
      group.users.push(user.id);
      changed('group member added', group, { user: user.name });
    }
    return reply(204);
  });
  router.on('DELETE', '/v3/groups/:id/users/:user', async (req) => {
    h.adminCaller(req);
    const group = h.groupById(req.params.id);
    const user = h.userById(req.params.user);
    if (!group.users.includes(user.id)) throw notFound('group member', user.id);
    group.users = group.users.filter((id) => id !== user.id);
    changed('group member removed', group, { user: user.name });
    return reply(204);
  });
}
