// What a create must know of a tenant's instances — the addresses in use and the resources its
// instances hold — kept up to date as instance records are written, not counted again for each
// request: with 100 000 instances, counting them made every create cost O(n) (docs/scale.md).
import { ApiError } from '../shared/errors.ts';
import { intToIp, ipToInt, parseCidr } from './addresses.ts';
import type { Instance } from './api-types.ts';
import type { Collection } from './datastore/datastore.ts';
import { claimedSize } from './instance-resize.ts';

/** What one instance adds to its tenant's book (kept, since records change in place). */
interface Entry {
  tenant: string;
  ip: number | null;
  /** The address as the record writes it (parsed again only when it changes). */
  ipText: string | undefined;
  /** A CNCI holds an address but no quota. */
  counted: boolean;
  state: Instance['state'];
  node: string | null;
  vcpus: number;
  mem_mb: number;
  disk_mb: number;
}

interface TenantBook {
  /** Addresses in use, each with how many records hold it. */
  used: Map<number, number>;
  /** Every address from the subnet's .2 below `floor` is in use (in `subnet`, as last seen). */
  floor: { subnet: string; at: number } | null;
  instances: number;
  vcpus: number;
  mem_mb: number;
  disk_mb: number;
}

export interface HeldResources {
  instances: number;
  vcpus: number;
  mem_mb: number;
  disk_mb: number;
}

const ipOf = (ip: string | undefined): number | null => {
  try {
    return ip ? ipToInt(ip) : null;
  } catch {
    return null;
  }
};

export class InstanceBook {
  private readonly entries = new Map<string, Entry>();
  private readonly tenants = new Map<string, TenantBook>();
  /** The ids of the instances placed on each node (CNCIs too): a node that connects or goes asks
   *  for its own, not for a pass over every instance (5 000 nodes × 100 000 instances). */
  private readonly nodes = new Map<string, Set<string>>();
  /** Instances of every tenant (CNCIs aside) by state. */
  private readonly states = new Map<Instance['state'], number>();
  private counted = 0;

  constructor(collection: Collection<Instance>) {
    for (const inst of collection.all()) this.write(inst.id, inst);
    collection.watch((id, inst) => this.write(id, inst));
  }

  /** Instances of every tenant waiting to start (CNCIs aside): created or restarted, not yet running. */
  get pendingStarts(): number {
    return this.states.get('pending') ?? 0;
  }

  /** How many instances of every tenant (CNCIs aside) there are, and in a given state. */
  count(state?: Instance['state']): number {
    return state ? this.states.get(state) ?? 0 : this.counted;
  }

  /** The ids of the instances placed on a node, CNCIs included. */
  onNode(nodeId: string): string[] {
    return [...(this.nodes.get(nodeId) ?? [])];
  }

  /** The instances (CNCIs aside) of a tenant and what they hold; a resize counts its larger flavor. */
  held(tenantId: string): HeldResources {
    const t = this.tenants.get(tenantId);
    return { instances: t?.instances ?? 0, vcpus: t?.vcpus ?? 0, mem_mb: t?.mem_mb ?? 0, disk_mb: t?.disk_mb ?? 0 };
  }

  /** The `count` lowest free addresses of the subnet from .2 up (the address plan, SPEC §4). Nothing
   *  is taken until the instances are written: a create that fails leaves the book as it was. */
  allocate(tenantId: string, subnet: string, count: number): string[] {
    const { base, size } = parseCidr(subnet);
    const t = this.book(tenantId);
    const end = base + size - 1;
    let n = t.floor?.subnet === subnet ? Math.max(t.floor.at, base + 2) : base + 2;
    while (n < end && t.used.has(n)) n++;
    t.floor = { subnet, at: n };
    const out: string[] = [];
    for (; out.length < count && n < end; n++) if (!t.used.has(n)) out.push(intToIp(n));
    if (out.length < count) throw new ApiError('pool_exhausted', `subnet ${subnet} has no free address left`);
    return out;
  }

  private book(tenantId: string): TenantBook {
    let t = this.tenants.get(tenantId);
    if (!t) this.tenants.set(tenantId, (t = { used: new Map(), floor: null, instances: 0, vcpus: 0, mem_mb: 0, disk_mb: 0 }));
    return t;
  }

  private write(id: string, inst: Instance | undefined) {
    const old = this.entries.get(id);
    const size = inst && claimedSize(inst);
    const ip = old && old.ipText === inst?.ip ? old.ip : ipOf(inst?.ip);
    const entry: Entry | undefined = inst && size && { tenant: inst.tenant_id, ip, ipText: inst.ip, counted: !inst.cnci, state: inst.state, node: inst.node_id ?? null, vcpus: size.vcpus, mem_mb: size.mem_mb, disk_mb: size.disk_mb };
    // Most writes change a state, not the address: the address stays counted (and the floor where it is).
    const sameAddress = !!old && !!entry && old.tenant === entry.tenant && old.ip === entry.ip;
    if (old) this.apply(old, -1, !sameAddress);
    if (entry) {
      this.entries.set(id, entry);
      this.apply(entry, 1, !sameAddress);
    } else this.entries.delete(id);
    if (old?.node !== entry?.node) this.move(id, old?.node ?? null, entry?.node ?? null);
  }

  private move(id: string, from: string | null, to: string | null) {
    const was = from === null ? undefined : this.nodes.get(from);
    if (was?.delete(id) && was.size === 0) this.nodes.delete(from!);
    if (to === null) return;
    let on = this.nodes.get(to);
    if (!on) this.nodes.set(to, (on = new Set()));
    on.add(id);
  }

  private apply(e: Entry, sign: 1 | -1, address: boolean) {
    const t = this.book(e.tenant);
    if (address && e.ip !== null) {
      const left = (t.used.get(e.ip) ?? 0) + sign;
      if (left > 0) t.used.set(e.ip, left);
      else {
        t.used.delete(e.ip);
        // A freed address below the floor is the lowest free one again.
        if (t.floor && e.ip < t.floor.at) t.floor.at = e.ip;
      }
    }
    if (!e.counted) return;
    this.states.set(e.state, (this.states.get(e.state) ?? 0) + sign);
    this.counted += sign;
    t.instances += sign;
    t.vcpus += sign * e.vcpus;
    t.mem_mb += sign * e.mem_mb;
    t.disk_mb += sign * e.disk_mb;
  }
}
