// Each tenant's way out (docs/egress.md, "Per tenant"): stored as its config.egress, checked
// against what the cluster has, and told to its CNCI when it changes and whenever the CNCI
// (re)joins, so a CNCI that missed a change converges.
import { ApiError } from '../shared/errors.ts';
import type { Tenant } from './api-types.ts';
import type { ControllerContext } from './context.ts';
import type { Instances } from './instances.ts';

/** A way out asked of a cluster that has none. */
export const noEgress = () =>
  new ApiError('no_egress', 'this cluster was set up without --egress: it has no way out to give a tenant (set it up with setup.sh --egress)');

export class TenantEgress {
  constructor(private readonly ctx: ControllerContext, instances: Instances) {
    const before = instances.onCnciReady;
    instances.onCnciReady = (tenantId, cnci) => {
      before(tenantId, cnci);
      const tenant = ctx.store.tenants.get(tenantId);
      if (tenant) this.tell(tenant, cnci);
    };
    // Tenants from before the setting existed get the cluster's default.
    for (const t of ctx.store.tenants.all()) {
      if (typeof t.config.egress !== 'boolean') ctx.store.tenants.put({ ...t, config: { ...t.config, egress: this.clusterHasEgress } });
    }
  }

  get clusterHasEgress(): boolean {
    return this.ctx.egress === true;
  }

  /** Tells the tenant's CNCI its setting, when it has one running; it hears it again on CNCI_READY. */
  tell(tenant: Tenant, cnci = tenant.cnci?.state === 'ready' ? tenant.cnci.instance_id : undefined): void {
    if (!this.clusterHasEgress || !cnci) return;
    const sent = this.ctx.send({ type: 'COMMAND', op: 'CNCI_EGRESS', to: cnci, payload: { tenantId: tenant.id, egress: tenant.config.egress } });
    if (!sent) this.ctx.logger.warn('egress not sent: the scheduler is not connected (the CNCI hears it when it joins again)', { tenantId: tenant.id });
  }
}
