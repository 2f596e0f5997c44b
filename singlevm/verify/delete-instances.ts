// Step 9: the pool and every instance of the tenant are deleted, each instance with its Deleted event.
import { waitFor } from '../../shared/wait-for.ts';
import type { VerifyStep } from './context.ts';
import { startedInstances } from './start-instances.ts';
import { userTenant } from './instance-waits.ts';
import { eventsOf } from './events.ts';

export const deleteInstances: VerifyStep = {
  name: 'delete pool and instances',
  async execute(ctx) {
    const { vms, containers } = startedInstances(ctx);
    const tenant = userTenant(ctx);
    await ctx.admin.call('DELETE', `/pools/${ctx.pool}`);
    const all = [...vms, ...containers];
    const seen = new Set((await eventsOf(tenant)).map((e) => e.id));
    await ctx.user.call('DELETE', `${tenant.path}/instances`);
    await waitFor('a Deleted event for each instance', async () => {
      const fresh = (await eventsOf(tenant)).filter((e) => !seen.has(e.id));
      return all.every((i) => fresh.some((e) => e.message.startsWith(`Deleted ${i.id}`)));
    }, { timeoutMs: ctx.timeouts.deleteMs });
  },
};
