// Step 6 (a real cluster's): another tenant cannot reach this tenant's instances. The admin tenant
// is "another tenant": its container gets its own subnet and CNCI, and is deleted again whatever
// the outcome.
import { waitFor } from '../../shared/wait-for.ts';
import { gatewayOf } from '../../controller/addresses.ts';
import { pingFromContainer } from '../probes.ts';
import type { Instance, Workload } from '../../controller/api-types.ts';
import { onRealCluster, type VerifyContext, type VerifyStep } from './context.ts';
import { listedWorkloads } from './list-workloads.ts';
import { startedInstances } from './start-instances.ts';
import { startInstances, waitActive, type Tenant } from './instance-waits.ts';
import { escapeRegExp, expectEvent } from './events.ts';

export const tenantIsolation: VerifyStep = {
  name: 'another tenant cannot reach them',
  when: onRealCluster,
  skipped: 'another tenant cannot reach this tenant (simulated: no data plane)',
  async execute(ctx, progress) {
    const { vms, containers } = startedInstances(ctx);
    await otherTenantCannotReach(ctx, listedWorkloads(ctx).ct, [...containers, ...vms], progress);
  },
};

/** The admin tenant ("another tenant") starts a container of `workload`, checks it reaches its own
 *  gateway, then that it reaches none of `targets`; the container is deleted whatever the outcome.
 *  Where it ran. */
export async function otherTenantCannotReach(ctx: VerifyContext, workload: Workload, targets: Instance[], progress: (note: string) => void): Promise<string | null> {
  const otherTenant: Tenant = { client: ctx.admin, path: `/tenants/${await ctx.admin.tenantId()}` };
  const [other] = await startInstances(otherTenant, workload, 1);
  try {
    const [active] = await waitActive(ctx, otherTenant, [other.id], progress);
    // The probe works (its own gateway answers), so a silence below is isolation, not a broken probe.
    await waitFor(`the other tenant's container to reach its gateway`, () => pingFromContainer(ctx.cluster, other.id, gatewayOf(other.subnet)), { timeoutMs: ctx.timeouts.pingMs });
    const reached = await Promise.all(targets.map((target) => pingFromContainer(ctx.cluster, other.id, target.ip)));
    const breach = targets.find((_, i) => reached[i]);
    if (breach) throw new Error(`tenant isolation broken: ${other.id} (admin tenant, on ${active.node_id}) reached ${breach.ip} (on ${breach.node_id})`);
    return active.node_id;
  } finally {
    await expectEvent(ctx, new RegExp(`^Deleted ${escapeRegExp(other.id)}`), () => otherTenant.client.call('DELETE', `${otherTenant.path}/instances/${other.id}`), otherTenant);
  }
}
