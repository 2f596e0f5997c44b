// A real node's tenant networks, inside the node's namespace (SPEC §4): per tenant subnet with an
// instance here, the tenant bridge + VXLAN to the tenant's CNCI; a VM's tap or a container's veth
// joins that bridge. A subnet's segment goes when its last instance on the node does.
import type { StartPayload } from '../protocol/payloads.ts';
import { UPLINK } from '../network/cluster-leg.ts';
import { addTunnelPeers, clusterEndpoints, ensureTenantSegment, removeTenantSegment, setTunnelPeers } from '../network/tenant-tunnel.ts';
import { attachContainer, hasLink } from '../network/container-link.ts';
import { ipIn } from '../network/ip.ts';
import { parseCidr } from '../controller/addresses.ts';
import { LaunchError } from './backend.ts';

/** The bridge side of a container's veth (at most 15 characters). */
export const containerLinkName = (instanceId: string) => `c${instanceId.replace(/-/g, '').slice(0, 12)}`;

export class NodeNetwork {
  /** subnet → the instances on this node that use it. */
  private readonly members = new Map<string, Set<string>>();
  private readonly subnetOf = new Map<string, string>();
  /** subnet → its CNCI's leg, the far end every segment floods to. */
  private readonly cnciOf = new Map<string, string>();
  /** The other real nodes' legs (TUNNEL_PEERS less this node's own). */
  private otherNodes: string[] = [];
  /** subnet → its bridge, once this process has made (or checked) its segment and flood list:
   *  another start on it needs nothing more (TUNNEL_PEERS keeps the flood lists since). */
  private readonly wired = new Map<string, string>();
  /** One change at a time per subnet: two starts must not both create its bridge. */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(readonly ns: string, readonly legIp: string) {}

  private serial<T>(subnet: string, fn: () => Promise<T>): Promise<T> {
    const next = (this.locks.get(subnet) ?? Promise.resolve()).then(fn, fn);
    this.locks.set(subnet, next.catch(() => undefined));
    return next;
  }

  /** Makes the instance's tenant segment (tunnelled to its CNCI) and returns the bridge to join. */
  async join(spec: StartPayload): Promise<string> {
    const { subnet, cnciIp } = spec.network;
    if (!cnciIp) throw new LaunchError('network_failure', `tenant ${spec.tenantId} has no CNCI address yet: its subnet ${subnet} cannot be reached`);
    try {
      return await this.serial(subnet, async () => {
        const known = this.wired.get(subnet);
        if (known && this.members.get(subnet)?.size && this.cnciOf.get(subnet) === cnciIp) {
          this.adopt(spec);
          return known;
        }
        const { bridge, made } = await ensureTenantSegment(this.ns, subnet, UPLINK, this.legIp);
        await addTunnelPeers(this.ns, subnet, [cnciIp, ...this.otherNodes], made);
        this.adopt(spec);
        this.wired.set(subnet, bridge);
        return bridge;
      });
    } catch (err) {
      throw new LaunchError('network_failure', `could not make the tenant network ${subnet} on node namespace ${this.ns}: ${(err as Error).message}`);
    }
  }

  /** Counts an instance that is already wired (a re-adopted one). */
  adopt(spec: StartPayload): void {
    const { subnet } = spec.network;
    if (!this.members.has(subnet)) this.members.set(subnet, new Set());
    this.members.get(subnet)!.add(spec.instanceId);
    this.subnetOf.set(spec.instanceId, subnet);
    if (spec.network.cnciIp) this.cnciOf.set(subnet, spec.network.cnciIp);
  }

  /** The cluster's real nodes changed (TUNNEL_PEERS): every segment here floods to its CNCI and to
   *  every other node, and no longer to one that left (docs/singlevm-network.md). */
  async setNodePeers(ips: string[]): Promise<void> {
    this.otherNodes = clusterEndpoints(ips).filter((ip) => ip !== this.legIp);
    // Every subnet with a change queued too: a join under way, queued before this, is counted by then.
    await Promise.all([...this.locks.keys()].map((subnet) => this.serial(subnet, async () => {
      if (!this.members.has(subnet)) return;
      const cnci = this.cnciOf.get(subnet);
      await setTunnelPeers(this.ns, subnet, [...(cnci ? [cnci] : []), ...this.otherNodes]);
    })));
  }

  /** A container joins `bridge` (from join) with a veth moved into its namespace, with its controller-assigned MAC and IP. */
  async attachContainer(spec: StartPayload, pid: number, bridge: string): Promise<void> {
    const { ip, mac, subnet, gateway } = spec.network;
    await attachContainer({
      nodeNs: this.ns, bridge, hostSide: containerLinkName(spec.instanceId), pid, mac, cidr: `${ip}/${parseCidr(subnet).bits}`, gateway,
    });
  }

  /** A running container found again: counted if its link is there, attached again if not. */
  async adoptContainer(spec: StartPayload, pid: number): Promise<void> {
    if (await hasLink(pid, 'eth0')) this.adopt(spec);
    else await this.attachContainer(spec, pid, await this.join(spec));
  }

  /** The instance is gone from this node; the last one of a subnet takes the segment with it. */
  async leave(instanceId: string): Promise<void> {
    // A removed container's veth goes with its namespace, but the kernel frees that namespace
    // asynchronously: delete the bridge side now, so "gone" means gone.
    await ipIn(this.ns, 'link', 'del', containerLinkName(instanceId)).catch(() => undefined);
    const subnet = this.subnetOf.get(instanceId);
    if (!subnet) return;
    this.subnetOf.delete(instanceId);
    await this.serial(subnet, async () => {
      const members = this.members.get(subnet);
      members?.delete(instanceId);
      if (members?.size) return;
      this.members.delete(subnet);
      this.cnciOf.delete(subnet);
      this.wired.delete(subnet);
      await removeTenantSegment(this.ns, subnet);
    });
  }
}
