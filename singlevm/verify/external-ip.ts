// Step 7: an external IP from a new pool is mapped to a VM (the CNCI says so with an event), answers
// ping and SSH as that VM from the cluster network, and after the unmap answers no more. On a
// simulated cluster only the map and unmap events are checked.
import { waitFor } from '../../shared/wait-for.ts';
import type { ExternalIp, Instance } from '../../controller/api-types.ts';
import { pingFrom } from '../probes.ts';
import { realNetwork, tenantPath, type VerifyContext, type VerifyStep } from './context.ts';
import { startedInstances } from './start-instances.ts';
import { alive, sshAnswersAs, userTenant } from './instance-waits.ts';
import { escapeRegExp, expectEvent } from './events.ts';

export const externalIp: VerifyStep = {
  name: 'map an external IP; ping and SSH through it; unmap',
  async execute(ctx) {
    const [vm] = startedInstances(ctx).vms;
    await ctx.admin.call('POST', '/pools', { name: ctx.pool, subnet: POOL_SUBNET });
    await throughExternalIp(ctx, vm);
  },
};

/** The pool verify makes (ctx.pool): the documentation range that the cluster network routes. */
export const POOL_SUBNET = '203.0.113.0/24';

/** Maps an external IP of ctx.pool to `vm`, which answers ping and SSH through it from the cluster
 *  network (on a simulated cluster: the Mapped event only), unmaps it, and checks it answers no more. */
export async function throughExternalIp(ctx: VerifyContext, vm: Instance): Promise<string> {
  const tenant = tenantPath(ctx);
  await ctx.user.call('DELETE', `${tenant}/events`);
  let m!: ExternalIp;
  await expectEvent(ctx, /^Mapped /, async () => (m = await ctx.user.call<ExternalIp>('POST', `${tenant}/external-ips`, { instance_id: vm.id, pool: ctx.pool })));
  if (ctx.simulated) ctx.notChecked.push('ping and SSH through the external IP (simulated: no guest)');
  else {
    const { clusterNs } = realNetwork(ctx);
    await waitFor(`${m.ip} to answer ping from the cluster network`, async () => await alive(userTenant(ctx), [vm.id]) && pingFrom(clusterNs, m.ip), { timeoutMs: ctx.timeouts.externalPingMs });
    await sshAnswersAs(ctx, clusterNs, m.ip, vm.id);
  }
  await expectEvent(ctx, new RegExp(`^Unmapped ${escapeRegExp(m.ip)} from ${vm.id}`), () => ctx.user.call('DELETE', `${tenant}/external-ips/${m.ip}`));
  if (!ctx.simulated && await pingFrom(realNetwork(ctx).clusterNs, m.ip)) throw new Error(`${m.ip} still answers after it was unmapped`);
  return m.ip;
}
