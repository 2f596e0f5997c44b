// The cluster's CA and certificates (shared/pki.ts): only the missing ones are issued, so a resume
// keeps the CA every client of the cluster already trusts. Each real node has its own certificate,
// naming it alone (node 0's is the `agent` one), with the roles of its record (docs/nodes.md).
import { createClusterPki, issueCert, type CertPaths } from '../../shared/pki.ts';
import { nodesOf, rolesOf } from '../cluster-network.ts';
import type { Action } from './context.ts';

export const certificates: Action = {
  name: 'certificates',
  async execute(ctx) {
    const { name, settings, paths } = ctx;
    const pki = await createClusterPki(paths.pki, name, { nodes: settings.simulate ? `${name}-sim*` : `${name}-node-0` });
    const network = ctx.record?.network;
    // The record's node list once there is one (nodes node.sh added among them), else setup's N.
    const legs = settings.simulate ? [] : network?.nodes ? nodesOf(network) : Array.from({ length: settings.nodes }, (_, index) => ({ index, role: undefined }));
    const agents: CertPaths[] = [];
    agents[0] = pki.agent;
    await Promise.all(legs.filter((l) => l.index > 0).map(async (l) => {
      agents[l.index] = await issueCert(paths.pki, pki.ca, { name: `agent-${l.index}`, commonName: `${name}-node-${l.index}`, roles: rolesOf(l.role) });
    }));
    ctx.pki = { ...pki, agents };
  },
};
