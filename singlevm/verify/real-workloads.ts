// A mixed cluster (`setup.sh --sim-nodes M` beside real nodes) places most instances on simulated
// nodes, where no guest runs: data-path checks would probe nothing. So on such a cluster verify
// (and BAT, bat/lib.ts) start their instances from copies of the default workloads that require a
// real node (`requirements.real_node`, docs/api.md), public so that another tenant uses them too.
// A copy there already (a run that failed, another suite) is used again; verify's last step
// deletes them.
import type { NodeInfo, Workload } from '../../controller/api-types.ts';
import type { ApiClient, VerifyContext } from './context.ts';

const PREFIX = 'verify (real nodes): ';

export const mixedCluster = (ctx: VerifyContext) => !ctx.simulated && !!ctx.record?.settings?.simNodes;

/** Whether the cluster the admin sees has simulated nodes beside real ones. */
export async function simulatedBesideReal(admin: ApiClient): Promise<boolean> {
  const { nodes } = await admin.call<{ nodes: NodeInfo[] }>('GET', '/nodes');
  return nodes.some((n) => n.kind === 'simulated') && nodes.some((n) => n.kind === 'real');
}

/** The public copy of `w` that requires a real node: one among `all`, else made by the admin. */
export async function realNodeCopy(admin: ApiClient, w: Workload, all: Workload[]): Promise<Workload> {
  const description = PREFIX + w.description;
  const kept = all.find((x) => x.description === description && x.visibility === 'public' && x.requirements?.real_node);
  if (kept) return kept;
  return admin.call<Workload>('POST', `/tenants/${await admin.tenantId()}/workloads`, {
    description, vm_type: w.vm_type, image_name: w.image_name, fw_type: w.fw_type, visibility: 'public',
    defaults: w.defaults, requirements: { ...w.requirements, real_node: true }, disks: w.disks ?? [], config: w.config,
  });
}

/** `w` itself on a cluster of real nodes only; on a mixed one its real-node copy. */
export const onRealNodes = async (ctx: VerifyContext, w: Workload, all: Workload[]): Promise<Workload> =>
  (mixedCluster(ctx) ? realNodeCopy(ctx.admin, w, all) : w);

/** Deletes the real-node copies (their instances are gone by then). */
export async function removeRealCopies(ctx: VerifyContext): Promise<void> {
  if (!mixedCluster(ctx)) return;
  const path = `/tenants/${await ctx.admin.tenantId()}/workloads`;
  const { workloads } = await ctx.admin.call<{ workloads: Workload[] }>('GET', path);
  for (const w of workloads.filter((x) => x.description.startsWith(PREFIX) && x.requirements?.real_node)) await ctx.admin.call('DELETE', `${path}/${w.id}`);
}
