// How a CNCI installs NAT for an external IP. The simulated NAT only records mappings; the
// iptables implementation in a tenant's CNCI namespace implements the same interface.
import type { PublicIpPayload } from '../protocol/payloads.ts';

export interface Nat {
  assign(map: PublicIpPayload): Promise<void>;
  release(map: PublicIpPayload): Promise<void>;
}

export class UnknownMappingError extends Error {}

export class SimulatedNat implements Nat {
  readonly mappings = new Map<string, PublicIpPayload>();

  async assign(map: PublicIpPayload): Promise<void> {
    this.mappings.set(map.publicIp, map);
  }

  async release(map: PublicIpPayload): Promise<void> {
    if (!this.mappings.delete(map.publicIp)) throw new UnknownMappingError(`${map.publicIp} is not mapped on this CNCI`);
  }
}
