// The cluster's CA and certificates (shared/pki.ts): only the missing ones are issued, so a resume
// keeps the CA every client of the cluster already trusts. Each real node has its own certificate,
// naming it alone (node 0's is the `agent` one).
import { createClusterPki, issueCert } from '../../shared/pki.ts';
import type { Action } from './context.ts';

export const certificates: Action = {
  name: 'certificates',
  async execute(ctx) {
    const { name, settings, paths } = ctx;
    const pki = await createClusterPki(paths.pki, name, { nodes: settings.simulate ? `${name}-sim*` : `${name}-node-0` });
    const more = settings.simulate ? [] : await Promise.all(Array.from({ length: settings.nodes - 1 }, (_, i) =>
      issueCert(paths.pki, pki.ca, { name: `agent-${i + 1}`, commonName: `${name}-node-${i + 1}`, roles: ['compute', 'network'] })));
    ctx.pki = { ...pki, agents: [pki.agent, ...more] };
  },
};
