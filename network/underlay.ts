// The underlay of a joined machine (docs/singlevm-network.md, "A second machine joins"): a macvlan of
// a NIC the user named, made directly inside a cluster namespace, one VXLAN over it that stretches
// the cluster network to the other machine, and the firewall that lets only that VXLAN cross.
import { createHash } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { run } from '../shared/run.ts';
import { ipIn, linksOf } from './ip.ts';
import { attachToBridge } from './links.ts';
import { UPLINK } from './cluster-leg.ts';

export const UNDERLAY_LINK = 'underlay';
/** Machine 1's end of the stretched network: a port of ciao_br. */
export const JOIN_TUNNEL = 'joinvx';
const CHAIN = 'CIAO-UNDERLAY';
const ZERO_MAC = '00:00:00:00:00:00';

export interface Tunnel { vni: number; port: number }

const iptablesIn = (ns: string, ...args: string[]) => run('ip', ['netns', 'exec', ns, 'iptables', '-w', ...args]);

/** The address (with prefix) of the underlay leg in `ns`, if it has one. */
export async function underlayAddress(ns: string): Promise<string | undefined> {
  if (!(await linksOf(ns).catch(() => [])).some((l) => l.ifname === UNDERLAY_LINK)) return undefined;
  const out = await ipIn(ns, '-j', 'addr', 'show', 'dev', UNDERLAY_LINK);
  const info = (JSON.parse(out || '[]') as { addr_info?: { family: string; local: string; prefixlen: number }[] }[])[0];
  const v4 = info?.addr_info?.find((a) => a.family === 'inet');
  return v4 ? `${v4.local}/${v4.prefixlen}` : '';
}

/** The MAC of the underlay leg `ns` holds at `cidr`: the same every time the leg is made again
 *  (a resume, a restart), as a host's NIC keeps its own. The other machine's neighbour entry for
 *  this address then stays right across the gap: a new MAC each time would leave it pointing at
 *  one that is gone until its ARP cache times out (up to ~50 s), and TCP's retransmissions would
 *  back off meanwhile. Locally administered, unicast (02:…). */
export function underlayMac(ns: string, cidr: string): string {
  const hex = createHash('sha256').update(`ciao-underlay ${ns} ${cidr}`).digest('hex');
  return ['02', ...hex.slice(0, 10).match(/../g)!].join(':');
}

/** A macvlan of `iface` (in `ifaceNs`, else the host's namespace) made directly inside `ns`, with
 *  IPv6 off before it is up (nothing of the cluster's but VXLAN and ARP reaches the LAN), at `cidr`,
 *  with its own stable MAC. The host's namespace gains no link: `netns` puts the new link straight
 *  into `ns`. Make its firewall first (`setUnderlayFirewall`): the leg answers as soon as it is up. */
export async function addUnderlayLeg(ns: string, iface: string, cidr: string, ifaceNs?: string): Promise<void> {
  await run('ip', [...(ifaceNs ? ['-n', ifaceNs] : []), 'link', 'add', 'link', iface, 'name', UNDERLAY_LINK, 'netns', ns,
    'address', underlayMac(ns, cidr), 'type', 'macvlan', 'mode', 'bridge']);
  await run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${UNDERLAY_LINK}.disable_ipv6=1`]);
  await ipIn(ns, 'addr', 'add', cidr, 'dev', UNDERLAY_LINK);
  await ipIn(ns, 'link', 'set', UNDERLAY_LINK, 'up');
}

/** In `ns`: only VXLAN (UDP `port`) between `local` and each of `peers` crosses the underlay leg,
 *  and nothing is forwarded into or out of it. Made before the leg (rules name it, not need it), so
 *  nothing the namespace says before its tunnel listens (an ICMP "port unreachable" for the other
 *  side's first VXLAN) reaches the LAN. The chain is replaced whole in one commit (peers may grow):
 *  it is never empty while the leg is up. */
export async function setUnderlayFirewall(ns: string, local: string, peers: string[], port: number): Promise<void> {
  // The rules go to iptables-restore as text: only plain IPv4 addresses and a port may reach it.
  const bad = [local, ...peers].find((a) => !isIPv4(a));
  if (bad !== undefined || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`underlay firewall: not an IPv4 address or port: ${bad ?? port}`);
  const udp = `-p udp --dport ${port} -j ACCEPT`;
  const rules = peers.flatMap((peer) => [
    `-A ${CHAIN} -i ${UNDERLAY_LINK} -s ${peer} -d ${local} ${udp}`,
    `-A ${CHAIN} -o ${UNDERLAY_LINK} -s ${local} -d ${peer} ${udp}`,
  ]);
  // `--noflush` keeps every other chain; declaring this one empties it, in the same commit.
  const table = ['*filter', `:${CHAIN} - [0:0]`, ...rules, `-A ${CHAIN} -j DROP`, 'COMMIT', ''].join('\n');
  await run('ip', ['netns', 'exec', ns, 'iptables-restore', '-w', '--noflush'], { input: table });
  const first = async (...rule: string[]) => {
    if (await iptablesIn(ns, '-C', ...rule).then(() => false, () => true)) await iptablesIn(ns, '-I', rule[0], '1', ...rule.slice(1));
  };
  await first('INPUT', '-i', UNDERLAY_LINK, '-j', CHAIN);
  await first('OUTPUT', '-o', UNDERLAY_LINK, '-j', CHAIN);
  await first('FORWARD', '-i', UNDERLAY_LINK, '-j', 'DROP');
  await first('FORWARD', '-o', UNDERLAY_LINK, '-j', 'DROP');
}

/** Machine 1: `joinvx` on ciao_br, leaving through the underlay leg at `local`, flooding to no one
 *  until a joined machine is added (no learning: only the flood list says where frames go). */
export async function ensureJoinTunnel(clusterNs: string, local: string, t: Tunnel): Promise<void> {
  if ((await linksOf(clusterNs)).some((l) => l.ifname === JOIN_TUNNEL)) return;
  await ipIn(clusterNs, 'link', 'add', JOIN_TUNNEL, 'type', 'vxlan', 'id', String(t.vni), 'local', local, 'dev', UNDERLAY_LINK,
    'dstport', String(t.port), 'nolearning');
  await attachToBridge(clusterNs, JOIN_TUNNEL, 'ciao_br');
  await ipIn(clusterNs, 'link', 'set', JOIN_TUNNEL, 'up');
}

/** Machine 1: frames of the cluster network flood to this joined machine too. Idempotent. */
export async function addJoinPeer(clusterNs: string, peer: string): Promise<void> {
  const out = await run('bridge', ['-n', clusterNs, 'fdb', 'show', 'dev', JOIN_TUNNEL]);
  if (out.stdout.split('\n').some((l) => l.startsWith(ZERO_MAC) && l.includes(`dst ${peer} `))) return;
  await run('bridge', ['-n', clusterNs, 'fdb', 'append', ZERO_MAC, 'dev', JOIN_TUNNEL, 'dst', peer]);
}

/** Machine 2: the node's leg `uplink` is the tunnel itself, from `local` to machine 1's `remote`,
 *  with the node's address on the cluster network: the launcher drives it as any node's leg. */
export async function addJoinedUplink(ns: string, local: string, remote: string, legCidr: string, t: Tunnel): Promise<void> {
  await ipIn(ns, 'link', 'add', UPLINK, 'type', 'vxlan', 'id', String(t.vni), 'local', local, 'remote', remote, 'dev', UNDERLAY_LINK,
    'dstport', String(t.port));
  await ipIn(ns, 'addr', 'add', legCidr, 'dev', UPLINK);
  await ipIn(ns, 'link', 'set', UPLINK, 'up');
}
