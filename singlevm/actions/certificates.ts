// The cluster's CA and certificates (shared/pki.ts): only the missing ones are issued, so a resume
// keeps the CA every client of the cluster already trusts. Each real node has its own certificate,
// naming it alone and granting its role (node 0's is the `agent` one; singlevm/node-roles.ts), as
// the record's node list says once there is one (node.sh add appends to it: docs/nodes.md); the
// simulated nodes beside real ones (--sim-nodes) share one for their prefix, granting compute only.
import { createClusterPki, issueCert, type CertPaths } from '../../shared/pki.ts';
import { nodesOf } from '../cluster-network.ts';
import { legRole, PROTOCOL_ROLES, simPrefix, type NodeRole } from '../node-roles.ts';
import type { Action } from './context.ts';

export const certificates: Action = {
  name: 'certificates',
  async execute(ctx) {
    const { name, settings, paths } = ctx;
    const network = ctx.record?.network;
    const legs = settings.simulate ? [] : network?.nodes ? nodesOf(network) : Array.from({ length: settings.nodes }, (_, index) => ({ index }));
    const roles = (leg: { index: number; role?: NodeRole }) => PROTOCOL_ROLES[legRole(leg, settings)];
    const pki = await createClusterPki(paths.pki, name, settings.simulate ? { nodes: `${name}-sim*` } : { nodes: `${name}-node-0`, agentRoles: roles({ index: 0, ...legs.find((l) => l.index === 0) }) });
    const agents: CertPaths[] = [];
    agents[0] = pki.agent;
    await Promise.all(legs.filter((l) => l.index > 0).map(async (l) => {
      agents[l.index] = await issueCert(paths.pki, pki.ca, { name: `agent-${l.index}`, commonName: `${name}-node-${l.index}`, roles: roles(l) });
    }));
    const sim = settings.simNodes ? await issueCert(paths.pki, pki.ca, { name: 'agent-sim', commonName: `${simPrefix(name)}*`, roles: PROTOCOL_ROLES.compute }) : undefined;
    ctx.pki = { ...pki, agents, ...(sim ? { simAgent: sim } : {}) };
  },
};
