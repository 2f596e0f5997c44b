// The daemons as plain JavaScript bundles (build-daemons.ts): made again on every run, so a resume
// runs the code that is checked out now.
import type { Action } from './context.ts';

export const daemonBundles: Action = {
  name: 'build daemons',
  async execute(ctx) {
    ctx.bundles = await ctx.host.buildDaemons(ctx.name);
  },
};
