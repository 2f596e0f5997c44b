// The cluster's CA and certificates (shared/pki.ts): only the missing ones are issued, so a resume
// keeps the CA every client of the cluster already trusts. Each real node has its own certificate,
// naming it alone and granting its role (node 0's is the `agent` one; singlevm/node-roles.ts); the
// simulated nodes beside real ones share one for their prefix, granting compute only.
import { createClusterPki, issueCert } from '../../shared/pki.ts';
import { nodeRoles, PROTOCOL_ROLES, simPrefix } from '../node-roles.ts';
import type { Action } from './context.ts';

export const certificates: Action = {
  name: 'certificates',
  async execute(ctx) {
    const { name, settings, paths } = ctx;
    const roles = nodeRoles(settings.nodes, settings.networkNodes).map((r) => PROTOCOL_ROLES[r]);
    const pki = await createClusterPki(paths.pki, name, settings.simulate ? { nodes: `${name}-sim*` } : { nodes: `${name}-node-0`, agentRoles: roles[0] });
    const more = settings.simulate ? [] : await Promise.all(roles.slice(1).map((r, i) =>
      issueCert(paths.pki, pki.ca, { name: `agent-${i + 1}`, commonName: `${name}-node-${i + 1}`, roles: r })));
    const sim = settings.simNodes ? await issueCert(paths.pki, pki.ca, { name: 'agent-sim', commonName: `${simPrefix(name)}*`, roles: PROTOCOL_ROLES.compute }) : undefined;
    ctx.pki = { ...pki, agents: [pki.agent, ...more], ...(sim ? { simAgent: sim } : {}) };
  },
};
