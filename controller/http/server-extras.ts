// What a server create takes beyond the flavor and image (Compute v2.1): its keypair (key_name,
// 400 when the user has none of that name), its server group (scheduler_hints.group) and the
// metadata limit (403 over it, as Nova's quota answers).
import { ApiError, badRequest } from '../../shared/errors.ts';
import type { Instance, Tenant } from '../api-types.ts';
import type { Datastore } from '../datastore/datastore.ts';
import { keypairsOf } from '../keypairs.ts';
import { groupToJoin } from '../server-groups.ts';
import { SERVER_META_LIMIT } from './limits-routes.ts';

export function serverExtras(
  store: Datastore, tenant: Tenant, userId: string,
  server: { key_name?: string; metadata?: Record<string, string> }, hints: { group?: string } | undefined, count: number,
): Pick<Instance, 'key_name' | 'public_key' | 'server_group'> {
  if (Object.keys(server.metadata ?? {}).length > SERVER_META_LIMIT) {
    throw new ApiError('forbidden', `Quota exceeded for metadata_items: at most ${SERVER_META_LIMIT} metadata items per server`);
  }
  const keypair = server.key_name === undefined ? undefined : keypairsOf(store, userId).find((k) => k.name === server.key_name);
  if (server.key_name !== undefined && !keypair) throw badRequest(`Invalid key_name provided: you have no keypair ${server.key_name} (openstack keypair list)`);
  const group = hints?.group ? groupToJoin(store, tenant, hints.group, count) : undefined;
  return {
    ...(keypair ? { key_name: keypair.name, public_key: keypair.public_key } : {}),
    ...(group ? { server_group: group.id } : {}),
  };
}
