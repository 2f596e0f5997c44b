// A tenant subnet's layer 2 across the cluster: on every node that runs the tenant's instances and
// on the tenant's CNCI, a bridge `t<vni>` with a VXLAN `vx<vni>` whose flood entries name the peers'
// legs on ciao_br. The VNI comes from the subnet, so each tenant subnet is its own segment.
import { run } from '../shared/run.ts';
import { ipToInt, parseCidr } from '../controller/addresses.ts';
import { CLUSTER_NETWORK } from './cluster-leg.ts';
import { ipBatch, linksOf } from './ip.ts';

/** VNI of a tenant subnet: its /24 number inside 172.16.0.0/12, plus one (VNI 0 is not allowed). */
export function vniOf(subnet: string): number {
  return ((parseCidr(subnet).base - parseCidr('172.16.0.0/12').base) >>> 8) + 1;
}

/** The tunnel endpoints a node may flood to: nodes' legs on the cluster network, never an address
 *  outside it (a TUNNEL_PEERS set is the scheduler's, but a flood entry must not lead elsewhere). */
export function clusterEndpoints(ips: Iterable<string>): string[] {
  const net = parseCidr(CLUSTER_NETWORK);
  return [...new Set(ips)].filter((ip) => {
    const n = ipToInt(ip);
    return n >= net.base && n < net.base + net.size;
  });
}

export const bridgeName = (vni: number) => `t${vni}`;
export const vxlanName = (vni: number) => `vx${vni}`;

export interface TenantSegment {
  bridge: string;
  /** Its VXLAN was made just now: it floods to nobody yet. */
  made: boolean;
}

/** Makes (idempotently) the tenant bridge and its VXLAN in `ns`, leaving through `dev` at `local`,
 *  what is missing in one `ip` batch. `fresh`: `ns` was made just now and holds neither. */
export async function ensureTenantSegment(ns: string, subnet: string, dev: string, local: string, fresh = false): Promise<TenantSegment> {
  const vni = vniOf(subnet);
  const bridge = bridgeName(vni);
  const vxlan = vxlanName(vni);
  const have = new Set(fresh ? [] : (await linksOf(ns)).map((l) => l.ifname));
  await ipBatch(ns, [
    ...(have.has(bridge) ? [] : [['link', 'add', bridge, 'type', 'bridge'], ['link', 'set', bridge, 'up']]),
    ...(have.has(vxlan) ? [] : [
      ['link', 'add', vxlan, 'type', 'vxlan', 'id', String(vni), 'local', local, 'dev', dev, 'dstport', '4789', 'nolearning'],
      ['link', 'set', vxlan, 'master', bridge],
      ['link', 'set', vxlan, 'up'],
    ]),
  ]);
  return { bridge, made: !have.has(vxlan) };
}

/** The peers a segment floods to (its `00:00:00:00:00:00` entries). */
export async function tunnelPeers(ns: string, subnet: string): Promise<string[]> {
  const flood = await run('bridge', ['-n', ns, 'fdb', 'show', 'dev', vxlanName(vniOf(subnet))]);
  return [...flood.stdout.matchAll(/^00:00:00:00:00:00 dst (\S+) /gm)].map((m) => m[1]);
}

const floodEntry = (op: 'append' | 'del', ns: string, subnet: string, peer: string) =>
  run('bridge', ['-n', ns, 'fdb', op, '00:00:00:00:00:00', 'dev', vxlanName(vniOf(subnet)), 'dst', peer]);

/** Adds peers (other nodes, the CNCI) to the segment's flood list; a peer already there is kept.
 *  `made`: the segment's VXLAN was made just now (ensureTenantSegment), so its list is empty. */
export async function addTunnelPeers(ns: string, subnet: string, peers: Iterable<string>, made = false): Promise<void> {
  const have = made ? [] : await tunnelPeers(ns, subnet);
  for (const peer of new Set(peers)) if (!have.includes(peer)) await floodEntry('append', ns, subnet, peer);
}

/** Adds a peer (another node or the CNCI) to the segment's flood list; a peer already there is kept. */
export const addTunnelPeer = (ns: string, subnet: string, peer: string) => addTunnelPeers(ns, subnet, [peer]);

/** Makes the segment's flood list exactly `wanted`: what is missing is appended, what is not wanted
 *  (a node that left) deleted, the rest kept (no gap in the traffic to the peers that stay). */
export async function setTunnelPeers(ns: string, subnet: string, wanted: string[]): Promise<void> {
  const have = await tunnelPeers(ns, subnet);
  for (const peer of wanted) if (!have.includes(peer)) await floodEntry('append', ns, subnet, peer);
  for (const peer of have) if (!wanted.includes(peer)) await floodEntry('del', ns, subnet, peer);
}

/** Removes the segment (bridge and VXLAN) of a subnet from `ns`, e.g. when its last instance left the node. Idempotent. */
export async function removeTenantSegment(ns: string, subnet: string): Promise<void> {
  const vni = vniOf(subnet);
  // force: a link already gone does not keep the other.
  await ipBatch(ns, [['link', 'del', vxlanName(vni)], ['link', 'del', bridgeName(vni)]], { force: true });
}
