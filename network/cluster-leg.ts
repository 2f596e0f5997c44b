// A namespace's leg on the cluster network: a veth from ciao_br (in the cluster namespace) into it,
// with its address there and, optionally, a default route through the cluster namespace.
import { addAddress, addVethPair, attachToBridge } from './links.ts';
import { ipIn } from './ip.ts';

export interface ClusterLeg {
  clusterNs: string;
  /** The leg's name on ciao_br's side (at most 15 characters). */
  bridgeSide: string;
  ns: string;
  /** Address with prefix on the cluster network, e.g. 198.51.100.10/24. */
  cidr: string;
  defaultVia?: string;
}

export const UPLINK = 'uplink';
/** The cluster network (SPEC §4) and the cluster namespace's address on it (ciaovlan). */
export const CLUSTER_NETWORK = '198.51.100.0/24';
export const CLUSTER_IP = '198.51.100.1';

export async function addClusterLeg(l: ClusterLeg): Promise<void> {
  await addVethPair(l.clusterNs, l.bridgeSide, l.ns, UPLINK);
  await attachToBridge(l.clusterNs, l.bridgeSide, 'ciao_br');
  await addAddress(l.ns, UPLINK, l.cidr);
  if (l.defaultVia) await ipIn(l.ns, 'route', 'add', 'default', 'via', l.defaultVia);
}
