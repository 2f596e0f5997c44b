// Tenants: one per identity project, created on first sight of a token scoped to it, each with
// its own subnet from the tenant space.
import { ApiError, badRequest, notFound } from '../shared/errors.ts';
import { allocateSubnet } from './addresses.ts';
import { isUuid } from '../shared/safe-path.ts';
import type { Tenant, TenantConfig } from './api-types.ts';
import { now, type ControllerContext } from './context.ts';
import { noEgress } from './tenant-egress.ts';

const DEFAULT_CONFIG: Omit<TenantConfig, 'egress'> = { subnet_bits: 24, privileged_containers: false };

export class Tenants {
  constructor(private readonly ctx: ControllerContext) {}

  get(id: string): Tenant {
    const tenant = this.ctx.store.tenants.get(id);
    if (!tenant) throw notFound('tenant', id);
    return tenant;
  }

  /** The tenant of a project, created the first time the project is seen. */
  ensure(id: string, name: string): Tenant {
    return this.ctx.store.tenants.get(id) ?? this.create({ id, name });
  }

  create(input: { id: string; name: string; config?: Partial<TenantConfig> }): Tenant {
    // A tenant's id names its CNCI's namespace and folders: a UUID, whoever chose it.
    if (!isUuid(input.id)) throw badRequest(`tenant id ${JSON.stringify(input.id).slice(0, 80)} must be a UUID`);
    if (this.ctx.store.tenants.get(input.id)) throw new ApiError('conflict', `tenant ${input.id} already exists`);
    if (input.config?.egress && !this.ctx.egress) throw noEgress();
    const config = { ...DEFAULT_CONFIG, egress: this.ctx.egress === true, ...input.config };
    const subnet = allocateSubnet(this.ctx.store.tenants.all().map((t) => t.subnet), config.subnet_bits);
    const tenant: Tenant = { id: input.id, name: input.name, subnet, config, cnci: null, created_at: now() };
    this.ctx.store.tenants.put(tenant);
    return tenant;
  }

  update(id: string, change: { name?: string; config?: Partial<TenantConfig> }): Tenant {
    const tenant = this.get(id);
    if (change.config?.egress && !this.ctx.egress) throw noEgress();
    const config = { ...tenant.config, ...change.config };
    let subnet = tenant.subnet;
    if (config.subnet_bits !== tenant.config.subnet_bits) {
      if (this.ctx.store.instances.byTenant(id).length) throw new ApiError('in_use', `tenant ${id} has instances: its subnet size can change only when it has none`);
      subnet = allocateSubnet(this.ctx.store.tenants.all().filter((t) => t.id !== id).map((t) => t.subnet), config.subnet_bits);
    }
    const next = { ...tenant, name: change.name ?? tenant.name, config, subnet };
    this.ctx.store.tenants.put(next);
    return next;
  }

  delete(id: string): void {
    this.get(id);
    const left = this.ctx.store.instances.byTenant(id).filter((i) => !i.cnci).length;
    if (left) throw new ApiError('in_use', `tenant ${id} still has ${left} instance(s): delete them first`);
    const volumes = this.ctx.store.volumes.byTenant(id).length;
    if (volumes) throw new ApiError('in_use', `tenant ${id} still has ${volumes} volume(s): delete them first (ciao list volumes)`);
    // What its deleted servers' instance actions were goes with it.
    for (const gone of this.ctx.store.deletedServers.byTenant(id)) this.ctx.store.deletedServers.delete(gone.id);
    // So do its quotas (kept by the tenant's id): its project, seen again, starts from the defaults.
    this.ctx.store.quotas.delete(id);
    this.ctx.store.tenants.delete(id);
  }
}
