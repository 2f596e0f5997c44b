// Step 1: the tenant sees the default workloads setup made, a public VM and a public container.
import type { Workload } from '../../controller/api-types.ts';
import { need, tenantPath, type VerifyContext, type VerifyStep } from './context.ts';

export const listWorkloads: VerifyStep = {
  name: 'list workloads',
  async execute(ctx) {
    const { workloads } = await ctx.user.call<{ workloads: Workload[] }>('GET', `${tenantPath(ctx)}/workloads`);
    const vm = workloads.find((w) => w.vm_type === 'qemu' && w.visibility === 'public');
    const ct = workloads.find((w) => w.vm_type === 'docker' && w.visibility === 'public');
    if (!vm || !ct) throw new Error(`expected a public VM and a public container workload, found: ${workloads.map((w) => w.description).join(', ') || 'none'}`);
    ctx.workloads = { vm, ct };
  },
};

/** The VM and container workloads this step found. */
export const listedWorkloads = (ctx: VerifyContext) => need(ctx.workloads, 'the VM and container workloads', listWorkloads.name);
