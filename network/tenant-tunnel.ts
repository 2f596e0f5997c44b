// A tenant subnet's layer 2 across the cluster: on every node that runs the tenant's instances and
// on the tenant's CNCI, a bridge `t<vni>` with a VXLAN `vx<vni>` whose flood entries name the peers'
// legs on ciao_br. The VNI comes from the subnet, so each tenant subnet is its own segment.
import { run } from '../shared/run.ts';
import { ipToInt, parseCidr } from '../controller/addresses.ts';
import { CLUSTER_NETWORK } from './cluster-leg.ts';
import { addBridge, attachToBridge } from './links.ts';
import { ipIn, linksOf } from './ip.ts';

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

/** Makes (idempotently) the tenant bridge and its VXLAN in `ns`, leaving through `dev` at `local`. */
export async function ensureTenantSegment(ns: string, subnet: string, dev: string, local: string): Promise<string> {
  const vni = vniOf(subnet);
  const bridge = bridgeName(vni);
  const have = new Set((await linksOf(ns)).map((l) => l.ifname));
  if (!have.has(bridge)) await addBridge(ns, bridge);
  if (!have.has(vxlanName(vni))) {
    await ipIn(ns, 'link', 'add', vxlanName(vni), 'type', 'vxlan', 'id', String(vni), 'local', local, 'dev', dev, 'dstport', '4789', 'nolearning');
    await attachToBridge(ns, vxlanName(vni), bridge);
    await ipIn(ns, 'link', 'set', vxlanName(vni), 'up');
  }
  return bridge;
}

/** The peers a segment floods to (its `00:00:00:00:00:00` entries). */
export async function tunnelPeers(ns: string, subnet: string): Promise<string[]> {
  const flood = await run('bridge', ['-n', ns, 'fdb', 'show', 'dev', vxlanName(vniOf(subnet))]);
  return [...flood.stdout.matchAll(/^00:00:00:00:00:00 dst (\S+) /gm)].map((m) => m[1]);
}

const floodEntry = (op: 'append' | 'del', ns: string, subnet: string, peer: string) =>
  run('bridge', ['-n', ns, 'fdb', op, '00:00:00:00:00:00', 'dev', vxlanName(vniOf(subnet)), 'dst', peer]);

/** Adds a peer (another node or the CNCI) to the segment's flood list; a peer already there is kept. */
export async function addTunnelPeer(ns: string, subnet: string, peer: string): Promise<void> {
  if (!(await tunnelPeers(ns, subnet)).includes(peer)) await floodEntry('append', ns, subnet, peer);
}

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
  for (const link of [vxlanName(vni), bridgeName(vni)]) await ipIn(ns, 'link', 'del', link).catch(() => undefined);
}
