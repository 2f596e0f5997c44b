// Step 2: two VMs and two containers in the user's tenant (the controller answers at once; the
// next step waits for them to be active).
import { need, type VerifyContext, type VerifyStep } from './context.ts';
import { listedWorkloads } from './list-workloads.ts';
import { startInstances, userTenant } from './instance-waits.ts';

export const startVmsAndContainers: VerifyStep = {
  name: 'start 2 VMs and 2 containers',
  async execute(ctx) {
    const { vm, ct } = listedWorkloads(ctx);
    ctx.vms = await startInstances(userTenant(ctx), vm, 2);
    ctx.containers = await startInstances(userTenant(ctx), ct, 2);
  },
};

/** The VMs and containers this step started (as the last step that looked at them saw them). */
export const startedInstances = (ctx: VerifyContext) => {
  const step = startVmsAndContainers.name;
  return { vms: need(ctx.vms, 'the list of started VMs', step), containers: need(ctx.containers, 'the list of started containers', step) };
};
