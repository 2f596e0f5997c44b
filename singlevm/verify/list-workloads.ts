// Step 1: the tenant sees the default workloads setup made, a public VM and a public container (on a
// mixed cluster, verify's copies of them that require a real node: real-workloads.ts).
import type { Workload } from '../../controller/api-types.ts';
import { need, tenantPath, type VerifyContext, type VerifyStep } from './context.ts';
import { onRealNodes } from './real-workloads.ts';

export const listWorkloads: VerifyStep = {
  name: 'list workloads',
  async execute(ctx) {
    const { workloads } = await ctx.user.call<{ workloads: Workload[] }>('GET', `${tenantPath(ctx)}/workloads`);
    const listed = (type: string) => workloads.find((w) => w.vm_type === type && w.visibility === 'public' && !w.requirements?.real_node);
    const vm = listed('qemu');
    const ct = listed('docker');
    if (!vm || !ct) throw new Error(`expected a public VM and a public container workload, found: ${workloads.map((w) => w.description).join(', ') || 'none'}`);
    ctx.workloads = { vm: await onRealNodes(ctx, vm, workloads), ct: await onRealNodes(ctx, ct, workloads) };
  },
};

/** The VM and container workloads this step found. */
export const listedWorkloads = (ctx: VerifyContext) => need(ctx.workloads, 'the VM and container workloads', listWorkloads.name);
