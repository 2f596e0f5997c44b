// Another tenant cannot reach this tenant's instances (a real cluster's). The admin tenant is
// "another tenant": its container, on its own subnet behind its own CNCI, is started at the same
// time as the user's instances (so its CNCI and container come up while the VMs boot, off the
// critical path; its CNCI is kept from an earlier verify when there is one), and deleted again
// whatever the outcome. The probe starts inside that container's network namespace: one ping to
// its own gateway and one to each of the user's instances, all at once: the gateway's answer
// proves the probe works, so silence from the instances in the same window is isolation, not a
// broken probe.
import { waitFor } from '../../shared/wait-for.ts';
import { gatewayOf } from '../../controller/addresses.ts';
import { pingsFromContainer } from '../probes.ts';
import type { Instance, Workload } from '../../controller/api-types.ts';
import { need, onRealCluster, type VerifyContext, type VerifyStep } from './context.ts';
import { listedWorkloads } from './list-workloads.ts';
import { startedInstances } from './start-instances.ts';
import { startInstances, waitActive, type Tenant } from './instance-waits.ts';
import { escapeRegExp, expectEvent } from './events.ts';

/** How long an instance of the user's gets to answer, once the probe's own gateway has: pings on
 *  these bridges and tunnels come back in well under a millisecond. */
const ANSWER_WINDOW_S = 0.5;

export const startOtherTenant: VerifyStep = {
  name: "start another tenant's container",
  when: onRealCluster,
  async execute(ctx) {
    const tenant: Tenant = { client: ctx.admin, path: `/tenants/${await ctx.admin.tenantId()}` };
    const [instance] = await startInstances(tenant, listedWorkloads(ctx).ct, 1);
    ctx.other = { tenant, instance };
  },
};

const otherContainer = (ctx: VerifyContext) => need(ctx.other, "another tenant's container", startOtherTenant.name);

export const tenantIsolation: VerifyStep = {
  name: 'another tenant cannot reach them',
  when: onRealCluster,
  skipped: 'another tenant cannot reach this tenant (simulated: no data plane)',
  async execute(ctx, progress) {
    const { vms, containers } = startedInstances(ctx);
    const { tenant, instance } = otherContainer(ctx);
    try {
      const [other] = await waitActive(ctx, tenant, [instance.id], progress);
      await cannotReach(ctx, other, [...containers, ...vms]);
      return `${other.id} (admin tenant) reached its gateway and none of ${containers.length + vms.length} instances`;
    } finally {
      await expectEvent(ctx, new RegExp(`^Deleted ${escapeRegExp(instance.id)}`), () => tenant.client.call('DELETE', `${tenant.path}/instances/${instance.id}`), tenant);
    }
  },
};

/** The probe, from inside `other`'s network namespace: one ping to its own gateway and one to each
 *  target, all at once. The gateway's answer proves the probe works, so silence from the targets in
 *  the same window is isolation, not a broken probe. */
async function cannotReach(ctx: VerifyContext, other: Instance, targets: Instance[]): Promise<void> {
  const gateway = gatewayOf(other.subnet);
  let reached: Instance[] = [];
  await waitFor(`the other tenant's container to reach its gateway ${gateway}`, async () => {
    const answered = await pingsFromContainer(ctx.cluster, other.id, [gateway, ...targets.map((t) => t.ip)], ANSWER_WINDOW_S);
    reached = targets.filter((t) => answered.has(t.ip));
    return answered.has(gateway) || reached.length > 0;
  }, { timeoutMs: ctx.timeouts.pingMs });
  if (reached.length) {
    throw new Error(`tenant isolation broken: ${other.id} (admin tenant, on ${other.node_id}) reached ${reached.map((t) => `${t.ip} (on ${t.node_id})`).join(', ')}`);
  }
}

/** The admin tenant ("another tenant") starts a container of `workload` and checks it reaches none
 *  of `targets`; the container is deleted whatever the outcome. Where it ran. */
export async function otherTenantCannotReach(ctx: VerifyContext, workload: Workload, targets: Instance[], progress: (note: string) => void): Promise<string | null> {
  const tenant: Tenant = { client: ctx.admin, path: `/tenants/${await ctx.admin.tenantId()}` };
  const [other] = await startInstances(tenant, workload, 1);
  try {
    const [active] = await waitActive(ctx, tenant, [other.id], progress);
    await cannotReach(ctx, active, targets);
    return active.node_id;
  } finally {
    await expectEvent(ctx, new RegExp(`^Deleted ${escapeRegExp(other.id)}`), () => tenant.client.call('DELETE', `${tenant.path}/instances/${other.id}`), tenant);
  }
}
