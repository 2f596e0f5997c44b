// A real cluster of several nodes' step (`setup.sh --nodes N [--network-nodes K]`): one tenant
// over its nodes. The tenant's CNCI runs on a network node (a network-only one when the cluster has
// roles). A VM is placed, by node requirement, on a compute node other than the CNCI's, and a
// container on a compute node other than the VM's (when there is one). The VM gets its address from
// the CNCI's DHCP across the tunnel and answers SSH from the CNCI's namespace; the container pings
// the VM (node to node) and its gateway; an external IP, held by the CNCI on its node, reaches the
// VM on its node; and another tenant's container on a third node reaches neither. Simulated nodes
// beside real ones are left out. Its instances and workloads are deleted before the next step.
import { waitFor } from '../../shared/wait-for.ts';
import type { Instance, NodeInfo, Workload } from '../../controller/api-types.ts';
import { cnciNamespace } from '../../cnci/cnci-backend.ts';
import { gatewayOf } from '../../controller/addresses.ts';
import { pingFromContainer } from '../probes.ts';
import { roleOf } from '../node-roles.ts';
import type { VerifyContext, VerifyStep } from './context.ts';
import { listedWorkloads } from './list-workloads.ts';
import { alive, sshAnswersAs, startInstances, userTenant, waitActive, type Tenant } from './instance-waits.ts';
import { POOL_SUBNET, throughExternalIp } from './external-ip.ts';
import { otherTenantCannotReach } from './tenant-isolation.ts';

const severalNodes = (ctx: VerifyContext) => !ctx.simulated && (ctx.record?.nodes ?? 1) > 1;

/** The connected real nodes (by id), where the tenant's CNCI runs, and which take instances. */
export async function nodeLayout(ctx: VerifyContext): Promise<{ nodes: NodeInfo[]; cnciNode: NodeInfo; compute: string[] }> {
  const { nodes: all } = await ctx.admin.call<{ nodes: NodeInfo[] }>('GET', '/nodes');
  const nodes = all.filter((n) => n.kind !== 'simulated' && n.status !== 'MISSING').sort((a, b) => a.id.localeCompare(b.id));
  const compute = nodes.filter((n) => n.roles.includes('compute')).map((n) => n.id);
  for (const n of nodes.filter((x) => x.roles.includes('network'))) {
    const { instances } = await ctx.admin.call<{ instances: Instance[] }>('GET', `/nodes/${n.id}/instances`);
    if (instances.some((i) => i.cnci && i.tenant_id === ctx.tenantId)) return { nodes, cnciNode: n, compute };
  }
  throw new Error(`tenant ${ctx.tenantId} has no CNCI on any real network node (the earlier steps started its instances)`);
}

/** A workload like `w` that runs on `node` only, in the tenant `path`. */
const pinnedTo = (w: Workload, node: string) => ({
  description: `verify: ${w.vm_type} on ${node}`, vm_type: w.vm_type, image_name: w.image_name, fw_type: w.fw_type, visibility: 'tenant',
  defaults: w.defaults, requirements: { ...w.requirements, node_id: node }, disks: w.disks ?? [], config: w.config,
});

export const crossNode: VerifyStep = {
  name: 'across nodes: CNCI, VM and container, external IP, isolation',
  when: severalNodes,
  skipped: 'instances on two nodes reach each other, a CNCI serves another node (needs two real nodes: setup.sh --nodes 2)',
  async execute(ctx, progress) {
    const tenant = userTenant(ctx);
    const other: Tenant = { client: ctx.admin, path: `/tenants/${await ctx.admin.tenantId()}` };
    const { nodes, cnciNode, compute } = await nodeLayout(ctx);
    if (nodes.length < (ctx.record?.nodes ?? 2)) throw new Error(`the cluster was set up with ${ctx.record?.nodes} nodes, but ${nodes.length} is connected: ${nodes.map((n) => n.id).join(', ')}`);
    const cnciRole = roleOf(cnciNode.roles);
    if (ctx.record?.settings?.networkNodes !== undefined && cnciRole !== 'network') throw new Error(`the tenant's CNCI runs on ${cnciNode.id}, a ${cnciRole} node: the cluster has network nodes for CNCIs`);
    const vmNode = compute.find((n) => n !== cnciNode.id);
    if (!vmNode) throw new Error(`no compute node besides ${cnciNode.id}, which runs the CNCI: ${nodes.map((n) => `${n.id} (${roleOf(n.roles)})`).join(', ')}`);
    // With three compute-capable nodes, the container is on a third one: CNCI, VM and container all apart.
    const ctNode = compute.find((n) => n !== vmNode && n !== cnciNode.id) ?? compute.find((n) => n !== vmNode) ?? vmNode;
    const { vm, ct } = listedWorkloads(ctx);
    const made: [Tenant, Workload][] = [];
    const started: Instance[] = [];
    let pool = false;
    try {
      for (const w of [pinnedTo(vm, vmNode), pinnedTo(ct, ctNode)]) made.push([tenant, await ctx.user.call<Workload>('POST', `${tenant.path}/workloads`, w)]);
      started.push(...await startInstances(tenant, made[0][1], 1), ...await startInstances(tenant, made[1][1], 1));
      const [vmNow, ctNow] = await waitActive(ctx, tenant, started.map((i) => i.id), progress);
      for (const [i, node] of [[vmNow, vmNode], [ctNow, ctNode]] as const) {
        if (i.node_id !== node) throw new Error(`instance ${i.id} runs on ${i.node_id}, not on ${node} as its workload requires`);
      }
      // Its address comes only from the CNCI's DHCP (on another node): SSH to it proves the lease and the tunnel.
      progress(`VM on ${vmNode}, its CNCI on ${cnciNode.id}: SSH to ${vmNow.ssh_ip}`);
      await sshAnswersAs(ctx, cnciNamespace(ctx.cluster, ctx.tenantId), vmNow.ssh_ip!, vmNow.id);
      for (const ip of [vmNow.ip, gatewayOf(ctNow.subnet)]) {
        progress(`container on ${ctNode} pings ${ip}`);
        await waitFor(`container ${ctNow.id} on ${ctNode} to ping ${ip}`,
          async () => await alive(tenant, [ctNow.id, vmNow.id]) && pingFromContainer(ctx.cluster, ctNow.id, ip), { timeoutMs: ctx.timeouts.pingMs });
      }
      progress(`an external IP held by the CNCI on ${cnciNode.id} reaches the VM on ${vmNode}`);
      await ctx.admin.call('POST', '/pools', { name: ctx.pool, subnet: POOL_SUBNET });
      pool = true;
      const ext = await throughExternalIp(ctx, vmNow);
      // Another tenant on a node other than the VM's (the container's, or the CNCI's when it takes instances).
      const otherNode = compute.find((n) => n !== vmNode && n !== ctNode) ?? compute.find((n) => n !== vmNode) ?? vmNode;
      made.push([other, await ctx.admin.call<Workload>('POST', `${other.path}/workloads`, pinnedTo(ct, otherNode))]);
      progress(`another tenant's container on ${otherNode} must not reach them`);
      await otherTenantCannotReach(ctx, made[2][1], [vmNow, ctNow], progress);
      return `CNCI on ${cnciNode.id} (${cnciRole}), VM on ${vmNode}, container on ${ctNode}; external IP ${ext}; other tenant on ${otherNode}, isolated`;
    } finally {
      await removeAll(ctx, started, made);
      if (pool) await ctx.admin.call('DELETE', `/pools/${ctx.pool}`);
    }
  },
};

/** This step's instances (waited for until gone) and then its workloads. */
async function removeAll(ctx: VerifyContext, instances: Instance[], workloads: [Tenant, Workload][]): Promise<void> {
  const { path } = userTenant(ctx);
  for (const i of instances) await ctx.user.call('DELETE', `${path}/instances/${i.id}`);
  await waitFor('the cross-node instances to be deleted', async () => {
    const { instances: left } = await ctx.user.call<{ instances: Instance[] }>('GET', `${path}/instances`);
    return !left.some((l) => instances.some((i) => i.id === l.id));
  }, { timeoutMs: ctx.timeouts.deleteMs });
  for (const [t, w] of workloads) await t.client.call('DELETE', `${t.path}/workloads/${w.id}`);
}
