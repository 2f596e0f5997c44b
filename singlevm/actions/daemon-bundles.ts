// The daemons as plain JavaScript bundles (build-daemons.ts): asked for on every run, so a resume
// runs the code that is checked out now; they are built again only when that code changed.
import type { Action } from './context.ts';

export const daemonBundles: Action = {
  name: 'build daemons',
  async execute(ctx) {
    ctx.bundles = await ctx.host.buildDaemons();
  },
};
