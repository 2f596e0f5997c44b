// Compute server groups (Nova's os-server-groups): a project's named placement policy. Its members
// are the instances made with `scheduler_hints: {group: id}`; each member's START carries the group
// and the nodes of the members already placed, and the scheduler enforces the policy
// (scheduler/placement.ts).
import { ApiError, badRequest, notFound } from '../shared/errors.ts';
import type { Instance, ServerGroup, Tenant } from './api-types.ts';
import type { Datastore } from './datastore/datastore.ts';
import type { Requirements } from '../protocol/payloads.ts';
import { limitOf, UNLIMITED } from './quotas.ts';

export function findServerGroup(store: Datastore, tenant: Tenant, id: string, admin = false): ServerGroup {
  const g = store.serverGroups.get(id);
  if (!g || (g.tenant_id !== tenant.id && !admin)) throw notFound('server group', id);
  return g;
}

/** The group's members: its instances that are not being deleted. */
export const membersOf = (store: Datastore, g: ServerGroup): Instance[] =>
  store.instances.byTenant(g.tenant_id).filter((i) => i.server_group === g.id && i.state !== 'deleting');

/** The group `count` new servers join (scheduler_hints.group): 400 when it is not the project's, 403 over server_group_members. */
export function groupToJoin(store: Datastore, tenant: Tenant, id: string, count: number): ServerGroup {
  const g = store.serverGroups.get(id);
  if (!g || g.tenant_id !== tenant.id) throw badRequest(`scheduler_hints.group: server group ${id} does not exist`);
  const limit = limitOf(store.quotas.get(tenant.id), 'server_group_members');
  const members = membersOf(store, g).length;
  if (limit !== UNLIMITED && members + count > limit) {
    throw new ApiError('forbidden', `Quota exceeded, too many servers in group: server_group_members is ${limit} and group ${id} has ${members}`);
  }
  return g;
}

/** What a member's START asks of the scheduler: the policy and where the other members are. */
export function groupRequirement(store: Datastore, inst: Instance): Requirements['group'] {
  const g = inst.server_group ? store.serverGroups.get(inst.server_group) : undefined;
  if (!g) return undefined;
  const nodes = membersOf(store, g).filter((m) => m.id !== inst.id && m.node_id).map((m) => m.node_id!);
  return { id: g.id, policy: g.policy, nodes: [...new Set(nodes)] };
}
