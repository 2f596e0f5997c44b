// The links the data plane is made of (SPEC §4), each created inside a cluster namespace:
// bridges, veth pairs whose ends start in two namespaces, VXLAN tunnels, macvlans, addresses.
import { ipBatch, ipIn } from './ip.ts';

export async function addBridge(ns: string, name: string): Promise<void> {
  await ipBatch(ns, [['link', 'add', name, 'type', 'bridge'], ['link', 'set', name, 'up']]);
}

/** A veth pair made with its ends already in `ns` and `peerNs`: the host never holds either end.
 *  `peerMac`: the peer's MAC from the start; `bridge`: the end in `ns` joins it. */
export async function addVethPair(ns: string, name: string, peerNs: string, peerName: string, opts: { peerMac?: string; bridge?: string } = {}): Promise<void> {
  await ipBatch(ns, [
    ['link', 'add', name, 'type', 'veth', 'peer', 'name', peerName, ...(opts.peerMac ? ['address', opts.peerMac] : []), 'netns', peerNs],
    ...(opts.bridge ? [['link', 'set', name, 'master', opts.bridge]] : []),
    ['link', 'set', name, 'up'],
  ]);
  await ipIn(peerNs, 'link', 'set', peerName, 'up');
}

export interface VxlanSpec {
  name: string;
  vni: number;
  /** The tunnel's other end, and the local link it leaves through. */
  remote: string;
  dev: string;
}

export async function addVxlan(ns: string, v: VxlanSpec): Promise<void> {
  await ipIn(ns, 'link', 'add', v.name, 'type', 'vxlan', 'id', String(v.vni), 'remote', v.remote, 'dstport', '4789', 'dev', v.dev);
  await ipIn(ns, 'link', 'set', v.name, 'up');
}

export async function addMacvlan(ns: string, name: string, parent: string): Promise<void> {
  await ipIn(ns, 'link', 'add', name, 'link', parent, 'type', 'macvlan', 'mode', 'bridge');
  await ipIn(ns, 'link', 'set', name, 'up');
}

export const attachToBridge = (ns: string, link: string, bridge: string) => ipIn(ns, 'link', 'set', link, 'master', bridge);

export const addAddress = (ns: string, link: string, cidr: string) => ipIn(ns, 'addr', 'add', cidr, 'dev', link);

export const setMac = (ns: string, link: string, mac: string) => ipIn(ns, 'link', 'set', link, 'address', mac);
