// What the real node needs (skipped for a simulated cluster): demouser's SSH key, the Docker
// engine, the VM and container images (built from Debian packages, cached by content), how VMs run,
// and the cluster network in its namespaces. Each is kept when it is there already.
import { access, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describeEgress, recordRealNode } from './configuration.ts';
import { need, type Action, type SetupContext } from './context.ts';
import { clusterNetworkNames } from '../cluster-network.ts';
import { legRole } from '../node-roles.ts';

const isReal = (ctx: SetupContext) => !ctx.settings.simulate;
const real = (ctx: SetupContext) => (ctx.real ??= {});

export const sshKey: Action = {
  name: 'SSH key', when: isReal,
  async execute({ name, paths, host }) {
    if (await access(paths.sshKey).then(() => true, () => false)) return;
    await mkdir(dirname(paths.sshKey), { recursive: true, mode: 0o700 });
    await host.sshKeygen(paths.sshKey, `demouser@ciao-${name}`);
  },
};

export const dockerEngine: Action = {
  name: 'Docker engine', when: isReal,
  async execute({ paths, host }) {
    await host.ensureDockerd(join(paths.logs, 'dockerd.log'));
  },
};

export const vmImage: Action = {
  name: 'VM image', when: isReal,
  async execute(ctx, progress) {
    real(ctx).vmImage = await ctx.host.buildVmImage(join(ctx.cacheDir, 'images'), progress);
  },
};

export const containerImage: Action = {
  name: 'container image', when: isReal,
  async execute(ctx) {
    real(ctx).containerImage = await ctx.host.buildContainerImage(join(ctx.cacheDir, 'images'));
  },
};

export const accel: Action = {
  name: 'KVM or TCG', when: isReal,
  async execute(ctx, progress) {
    const kept = ctx.record?.accel;
    if (kept) {
      real(ctx).accel = kept;
      return `VMs run under ${kept.toUpperCase()}, as when the cluster was set up`;
    }
    progress('probing KVM');
    const kernel = need(real(ctx).vmImage, 'the VM image', 'VM image').kernel;
    const found = await ctx.host.probeAccel({ kernel, force: ctx.settings.accel, cacheFile: join(ctx.cacheDir, 'accel.json') });
    real(ctx).accel = found.accel;
    await recordRealNode(ctx, { accel: found.accel });
    return `VMs run under ${found.accel.toUpperCase()}: ${found.why}`;
  },
};

export const clusterNetwork: Action = {
  name: 'cluster network', when: isReal,
  async execute(ctx) {
    // The record's node list once there is one (with the nodes node.sh added), else setup's N, each
    // with its role written down (--network-nodes), so node.sh remove keeps the others' as they are.
    const legs = ctx.record?.network?.nodes ?? clusterNetworkNames(ctx.name, ctx.settings.nodes).nodes!.map((leg, index) => ({ ...leg, role: legRole({ index }, ctx.settings) }));
    const network = await ctx.host.ensureClusterNetwork(ctx.name, ctx.paths.clusterNet, legs);
    real(ctx).network = network;
    await recordRealNode(ctx, { network });
    const { egress } = ctx.settings;
    if (!egress) return 'no egress: workloads reach nothing outside the cluster';
    await ctx.host.ensureEgress(network.clusterNs, ctx.paths.clusterNet, egress);
    return `egress through slirp4netns: ${describeEgress(egress)}`;
  },
};
