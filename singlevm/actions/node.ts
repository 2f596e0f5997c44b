// The nodes: on a real cluster one launcher per node (its role's workloads, singlevm/node-roles.ts:
// QEMU, Docker and CNCIs in its namespace), each with its share of the host when there are several,
// and one more for the simulated nodes beside them (--sim-nodes); on a simulated one, one launcher
// with every simulated node. Each is started unless it runs, and ready before the flow goes on.
import { mkdir } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../../shared/wait-for.ts';
import { ensureDaemon } from './control-plane.ts';
import { need, type Action, type SetupContext } from './context.ts';
import { resolverOf } from '../../network/egress.ts';
import { workloadEnv } from '../../network/proxy.ts';
import { nodesOf } from '../cluster-network.ts';
import { launcherName } from '../cluster-files.ts';
import { defaultWorkloads } from '../default-workloads.ts';
import { legRole, PROTOCOL_ROLES, SIM_LAUNCHER, simPrefix } from '../node-roles.ts';

/** VMs restored from snapshot templates kept with the image cache (docs/vm-snapshots.md), the
 *  default VM workloads' shapes made at the launcher's start; CIAO_VM_SNAPSHOT_LATER=1: then, niced,
 *  the shapes VMs are likely to ask for next (off by default: on 2 cores it slowed verify, "Made
 *  later"); CIAO_VM_SNAPSHOTS=0: cold boots only. */
export function vmSnapshotArgs(cacheDir: string, env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.CIAO_VM_SNAPSHOTS === '0') return [];
  return ['--vm-snapshots', vmSnapshotsDir(cacheDir), ...vmSnapshotShapes().flatMap((s) => ['--vm-snapshot-shape', `${s.vcpus}:${s.memMB}:${s.diskMB}`]),
    ...(env.CIAO_VM_SNAPSHOT_LATER === '1' ? ['--vm-snapshot-later'] : [])];
}

export const vmSnapshotsDir = (cacheDir: string) => join(cacheDir, 'images', 'vm-snapshots');

/** The default VM workloads' shapes, each once. */
export function vmSnapshotShapes(): { vcpus: number; memMB: number; diskMB: number }[] {
  const shapes = new Set(defaultWorkloads({ containerImage: '' }).filter((w) => w.vm_type === 'qemu' && w.visibility === 'public')
    .map((w) => `${w.defaults.vcpus}:${w.defaults.mem_mb}:${w.defaults.disk_mb}`));
  return [...shapes].map((s) => s.split(':').map(Number)).map(([vcpus, memMB, diskMB]) => ({ vcpus, memMB, diskMB }));
}

const label = (ctx: SetupContext) => {
  const { nodes, simNodes } = ctx.settings;
  if (ctx.settings.simulate) return `start ${nodes} simulated node${nodes > 1 ? 's' : ''}`;
  return `start ${nodes > 1 ? `${nodes} nodes` : 'the node'} (${(ctx.real?.accel ?? ctx.record?.accel ?? '?').toUpperCase()})${simNodes ? ` and ${simNodes} simulated` : ''}`;
};

/** A share of the host for each of `nodes` real nodes (one node takes what the launcher reads itself). */
export interface HostCapacity { memMB: number; vcpus: number; diskMB: number }
export function nodeShare(host: HostCapacity, nodes: number): string[] {
  if (nodes === 1) return [];
  // As the one node's launcher does: 1 GiB kept for the host, vcpus overcommitted 16 to 1.
  return ['--mem-mb', String(Math.floor((host.memMB - 1024) / nodes)), '--vcpus', String(Math.max(1, Math.floor((host.vcpus * 16) / nodes))),
    '--disk-mb', String(Math.floor(host.diskMB / nodes))];
}

/** How long `nodes` simulated nodes may take to join. */
const readyMs = (nodes: number) => 30_000 + nodes * 10;
/** How long a real node may take: on a resume it first finds its VMs, containers and CNCIs again
 *  (a CNCI is a dozen ip and iptables runs: a launcher killed during BAT, on a loaded 2-core host,
 *  once took over 30 s), then joins (its own patience for that is 30 s: launcher/main.ts). */
const REAL_READY_MS = 90_000;

export const node: Action = {
  name: label,
  async execute(ctx, progress) {
    const { name, paths, settings } = ctx;
    const record = need(ctx.record, 'the cluster record', 'configuration');
    const pki = need(ctx.pki, 'the certificates', 'certificates');
    const admin = need(ctx.admin, 'the admin client', 'start control plane');
    const common = ['--scheduler-port', String(record.ports.scheduler), '--ca', pki.ca.cert,
      '--cnci-cert', pki.cnci.cert, '--cnci-key', pki.cnci.key, '--stats-interval-ms', String(settings.statsIntervalMs)];
    const started: boolean[] = [];
    if (settings.simulate) {
      const args = ['--backend', 'simulation', '--nodes', String(settings.nodes), '--node-prefix', `${name}-sim`, '--boot-delay-ms', String(settings.bootDelayMs)];
      await mkdir(paths.node, { recursive: true });
      started.push(await ensureDaemon(ctx, 'launcher', [...args, ...common, '--cert', pki.agent.cert, '--key', pki.agent.key], 'launcher', readyMs(settings.nodes)));
    } else {
      const real = need(ctx.real, 'the real node', 'VM image');
      const network = need(real.network, 'the cluster network', 'cluster network');
      const vm = need(real.vmImage, 'the VM image', 'VM image');
      const nodes = nodesOf(network);
      const several = nodes.length > 1;
      const share = several
        ? nodeShare({ memMB: Math.floor(totalmem() / 2 ** 20), vcpus: cpus().length, diskMB: await ctx.host.freeDiskMB(paths.stateDir) }, nodes.length)
        : [];
      const shared = ['--backend', 'real', '--cluster-ns', network.clusterNs, '--vm-kernel', vm.kernel, '--vm-initrd', vm.initrd,
        '--vm-image', need(ctx.vmImageId, 'the VM image id', 'register images'), '--accel', need(real.accel, 'how VMs run', 'KVM or TCG'),
        ...vmSnapshotArgs(ctx.cacheDir),
        ...(settings.egress ? ['--egress-dns', resolverOf(settings.egress.dns).server] : []),
        ...Object.entries(settings.egress?.proxy ? workloadEnv(settings.egress.proxy) : {}).flatMap(([k, v]) => ['--workload-env', `${k}=${v}`]), ...share, ...common];
      for (const n of nodes) {
        const i = n.index;
        const id = `${name}-node-${i}`;
        const agent = need(pki.agents?.[i] ?? (i === 0 ? pki.agent : undefined), `node ${i}'s certificate`, 'certificates');
        const own = ['--node-prefix', id, '--roles', PROTOCOL_ROLES[legRole(n, settings)].join(','), '--cert', agent.cert, '--key', agent.key];
        await mkdir(paths.nodeDir(i), { recursive: true });
        // A simulated node beside the real ones (node.sh add --simulated): its own launcher, no namespace.
        const args = n.simulated
          ? [...own, '--backend', 'simulation', '--boot-delay-ms', String(settings.bootDelayMs), ...share, ...common]
          : [...own, '--node-ns', n.ns, '--node-ip', n.ip, '--state-dir', paths.nodeDir(i), ...(several ? ['--hostname', id, '--label-containers', ...(i === 0 ? ['--adopt-unlabelled'] : [])] : []), ...shared];
        started.push(await ensureDaemon(ctx, 'launcher', args, launcherName(i), n.simulated ? readyMs(1) : REAL_READY_MS));
      }
      if (settings.simNodes) {
        // Simulated compute nodes beside the real ones (--sim-nodes): one process, their own certificate (compute only).
        const sim = need(pki.simAgent, 'the simulated nodes\' certificate', 'certificates');
        started.push(await ensureDaemon(ctx, 'launcher', ['--backend', 'simulation', '--nodes', String(settings.simNodes), '--node-prefix', simPrefix(name),
          '--roles', PROTOCOL_ROLES.compute.join(','), '--boot-delay-ms', String(settings.bootDelayMs), ...common, '--cert', sim.cert, '--key', sim.key], SIM_LAUNCHER, readyMs(settings.simNodes)));
      }
    }
    const nodes = settings.nodes + (settings.simulate ? 0 : settings.simNodes ?? 0);
    await waitFor(`${nodes} node${nodes > 1 ? 's' : ''} to be ready (log: ${join(paths.logs, 'launcher.out')})`, async () => {
      // A full node is up too (a resume of a cluster whose instances take all of it): it reports.
      const { nodes: n } = await admin.call<{ nodes: { ready: number; full: number } }>('GET', '/cluster/status');
      progress(`${n.ready + n.full}/${nodes} ready${n.full ? ` (${n.full} full)` : ''}`);
      return n.ready + n.full >= nodes;
    }, { timeoutMs: readyMs(nodes), intervalMs: 10 });
    if (ctx.resuming) return started.every((s) => !s) ? 'running' : started.length > 1 ? `started again: ${started.filter(Boolean).length} of ${started.length}` : 'started again';
  },
};
