// Compute v2.1 os-server-groups (docs/api.md): a project's server groups, created with one policy
// (affinity, anti-affinity; soft-* from 2.15; `policy` and `rules` for `policies` from 2.64),
// listed, shown with their members, deleted.
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

const Policy = z.enum(['affinity', 'anti-affinity', 'soft-affinity', 'soft-anti-affinity']);
const NewServerGroup = z.strictObject({
  server_group: z.strictObject({
    name: z.string().regex(/^\S(.*\S)?$/, 'must not be empty nor start or end with white space').max(255),
    // `policies` (one) before 2.64, `policy` and `rules` from it: checked where the body is read.
    policies: z.tuple([Policy]).optional(),
    policy: Policy.optional(),
    rules: z.record(z.string().max(255), z.unknown()).optional(),
  }),
});

/** The policy a create asks for, in the form of its microversion (Nova's schemas: 400 otherwise). */
function askedPolicy(req: Request, body: z.output<typeof NewServerGroup>['server_group']): ServerGroup['policy'] {
  if (!atLeast(req, '2.64')) {
    if (!body.policies || body.policy || body.rules) throw new ApiError('invalid_request', 'Invalid input: a server group has policies (one of them) before microversion 2.64, policy and rules from it');
    return body.policies[0];
  }
  if (!body.policy || body.policies) throw new ApiError('invalid_request', 'Invalid input: from microversion 2.64 a server group has policy (and rules), not policies');
  if (body.rules && Object.keys(body.rules).length) {
    // Nova's one rule, max_server_per_host, is not kept: anti-affinity here is one member per node.
    throw new ApiError('invalid_request', 'server group rules are not supported: anti-affinity keeps each member on its own node');
  }
  return body.policy;
}

export function serverGroupRoutes(router: Router, s: Services): void {
  const on = computeRoute(router);
  const view = (g: ServerGroup, req: Request) => ({
    id: g.id, name: g.name, members: membersOf(s.store, g).map((i) => i.id),
    ...(atLeast(req, '2.64') ? { policy: g.policy, rules: {} } : { policies: [g.policy], metadata: {} }),
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
    const policy = askedPolicy(req, body);
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
