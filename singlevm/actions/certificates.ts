// The cluster's CA and certificates (shared/pki.ts): only the missing ones are issued, so a resume
// keeps the CA every client of the cluster already trusts.
import { createClusterPki } from '../../shared/pki.ts';
import type { Action } from './context.ts';

export const certificates: Action = {
  name: 'certificates',
  async execute(ctx) {
    ctx.pki = await createClusterPki(ctx.paths.pki, ctx.name, { nodes: ctx.settings.simulate ? `${ctx.name}-sim*` : `${ctx.name}-node-0` });
  },
};
