// A tenant's CNCI on a real network node: its own namespace `ciao-<cluster>-cnci-<tenant>` with a leg
// on ciao_br (address from the cluster's dnsmasq), the tenant's gateway and DHCP (tenant-gateway.ts),
// the tunnel to the nodes, NAT for external IPs (iptables-nat.ts), and its agent on the cluster
// protocol. Its folder keeps the start request, so a restarted launcher re-adopts it.
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StartPayload } from '../protocol/payloads.ts';
import type { Logger } from '../shared/log.ts';
import { fileFor, isUuid } from '../shared/safe-path.ts';
import { mapLimit } from '../shared/map-limit.ts';
import { createNamespace, deleteNamespace, endProcessesIn, listNamespaces, namespaceName } from '../network/namespaces.ts';
import { addVethPair } from '../network/links.ts';
import { ipBatch, ipIn, linksOf } from '../network/ip.ts';
import { UPLINK } from '../network/cluster-leg.ts';
import { addTunnelPeers, bridgeName, clusterEndpoints, setTunnelPeers, vniOf } from '../network/tenant-tunnel.ts';
import { addressOf, leaseAddress, releaseAddress } from '../network/dhcp-client.ts';
import { LaunchError, type AdoptedInstance, type Backend, type Running } from '../launcher/backend.ts';
import { startTenantGateway, stopTenantGateway, type TenantEgress } from './tenant-gateway.ts';
import { IptablesNat } from './iptables-nat.ts';
import { applyTenantEgress, saveTenantEgress } from './tenant-egress.ts';
import type { Nat } from './nat.ts';

/** The CNCI namespace of a tenant: verify and the tests reach the tenant's private addresses from it. */
export const cnciNamespace = (cluster: string, tenantId: string) => namespaceName(cluster, `cnci-${tenantKey(tenantId)}`);
const tenantKey = (tenantId: string) => tenantId.replace(/-/g, '').slice(0, 10);
/** A CNCI leg's MAC: locally administered, from its tenant's id. */
export const legMac = (tenantId: string) => `02:ce:${tenantId.replace(/-/g, '').slice(0, 8).match(/../g)!.join(':')}`;
/** The cluster namespace's link on ciao_br: the CNCIs' way to the cluster's dnsmasq and its NAT. */
const CLUSTER_DEV = 'ciaovlan';

export interface CnciBackendOptions {
  cluster: string;
  /** The cluster namespace (ciao_br, ciaovlan) and where CNCI folders go. */
  clusterNs: string;
  stateDir: string;
  /** The real nodes' legs on ciao_br (this node's own until TUNNEL_PEERS came): the tenant segment's tunnel peers. */
  nodeIps(): string[];
  /** Joins the CNCI's agent to the cluster with this NAT and leg address (and its egress switch,
   *  with egress); returns how to stop it. */
  startAgent(spec: StartPayload, nat: Nat, address: string, setEgress?: (on: boolean) => Promise<void>): { stop(): void };
  logger: Logger;
  /** The cluster's egress (docs/egress.md), when setup made one. */
  egress?: TenantEgress;
}

interface Cnci {
  spec: StartPayload;
  /** Its leg's address on ciao_br. */
  legIp: string;
  agent?: { stop(): void };
}

export class CnciBackend implements Backend {
  readonly kind = 'cnci';
  private readonly cncis = new Map<string, Cnci>();

  constructor(private readonly opts: CnciBackendOptions) {}

  private dir(id: string) {
    return fileFor(join(this.opts.stateDir, 'cnci'), id);
  }

  async start(spec: StartPayload): Promise<Running> {
    const ns = cnciNamespace(this.opts.cluster, spec.tenantId);
    const dir = this.dir(spec.instanceId);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'spec.json'), JSON.stringify(spec));
    let legIp: string;
    let fresh: boolean;
    try {
      ({ legIp, fresh } = await this.wire(ns, spec, dir));
    } catch (err) {
      throw new LaunchError('network_failure', `could not build the CNCI of tenant ${spec.tenantId} in ${ns}: ${(err as Error).message}`);
    }
    const nat = new IptablesNat(ns, UPLINK, { clusterNs: this.opts.clusterNs, via: legIp, dev: CLUSTER_DEV });
    this.cncis.get(spec.instanceId)?.agent?.stop();
    const setEgress = this.opts.egress && (async (on: boolean) => {
      await saveTenantEgress(dir, on);
      await applyTenantEgress(ns, bridgeName(vniOf(spec.network.subnet)), on);
    });
    const cnci: Cnci = { spec, legIp };
    this.cncis.set(spec.instanceId, cnci);
    try {
      // The nodes' legs are read once the CNCI is in the map (a set that comes later reaches it
      // through setNodePeers), and before its agent says it is ready. Only added here: one that left
      // is removed by setNodePeers, so a CNCI re-adopted before the launcher has heard the set keeps
      // reaching the other nodes.
      await addTunnelPeers(ns, spec.network.subnet, clusterEndpoints(this.opts.nodeIps()), fresh);
    } catch (err) {
      throw new LaunchError('network_failure', `could not tunnel the CNCI of tenant ${spec.tenantId} to the nodes: ${(err as Error).message}`);
    }
    cnci.agent = this.opts.startAgent(spec, nat, legIp, setEgress);
    // The leg address is what the controller hands the tenant's instances as their tunnel's far end.
    return { sshIp: legIp };
  }

  /** Namespace, leg (veth from ciao_br, address by DHCP), gateway + DHCP. Idempotent: what is
   *  there is kept; in a namespace made just now (`fresh`) nothing is looked for first. */
  private async wire(ns: string, spec: StartPayload, dir: string): Promise<{ legIp: string; fresh: boolean }> {
    const fresh = await createNamespace(ns);
    const uplink = fresh ? undefined : (await linksOf(ns)).find((l) => l.ifname === UPLINK);
    const side = `cn${tenantKey(spec.tenantId)}`.slice(0, 15);
    if (!uplink) {
      // The same MAC every time the leg is made (a resume, a reboot): the cluster's dnsmasq then
      // leases it the same address, which the tenant's instances know as their tunnel's far end.
      await addVethPair(this.opts.clusterNs, side, ns, UPLINK, { peerMac: legMac(spec.tenantId), bridge: 'ciao_br' });
    } else if (!uplink.flags?.includes('UP')) {
      // Made by a launcher killed before it set the leg up (its end last): it is made whole, or no
      // DHCP answer ever comes through it.
      await ipBatch(this.opts.clusterNs, [['link', 'set', side, 'master', 'ciao_br'], ['link', 'set', side, 'up']]);
      await ipIn(ns, 'link', 'set', UPLINK, 'up');
    }
    const legIp = await leaseAddress(ns, UPLINK, dir, fresh);
    await startTenantGateway(ns, spec.network.subnet, legIp, dir, this.opts.egress, fresh);
    return { legIp, fresh };
  }

  /** The cluster's real nodes changed (TUNNEL_PEERS): each CNCI here floods to exactly those nodes. */
  async setNodePeers(): Promise<void> {
    const nodes = clusterEndpoints(this.opts.nodeIps());
    for (const { spec } of this.cncis.values()) {
      const ns = cnciNamespace(this.opts.cluster, spec.tenantId);
      await setTunnelPeers(ns, spec.network.subnet, nodes).catch((err) =>
        this.opts.logger.warn('CNCI flood list not updated', { instanceId: spec.instanceId, error: (err as Error).message }));
    }
  }

  async stop(instanceId: string): Promise<void> {
    const cnci = this.cncis.get(instanceId);
    cnci?.agent?.stop();
    if (cnci) cnci.agent = undefined;
  }

  async delete(instanceId: string): Promise<void> {
    await this.stop(instanceId);
    const dir = this.dir(instanceId);
    const known = this.cncis.get(instanceId);
    const spec = known?.spec ?? await readFile(join(dir, 'spec.json'), 'utf8').then((s) => JSON.parse(s) as StartPayload, () => undefined);
    this.cncis.delete(instanceId);
    await stopTenantGateway(dir);
    if (spec) {
      const ns = cnciNamespace(this.opts.cluster, spec.tenantId);
      const legIp = known?.legIp ?? await addressOf(ns, UPLINK).catch(() => undefined);
      // Deleting the namespace takes the leg (both ends of the veth), bridge, VXLAN and NAT rules with
      // it, once nothing runs in it: a probe's SSH connection to a tenant's VM may still be open there.
      await endProcessesIn(ns).catch((err) => this.opts.logger.warn('a process in the CNCI\'s namespace did not end', { instanceId, error: (err as Error).message }));
      await deleteNamespace(ns);
      // Then its address goes back to the pool (SPEC §4: 100 CNCI addresses for the cluster's life).
      if (legIp) {
        await releaseAddress(this.opts.clusterNs, CLUSTER_DEV, legIp, legMac(spec.tenantId)).catch((err) =>
          this.opts.logger.warn('CNCI address not given back to the cluster\'s DHCP', { instanceId, legIp, error: (err as Error).message }));
      }
    }
    await rm(dir, { recursive: true, force: true });
  }

  /** CNCIs of this node, from their folders: their data plane is made again where it is missing
   *  (after a stop or a reboot), and their agents join again. */
  async list(): Promise<AdoptedInstance[]> {
    const ids = (await readdir(join(this.opts.stateDir, 'cnci')).catch(() => [] as string[])).filter(isUuid);
    const namespaces = new Set(await listNamespaces());
    // A few at once: each is a dozen ip/iptables runs, and the node joins only when all are back.
    const adopted = await mapLimit(ids, 4, async (id): Promise<AdoptedInstance | undefined> => {
      const spec = await readFile(join(this.dir(id), 'spec.json'), 'utf8').then((s) => JSON.parse(s) as StartPayload, () => undefined);
      if (!spec) return undefined;
      // A namespace that is gone (a stop, a reboot) is made again: wire() makes only what is missing.
      if (!namespaces.has(cnciNamespace(this.opts.cluster, spec.tenantId))) this.opts.logger.info('CNCI namespace is gone: making it again', { instanceId: id });
      try {
        return { spec, running: true, ...await this.start(spec) };
      } catch (err) {
        this.opts.logger.warn('CNCI could not be re-adopted', { instanceId: id, error: (err as Error).message });
        return undefined;
      }
    });
    return adopted.filter((a) => !!a);
  }
}
