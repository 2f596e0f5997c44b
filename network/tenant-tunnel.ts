// A tenant subnet's layer 2 across the cluster: on every node that runs the tenant's instances and
// on the tenant's CNCI, a bridge `t<vni>` with a VXLAN `vx<vni>` whose flood entries name the peers'
// legs on ciao_br. The VNI comes from the subnet, so each tenant subnet is its own segment.
import { run } from '../shared/run.ts';
import { parseCidr } from '../controller/addresses.ts';
import { addBridge, attachToBridge } from './links.ts';
import { ipIn, linksOf } from './ip.ts';

/** VNI of a tenant subnet: its /24 number inside 172.16.0.0/12, plus one (VNI 0 is not allowed). */
export function vniOf(subnet: string): number {
  return ((parseCidr(subnet).base - parseCidr('172.16.0.0/12').base) >>> 8) + 1;
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

/** Adds a peer (another node or the CNCI) to the segment's flood list; a peer already there is kept. */
export async function addTunnelPeer(ns: string, subnet: string, peer: string): Promise<void> {
  const dev = vxlanName(vniOf(subnet));
  const flood = await run('bridge', ['-n', ns, 'fdb', 'show', 'dev', dev]);
  if (new RegExp(`^00:00:00:00:00:00 dst ${peer.replace(/\./g, '\\.')} `, 'm').test(flood.stdout)) return;
  await run('bridge', ['-n', ns, 'fdb', 'append', '00:00:00:00:00:00', 'dev', dev, 'dst', peer]);
}

/** Removes the segment (bridge and VXLAN) of a subnet from `ns`, e.g. when its last instance left the node. Idempotent. */
export async function removeTenantSegment(ns: string, subnet: string): Promise<void> {
  const vni = vniOf(subnet);
  for (const link of [vxlanName(vni), bridgeName(vni)]) await ipIn(ns, 'link', 'del', link).catch(() => undefined);
}
