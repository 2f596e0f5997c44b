// A cluster that machines joined (setup.sh --export-join): on a resume its end of their underlay is
// made again — the leg, the tunnel, the firewall and the scheduler gate went with stop.sh — so their
// launchers, which keep trying, come back without a new bundle (docs/singlevm-network.md).
import { ensureClusterUnderlay, hasJoins, readJoins } from '../join-underlay.ts';
import { need, type Action } from './context.ts';

export const joinedMachines: Action = {
  name: "joined machines' underlay",
  when: (ctx) => !ctx.settings.simulate && hasJoins(ctx.paths),
  async execute(ctx) {
    const record = need(ctx.record, 'the cluster record', 'configuration');
    const network = need(ctx.real?.network, 'the cluster network', 'cluster network');
    const { underlay, joins } = await readJoins(ctx.paths);
    if (!underlay || !joins.length) return;
    await ensureClusterUnderlay({ cluster: ctx.name, paths: ctx.paths, clusterNs: network.clusterNs, schedulerPort: record.ports.scheduler }, underlay, joins.map((j) => j.address));
    return `${underlay.iface} at ${underlay.cidr}, tunnels to ${joins.map((j) => `${j.nodeId} (${j.address})`).join(', ')}`;
  },
};
