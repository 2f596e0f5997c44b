// Compute v2.1 os-server-groups (docs/api.md): a project's server groups, created with one policy
// (affinity, anti-affinity; soft-* from 2.15), listed, shown with their members, deleted.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ApiError } from '../../shared/errors.ts';
import { reply, type Request, type Router } from '../../shared/http-router.ts';
import type { ServerGroup } from '../api-types.ts';
import { now } from '../context.ts';
import { limitOf, UNLIMITED } from '../quotas.ts';
import { findServerGroup, membersOf } from '../server-groups.ts';
import type { Services } from '../services.ts';
import { atLeast, computeCaller, computeRoute } from './compute-scope.ts';

const NewServerGroup = z.strictObject({
  server_group: z.strictObject({
    name: z.string().regex(/^\S(.*\S)?$/, 'must not be empty nor start or end with white space').max(255),
    policies: z.tuple([z.enum(['affinity', 'anti-affinity', 'soft-affinity', 'soft-anti-affinity'])]),
  }),
});

export function serverGroupRoutes(router: Router, s: Services): void {
  const on = computeRoute(router);
  const view = (g: ServerGroup, req: Request) => ({
    id: g.id, name: g.name, policies: [g.policy], members: membersOf(s.store, g).map((i) => i.id), metadata: {},
    ...(atLeast(req, '2.13') ? { project_id: g.tenant_id, user_id: g.user_id } : {}),
  });

  on('GET', '/os-server-groups', async (req) => {
    const { caller, tenant } = await computeCaller(s, req);
    const all = caller.admin && /^(1|true|yes)$/i.test(req.query.get('all_projects') ?? '');
    const groups = all ? s.store.serverGroups.all() : s.store.serverGroups.byTenant(tenant.id);
    return reply(200, { server_groups: groups.map((g) => view(g, req)) });
  });
  on('POST', '/os-server-groups', async (req) => {
    const { caller, tenant } = await computeCaller(s, req);
    const { server_group: body } = await req.body(NewServerGroup);
    const policy = body.policies[0];
    if (policy.startsWith('soft-') && !atLeast(req, '2.15')) throw new ApiError('invalid_request', `policy ${policy} needs microversion 2.15 or later`);
    const limit = limitOf(s.store.quotas.get(tenant.id), 'server_groups');
    if (limit !== UNLIMITED && s.store.serverGroups.byTenant(tenant.id).length >= limit) {
      throw new ApiError('forbidden', `Quota exceeded, too many server groups: server_groups is ${limit}`);
    }
    const g: ServerGroup = { id: randomUUID(), tenant_id: tenant.id, user_id: caller.userId, name: body.name, policy, created_at: now() };
    s.store.serverGroups.put(g);
    return reply(200, { server_group: view(g, req) });
  });
  on('GET', '/os-server-groups/:id', async (req) => {
    const { caller, tenant } = await computeCaller(s, req);
    return reply(200, { server_group: view(findServerGroup(s.store, tenant, req.params.id, caller.admin), req) });
  });
  on('DELETE', '/os-server-groups/:id', async (req) => {
    const { caller, tenant } = await computeCaller(s, req);
    s.store.serverGroups.delete(findServerGroup(s.store, tenant, req.params.id, caller.admin).id);
    return reply(204);
  });
}
