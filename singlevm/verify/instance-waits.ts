// Starting instances and waiting on them. Every wait checks the instances are still alive, so it
// stops at once, with the launcher's reason, when one died rather than at its timeout.
import { AbortError, waitFor } from '../../shared/wait-for.ts';
import type { Instance, Workload } from '../../controller/api-types.ts';
import { sshHostname } from '../probes.ts';
import { tenantPath, type ApiClient, type VerifyContext } from './context.ts';

/** Where instances live: the user's tenant, or another (the admin's). */
export interface Tenant {
  client: ApiClient;
  path: string;
}

export const userTenant = (ctx: VerifyContext): Tenant => ({ client: ctx.user, path: tenantPath(ctx) });

export async function startInstances({ client, path }: Tenant, w: Workload, count: number): Promise<Instance[]> {
  return (await client.call<{ instances: Instance[] }>('POST', `${path}/instances`, { workload_id: w.id, count })).instances;
}

/** The instances as they are now; throws an AbortError (a wait on them stops) when one died. */
export async function alive({ client, path }: Tenant, ids: string[]): Promise<Instance[]> {
  const now = await Promise.all(ids.map((id) => client.call<Instance>('GET', `${path}/instances/${id}`)));
  const dead = now.find((i) => i.reason);
  if (dead) throw new AbortError(`instance ${dead.id} ${dead.reason}`);
  return now;
}

/** The instances once all are active, as they are then. */
export const waitActive = (ctx: VerifyContext, tenant: Tenant, ids: string[], progress: (note: string) => void) =>
  waitFor(`instances ${ids.join(', ')} to be active`, async () => {
    const now = await alive(tenant, ids);
    progress(`${now.filter((i) => i.state === 'active').length}/${ids.length} active`);
    return now.every((i) => i.state === 'active') && now;
  }, { timeoutMs: ctx.timeouts.bootMs });

/** Waits until SSH at `ip`, from namespace `ns`, answers as the instance `id` (its hostname is its id). */
export const sshAnswersAs = (ctx: VerifyContext, ns: string, ip: string, id: string) =>
  waitFor(`SSH to ${ip} from ${ns} to answer as ${id}`, async () => {
    await alive(userTenant(ctx), [id]);
    const name = await sshHostname(ns, ip, ctx.sshKey).catch(() => undefined);
    if (name !== undefined && name !== id) throw new Error(`SSH to ${ip} answered as ${name}, not ${id}`);
    return name === id;
  }, { timeoutMs: ctx.timeouts.bootMs, intervalMs: 250 });
