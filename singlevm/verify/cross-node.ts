// A real cluster of several nodes' step (`setup.sh --nodes N`): one tenant over two nodes. A VM is
// placed, by node requirement, on a node other than the one running the tenant's CNCI, and a
// container on a node other than the VM's. The VM gets its address from the CNCI's DHCP across the
// tunnel and answers SSH from the CNCI's namespace; the container pings the VM (node to node) and
// its gateway. Its instances and workloads are deleted before the next step.
import { waitFor } from '../../shared/wait-for.ts';
import type { Instance, Workload } from '../../controller/api-types.ts';
import { cnciNamespace } from '../../cnci/cnci-backend.ts';
import { gatewayOf } from '../../controller/addresses.ts';
import { pingFromContainer } from '../probes.ts';
import type { VerifyContext, VerifyStep } from './context.ts';
import { listedWorkloads } from './list-workloads.ts';
import { alive, sshAnswersAs, startInstances, userTenant, waitActive } from './instance-waits.ts';

const severalNodes = (ctx: VerifyContext) => !ctx.simulated && (ctx.record?.nodes ?? 1) > 1;

/** Where the tenant's CNCI runs, and every node's id. */
async function nodesAndCnci(ctx: VerifyContext): Promise<{ nodes: string[]; cnciNode: string }> {
  const { nodes } = await ctx.admin.call<{ nodes: { id: string }[] }>('GET', '/nodes');
  for (const n of nodes) {
    const { instances } = await ctx.admin.call<{ instances: Instance[] }>('GET', `/nodes/${n.id}/instances`);
    if (instances.some((i) => i.cnci && i.tenant_id === ctx.tenantId)) return { nodes: nodes.map((x) => x.id).sort(), cnciNode: n.id };
  }
  throw new Error(`tenant ${ctx.tenantId} has no CNCI on any node (the earlier steps started its instances)`);
}

/** A tenant workload like `w` that runs on `node` only. */
const pinnedTo = (w: Workload, node: string) => ({
  description: `verify: ${w.vm_type} on ${node}`, vm_type: w.vm_type, image_name: w.image_name, fw_type: w.fw_type, visibility: 'tenant',
  defaults: w.defaults, requirements: { ...w.requirements, node_id: node }, disks: w.disks ?? [], config: w.config,
});

export const crossNode: VerifyStep = {
  name: 'a VM and a container on two nodes reach each other',
  when: severalNodes,
  skipped: 'instances on two nodes reach each other, a CNCI serves another node (needs two real nodes: setup.sh --nodes 2)',
  async execute(ctx, progress) {
    const tenant = userTenant(ctx);
    const { nodes, cnciNode } = await nodesAndCnci(ctx);
    if (nodes.length < 2) throw new Error(`the cluster was set up with ${ctx.record?.nodes} nodes, but ${nodes.length} is connected: ${nodes.join(', ')}`);
    const vmNode = nodes.find((n) => n !== cnciNode)!;
    // With three nodes or more, the container is on a third one: CNCI, VM and container all apart.
    const ctNode = nodes.find((n) => n !== vmNode && n !== cnciNode) ?? nodes.find((n) => n !== vmNode)!;
    const { vm, ct } = listedWorkloads(ctx);
    const made: Workload[] = [];
    const started: Instance[] = [];
    try {
      for (const w of [pinnedTo(vm, vmNode), pinnedTo(ct, ctNode)]) made.push(await ctx.user.call<Workload>('POST', `${tenant.path}/workloads`, w));
      started.push(...await startInstances(tenant, made[0], 1), ...await startInstances(tenant, made[1], 1));
      const [vmNow, ctNow] = await waitActive(ctx, tenant, started.map((i) => i.id), progress);
      for (const [i, node] of [[vmNow, vmNode], [ctNow, ctNode]] as const) {
        if (i.node_id !== node) throw new Error(`instance ${i.id} runs on ${i.node_id}, not on ${node} as its workload requires`);
      }
      progress(`VM on ${vmNode}, its CNCI on ${cnciNode}: SSH to ${vmNow.ssh_ip}`);
      await sshAnswersAs(ctx, cnciNamespace(ctx.cluster, ctx.tenantId), vmNow.ssh_ip!, vmNow.id);
      for (const ip of [vmNow.ip, gatewayOf(ctNow.subnet)]) {
        progress(`container on ${ctNode} pings ${ip}`);
        await waitFor(`container ${ctNow.id} on ${ctNode} to ping ${ip}`,
          async () => await alive(tenant, [ctNow.id, vmNow.id]) && pingFromContainer(ctx.cluster, ctNow.id, ip), { timeoutMs: ctx.timeouts.pingMs });
      }
      return `VM on ${vmNode}, container on ${ctNode}, CNCI on ${cnciNode}`;
    } finally {
      await removeAll(ctx, started, made);
    }
  },
};

/** This step's instances (waited for until gone) and then its workloads. */
async function removeAll(ctx: VerifyContext, instances: Instance[], workloads: Workload[]): Promise<void> {
  const { path } = userTenant(ctx);
  for (const i of instances) await ctx.user.call('DELETE', `${path}/instances/${i.id}`);
  await waitFor('the cross-node instances to be deleted', async () => {
    const { instances: left } = await ctx.user.call<{ instances: Instance[] }>('GET', `${path}/instances`);
    return !left.some((l) => instances.some((i) => i.id === l.id));
  }, { timeoutMs: ctx.timeouts.deleteMs });
  for (const w of workloads) await ctx.user.call('DELETE', `${path}/workloads/${w.id}`);
}
