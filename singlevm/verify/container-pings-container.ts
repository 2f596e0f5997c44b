// Step 5 (a real cluster's): the tenant's containers reach each other on the tenant's subnet.
import { waitFor } from '../../shared/wait-for.ts';
import { pingFromContainer } from '../probes.ts';
import { onRealCluster, type VerifyStep } from './context.ts';
import { startedInstances } from './start-instances.ts';
import { alive, userTenant } from './instance-waits.ts';

export const containerPingsContainer: VerifyStep = {
  name: 'container pings container',
  when: onRealCluster,
  skipped: 'container pings container (simulated: no containers)',
  async execute(ctx) {
    const [from, to] = startedInstances(ctx).containers;
    await waitFor(`container ${from.id} to ping ${to.ip}`,
      async () => await alive(userTenant(ctx), [from.id, to.id]) && pingFromContainer(ctx.cluster, from.id, to.ip), { timeoutMs: ctx.timeouts.pingMs });
  },
};
