// A mixed cluster (`setup.sh --sim-nodes M` beside real nodes) places most instances on simulated
// nodes, where no guest runs: verify's data-path checks would probe nothing. So on such a cluster
// verify starts its instances from copies of the default workloads that require a real node
// (`requirements.real_node`, docs/api.md), public so that the other tenant of the isolation step
// uses them too. A copy left by a run that failed is used again; the last step deletes them.
import type { Workload } from '../../controller/api-types.ts';
import type { VerifyContext } from './context.ts';

const PREFIX = 'verify (real nodes): ';

export const mixedCluster = (ctx: VerifyContext) => !ctx.simulated && !!ctx.record?.settings?.simNodes;

/** `w` itself on a cluster of real nodes only; on a mixed one its real-node copy. */
export async function onRealNodes(ctx: VerifyContext, w: Workload, all: Workload[]): Promise<Workload> {
  if (!mixedCluster(ctx)) return w;
  const description = PREFIX + w.description;
  const kept = all.find((x) => x.description === description && x.visibility === 'public' && x.requirements.real_node);
  if (kept) return kept;
  return ctx.admin.call<Workload>('POST', `/tenants/${await ctx.admin.tenantId()}/workloads`, {
    description, vm_type: w.vm_type, image_name: w.image_name, fw_type: w.fw_type, visibility: 'public',
    defaults: w.defaults, requirements: { ...w.requirements, real_node: true }, disks: w.disks ?? [], config: w.config,
  });
}

/** Deletes the real-node copies (their instances are gone by then). */
export async function removeRealCopies(ctx: VerifyContext): Promise<void> {
  if (!mixedCluster(ctx)) return;
  const path = `/tenants/${await ctx.admin.tenantId()}/workloads`;
  const { workloads } = await ctx.admin.call<{ workloads: Workload[] }>('GET', path);
  for (const w of workloads.filter((x) => x.description.startsWith(PREFIX) && x.requirements.real_node)) await ctx.admin.call('DELETE', `${path}/${w.id}`);
}
