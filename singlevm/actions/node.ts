// The node: the launcher with both roles — the real node's backends (QEMU, Docker, CNCIs) in its
// namespace, or simulated nodes — started unless it runs, and ready before the flow goes on.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { waitFor } from '../../shared/wait-for.ts';
import { ensureDaemon } from './control-plane.ts';
import { need, type Action, type SetupContext } from './context.ts';
import { resolverOf } from '../../network/egress.ts';
import { workloadEnv } from '../../network/proxy.ts';

const label = (ctx: SetupContext) => ctx.settings.simulate
  ? `start ${ctx.settings.nodes} simulated node${ctx.settings.nodes > 1 ? 's' : ''}`
  : `start the node (${(ctx.real?.accel ?? ctx.record?.accel ?? '?').toUpperCase()})`;

export const node: Action = {
  name: label,
  async execute(ctx, progress) {
    const { name, paths, settings } = ctx;
    const record = need(ctx.record, 'the cluster record', 'configuration');
    const pki = need(ctx.pki, 'the certificates', 'certificates');
    const admin = need(ctx.admin, 'the admin client', 'start control plane');
    const common = ['--scheduler-port', String(record.ports.scheduler), '--ca', pki.ca.cert, '--cert', pki.agent.cert, '--key', pki.agent.key,
      '--cnci-cert', pki.cnci.cert, '--cnci-key', pki.cnci.key, '--stats-interval-ms', String(settings.statsIntervalMs)];
    let args: string[];
    if (settings.simulate) {
      args = ['--backend', 'simulation', '--nodes', String(settings.nodes), '--node-prefix', `${name}-sim`, '--boot-delay-ms', String(settings.bootDelayMs)];
    } else {
      const real = need(ctx.real, 'the real node', 'VM image');
      const network = need(real.network, 'the cluster network', 'cluster network');
      const vm = need(real.vmImage, 'the VM image', 'VM image');
      args = ['--backend', 'real', '--node-prefix', `${name}-node-0`, '--cluster-ns', network.clusterNs, '--node-ns', network.nodeNs,
        '--node-ip', network.nodeIp, '--state-dir', paths.node, '--vm-kernel', vm.kernel, '--vm-initrd', vm.initrd,
        '--vm-image', need(ctx.vmImageId, 'the VM image id', 'register images'), '--accel', need(real.accel, 'how VMs run', 'KVM or TCG'),
        ...(settings.egress ? ['--egress-dns', resolverOf(settings.egress.dns).server] : []),
        ...Object.entries(settings.egress?.proxy ? workloadEnv(settings.egress.proxy) : {}).flatMap(([k, v]) => ['--workload-env', `${k}=${v}`])];
    }
    await mkdir(paths.node, { recursive: true });
    const started = await ensureDaemon(ctx, 'launcher', [...args, ...common]);
    const nodes = settings.nodes;
    await waitFor(`${nodes} node${nodes > 1 ? 's' : ''} to be ready (log: ${join(paths.logs, 'launcher.out')})`, async () => {
      const { nodes: n } = await admin.call<{ nodes: { ready: number } }>('GET', '/cluster/status');
      progress(`${n.ready}/${nodes} ready`);
      return n.ready >= nodes;
    }, { timeoutMs: 30_000 + nodes * 10 });
    if (ctx.resuming) return started ? 'started again' : 'running';
  },
};
