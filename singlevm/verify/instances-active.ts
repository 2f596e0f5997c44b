// Step 3: all four instances become active (a dead one fails the step at once with its reason),
// and each VM reports the address SSH reaches it at.
import type { VerifyStep } from './context.ts';
import { startedInstances } from './start-instances.ts';
import { userTenant, waitActive } from './instance-waits.ts';

export const instancesActive: VerifyStep = {
  name: 'instances active, VMs with an SSH address',
  async execute(ctx, progress) {
    const { vms, containers } = startedInstances(ctx);
    const settled = await waitActive(ctx, userTenant(ctx), [...vms, ...containers].map((i) => i.id), progress);
    ctx.vms = settled.slice(0, vms.length);
    ctx.containers = settled.slice(vms.length);
    const noSsh = ctx.vms.filter((v) => !v.ssh_ip);
    if (noSsh.length) throw new Error(`VM ${noSsh[0].id} is active but reports no SSH address`);
  },
};
