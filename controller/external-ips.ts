// External IPs: pools (admin) and map/unmap through the tenant's CNCI, answered by its events.
import { randomUUID } from 'node:crypto';
import type { PublicIpFailure, PublicIpPayload } from '../protocol/payloads.ts';
import { ApiError, badRequest, notFound } from '../shared/errors.ts';
import { ipToInt, parseCidr } from './addresses.ts';
import type { ExternalIp, Instance, Pool, Tenant } from './api-types.ts';
import { now, schedulerNotConnected, type ControllerContext } from './context.ts';
import { checkQuota } from './quotas.ts';
import { firstShared, lowestFreeAddress, poolSize } from './pools.ts';
import type { Instances } from './instances.ts';

export class ExternalIps {
  constructor(private readonly ctx: ControllerContext, private readonly instances: Instances) {
    instances.onGone = (inst) => this.instanceGone(inst);
    instances.onCnciReady = (tenantId, cnci) => this.reassert(tenantId, cnci);
  }

  // --- pools ---------------------------------------------------------------------------------

  pool(name: string): Pool {
    const pool = this.ctx.store.pools.all().find((p) => p.name === name);
    if (!pool) throw notFound('pool', name);
    return pool;
  }

  poolView(pool: Pool) {
    const total = poolSize(pool);
    const used = this.ctx.store.externalIps.all().filter((m) => m.pool === pool.name).length;
    return { ...pool, total, free: total - used };
  }

  createPool(name: string, subnet?: string, ips: string[] = []): Pool {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw badRequest(`pool name ${JSON.stringify(name)} must be 1-64 letters, digits, '.', '_' or '-'`);
    if (this.ctx.store.pools.all().some((p) => p.name === name)) throw new ApiError('conflict', `pool ${name} already exists`);
    return this.withAddresses({ id: randomUUID(), name, subnets: [], ips: [] }, subnet, ips);
  }

  addToPool(pool: Pool, subnet?: string, ips: string[] = []): Pool {
    if (!subnet && ips.length === 0) throw badRequest('give a subnet or ips to add');
    return this.withAddresses(pool, subnet, ips);
  }

  /** Saves the pool with the new addresses, which no other pool may hold. */
  private withAddresses(pool: Pool, subnet: string | undefined, ips: string[]): Pool {
    if (subnet) parseCidr(subnet);
    for (const ip of ips) ipToInt(ip);
    const next: Pool = { ...pool, subnets: subnet ? [...pool.subnets, subnet] : pool.subnets, ips: [...pool.ips, ...ips] };
    for (const other of this.ctx.store.pools.all().filter((p) => p.id !== pool.id)) {
      const clash = firstShared(next, other);
      if (clash) throw new ApiError('conflict', `address ${clash} already belongs to another pool (${other.name})`);
    }
    this.ctx.store.pools.put(next);
    return next;
  }

  deletePool(name: string): void {
    const pool = this.pool(name);
    const inUse = this.ctx.store.externalIps.all().filter((m) => m.pool === name).length;
    if (inUse) throw new ApiError('in_use', `pool ${name} has ${inUse} mapped address(es): unmap them first`);
    this.ctx.store.pools.delete(pool.id);
  }

  // --- mappings ------------------------------------------------------------------------------

  list(tenantId?: string): ExternalIp[] {
    return tenantId ? this.ctx.store.externalIps.byTenant(tenantId) : this.ctx.store.externalIps.all();
  }

  map(tenant: Tenant, instanceId: string, poolName?: string): ExternalIp {
    const { store } = this.ctx;
    const inst = this.instances.get(tenant, instanceId);
    if (inst.external_ip) throw new ApiError('conflict', `instance ${inst.id} already has external IP ${inst.external_ip}`);
    const cnci = this.readyCnci(tenant);
    checkQuota(store.quotas.get(tenant.id), this.instances.usage(tenant.id), { external_ips: 1 });
    const pools = poolName ? [this.pool(poolName)] : store.pools.all();
    if (pools.length === 0) throw new ApiError('pool_exhausted', 'there is no external IP pool: an admin must create one (ciao create pool NAME --subnet CIDR)');
    const { ip, pool } = lowestFreeAddress(pools, new Set(store.externalIps.all().map((m) => m.ip)));
    const mapping: ExternalIp = {
      id: ip, ip, pool: pool.name, tenant_id: tenant.id, instance_id: inst.id, private_ip: inst.ip, state: 'mapping', created_at: now(),
    };
    this.sendToCnci('ASSIGN_PUBLIC_IP', cnci, mapping);
    store.externalIps.put(mapping);
    inst.external_ip = ip;
    store.instances.put(inst);
    return mapping;
  }

  unmap(tenant: Tenant, ip: string): ExternalIp {
    const mapping = this.ctx.store.externalIps.get(ip);
    if (!mapping || mapping.tenant_id !== tenant.id) throw notFound('external IP', ip);
    if (mapping.state !== 'mapped') throw new ApiError('invalid_state', `external IP ${ip} is ${mapping.state}: wait for it to settle`);
    this.sendToCnci('RELEASE_PUBLIC_IP', this.readyCnci(tenant), mapping);
    mapping.state = 'unmapping';
    this.ctx.store.externalIps.put(mapping);
    return mapping;
  }

  setNatFault(tenant: Tenant, natFailure: boolean): void {
    const cnci = this.readyCnci(tenant);
    if (!this.ctx.send({ type: 'COMMAND', op: 'CNCI_FAULT', to: cnci, payload: { natFailure } })) throw schedulerNotConnected();
  }

  private readyCnci(tenant: Tenant): string {
    if (tenant.cnci?.state !== 'ready') throw new ApiError('no_cnci', `tenant ${tenant.id} has no running CNCI yet: start an instance first, then wait for it to be active`);
    return tenant.cnci.instance_id;
  }

  private sendToCnci(op: 'ASSIGN_PUBLIC_IP' | 'RELEASE_PUBLIC_IP', cnci: string, m: ExternalIp) {
    const payload: PublicIpPayload = { tenantId: m.tenant_id, instanceId: m.instance_id, publicIp: m.ip, privateIp: m.private_ip };
    if (!this.ctx.send({ type: 'COMMAND', op, to: cnci, payload })) throw schedulerNotConnected();
  }

  /** A CNCI that is ready again (its agent restarted, or the cluster resumed after a stop or a
   *  reboot) may have lost its NAT: it is told every mapping of its tenant again (assign is idempotent). */
  private reassert(tenantId: string, cnci: string) {
    for (const m of this.ctx.store.externalIps.byTenant(tenantId)) {
      if (m.state !== 'mapped' && m.state !== 'mapping') continue;
      const payload: PublicIpPayload = { tenantId: m.tenant_id, instanceId: m.instance_id, publicIp: m.ip, privateIp: m.private_ip };
      this.ctx.send({ type: 'COMMAND', op: 'ASSIGN_PUBLIC_IP', to: cnci, payload });
    }
  }

  // --- what the CNCI reports -----------------------------------------------------------------

  assigned(p: PublicIpPayload): void {
    const mapping = this.ctx.store.externalIps.get(p.publicIp);
    if (!mapping || mapping.state !== 'mapping') return;
    mapping.state = 'mapped';
    this.ctx.store.externalIps.put(mapping);
    this.ctx.events.add(mapping.tenant_id, 'info', `Mapped ${mapping.ip} to ${mapping.instance_id}`);
  }

  released(p: PublicIpPayload): void {
    const mapping = this.ctx.store.externalIps.get(p.publicIp);
    if (!mapping) return;
    this.drop(mapping);
    this.ctx.events.add(mapping.tenant_id, 'info', `Unmapped ${mapping.ip} from ${mapping.instance_id}`);
  }

  failed(f: PublicIpFailure): void {
    const mapping = this.ctx.store.externalIps.get(f.publicIp);
    if (!mapping) return;
    if (f.op === 'assign') {
      this.drop(mapping);
      this.ctx.events.add(mapping.tenant_id, 'error', `Failed to map ${mapping.ip} to ${mapping.instance_id}: ${f.reason} (${f.message})`);
    } else {
      mapping.state = 'mapped';
      this.ctx.store.externalIps.put(mapping);
      this.ctx.events.add(mapping.tenant_id, 'error', `Failed to unmap ${mapping.ip} from ${mapping.instance_id}: ${f.reason} (${f.message})`);
    }
  }

  private drop(mapping: ExternalIp) {
    this.ctx.store.externalIps.delete(mapping.id);
    const inst = this.ctx.store.instances.get(mapping.instance_id);
    if (inst?.external_ip === mapping.ip) {
      inst.external_ip = null;
      this.ctx.store.instances.put(inst);
    }
  }

  /** A deleted instance gives its external IP back (the CNCI is told to drop the NAT). */
  private instanceGone(inst: Instance) {
    for (const mapping of this.ctx.store.externalIps.all().filter((m) => m.instance_id === inst.id)) {
      const tenant = this.ctx.store.tenants.get(mapping.tenant_id);
      if (tenant?.cnci?.state === 'ready') {
        const payload = { tenantId: mapping.tenant_id, instanceId: mapping.instance_id, publicIp: mapping.ip, privateIp: mapping.private_ip };
        this.ctx.send({ type: 'COMMAND', op: 'RELEASE_PUBLIC_IP', to: tenant.cnci.instance_id, payload });
      }
      this.ctx.store.externalIps.delete(mapping.id);
      this.ctx.events.add(mapping.tenant_id, 'info', `Unmapped ${mapping.ip} from ${mapping.instance_id}`);
    }
  }
}
