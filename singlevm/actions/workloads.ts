// The default workloads (SPEC §5): a VM with demouser, a container, the internal CNCI. Each is
// made once; a resume finds them by description.
import { readFile } from 'node:fs/promises';
import { defaultWorkloads, SIM_CONTAINER_IMAGE } from '../default-workloads.ts';
import { need, type Action } from './context.ts';

export const workloads: Action = {
  name: 'workloads',
  async execute(ctx) {
    const admin = need(ctx.admin, 'the admin client', 'start control plane');
    const tenant = `/tenants/${await admin.tenantId()}`;
    const wanted = defaultWorkloads(ctx.settings.simulate
      ? { containerImage: SIM_CONTAINER_IMAGE }
      : { containerImage: need(ctx.real?.containerImage, 'the container image', 'container image'), sshPublicKey: (await readFile(`${ctx.paths.sshKey}.pub`, 'utf8')).trim() });
    const { workloads: existing } = await admin.call<{ workloads: { description: string }[] }>('GET', `${tenant}/workloads`);
    for (const w of wanted) {
      if (!existing.some((e) => e.description === w.description)) await admin.call('POST', `${tenant}/workloads`, w);
    }
  },
};
