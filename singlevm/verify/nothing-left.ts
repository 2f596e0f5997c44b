// Step 10: nothing is left but the CNCIs: no instance in the tenant or on any node, and on a real
// cluster no tap, veth, bridge, VXLAN, container or QEMU process on the node (SPEC §6 step 8).
import type { Instance } from '../../controller/api-types.ts';
import { nodeLeftovers } from '../probes.ts';
import { tenantPath, type VerifyStep } from './context.ts';
import { removeRealCopies } from './real-workloads.ts';

export const nothingLeft: VerifyStep = {
  name: 'nothing left but the CNCIs',
  async execute(ctx) {
    const { instances } = await ctx.user.call<{ instances: Instance[] }>('GET', `${tenantPath(ctx)}/instances`);
    if (instances.length) throw new Error(`instances left: ${instances.map((i) => `${i.id} (${i.state})`).join(', ')}`);
    // Simulated nodes beside real ones hold none of verify's instances (they require a real node).
    const { nodes } = await ctx.admin.call<{ nodes: { id: string; kind?: string }[] }>('GET', '/nodes');
    for (const n of nodes.filter((x) => ctx.simulated || x.kind !== 'simulated')) {
      const onNode = (await ctx.admin.call<{ instances: Instance[] }>('GET', `/nodes/${n.id}/instances`)).instances.filter((i) => !i.cnci);
      if (onNode.length) throw new Error(`node ${n.id} still holds ${onNode.map((i) => i.id).join(', ')}`);
    }
    if (ctx.network) {
      for (const ns of ctx.network.nodes?.map((n) => n.ns) ?? [ctx.network.nodeNs]) {
        const left = await nodeLeftovers(ctx.cluster, ns);
        if (left.length) throw new Error(`left on the node: ${left.join(', ')}`);
      }
    }
    await removeRealCopies(ctx);
  },
};
