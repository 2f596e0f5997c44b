// ~/local/demo.sh (or demo-NAME.sh): the cluster's variables for the shell, the CLI and BAT.
import { writeDemoSh } from '../demo-sh.ts';
import { need, urls, type Action } from './context.ts';

export const demoSh: Action = {
  name: 'write demo.sh',
  async execute(ctx) {
    const { identity, controller } = urls(ctx);
    await writeDemoSh(ctx.paths.demoSh, {
      name: ctx.name, identityUrl: identity, controllerUrl: controller, caFile: need(ctx.pki, 'the certificates', 'certificates').ca.cert,
      stateDir: ctx.paths.stateDir, creds: need(ctx.creds, 'the credentials', 'credentials'),
      sshKey: ctx.settings.simulate ? undefined : ctx.paths.sshKey, simulated: ctx.settings.simulate,
    });
  },
};
