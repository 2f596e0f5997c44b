// Step 8: when the CNCI's NAT fails (a fault the admin injects), an unmap and a map each end in a
// "Failed to …" event rather than silence; the fault is cleared whatever happens, and the mapping
// is then removed for real.
import type { ExternalIp } from '../../controller/api-types.ts';
import { tenantPath, type VerifyStep } from './context.ts';
import { startedInstances } from './start-instances.ts';
import { escapeRegExp, expectEvent } from './events.ts';

export const natFailureReported: VerifyStep = {
  name: 'NAT failure is reported',
  async execute(ctx) {
    const { vms } = startedInstances(ctx);
    const tenant = tenantPath(ctx);
    let m!: ExternalIp;
    await expectEvent(ctx, /^Mapped /, async () => (m = await ctx.user.call<ExternalIp>('POST', `${tenant}/external-ips`, { instance_id: vms[0].id, pool: ctx.pool })));
    await ctx.admin.call('POST', `${tenant}/cnci/faults`, { nat_failure: true });
    try {
      await expectEvent(ctx, new RegExp(`^Failed to unmap ${escapeRegExp(m.ip)}`), () => ctx.user.call('DELETE', `${tenant}/external-ips/${m.ip}`));
      await expectEvent(ctx, /^Failed to map /, () => ctx.user.call('POST', `${tenant}/external-ips`, { instance_id: vms[1].id, pool: ctx.pool }));
    } finally {
      await ctx.admin.call('POST', `${tenant}/cnci/faults`, { nat_failure: false });
    }
    await expectEvent(ctx, new RegExp(`^Unmapped ${escapeRegExp(m.ip)}`), () => ctx.user.call('DELETE', `${tenant}/external-ips/${m.ip}`));
  },
};
