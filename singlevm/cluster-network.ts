// The cluster's "physical" network (SPEC §4), all inside namespaces named for the cluster: the
// cluster namespace with bridge ciao_br and macvlan ciaovlan at 198.51.100.1/24, dnsmasq on
// ciaovlan (it leases the CNCIs' legs), and each node's namespace with its leg on ciao_br.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createNamespace, deleteNamespace, namespaceName } from '../network/namespaces.ts';
import { addAddress, addBridge, addMacvlan } from '../network/links.ts';
import { addClusterLeg, CLUSTER_IP, CLUSTER_NETWORK, UPLINK } from '../network/cluster-leg.ts';
import { linksOf } from '../network/ip.ts';
import { readPidFile, startDetached } from '../shared/detached.ts';

export { CLUSTER_IP, CLUSTER_NETWORK };
/** Node i's leg; DHCP (the CNCIs' legs) hands out .100–.199. */
export const nodeIp = (i: number) => `198.51.100.${10 + i}`;
const DHCP_RANGE = ['198.51.100.100', '198.51.100.199'];

export interface ClusterNetwork {
  clusterNs: string;
  /** Node 0's namespace and leg (the one node of a one-node cluster). */
  nodeNs: string;
  nodeIp: string;
  /** Every node's namespace and leg, node i at 198.51.100.(10+i) (`setup.sh --nodes N`). */
  nodes?: { ns: string; ip: string }[];
}

export const clusterNetworkNames = (cluster: string, nodes = 1): ClusterNetwork => ({
  clusterNs: namespaceName(cluster, 'net'), nodeNs: namespaceName(cluster, 'node-0'), nodeIp: nodeIp(0),
  nodes: Array.from({ length: nodes }, (_, i) => ({ ns: namespaceName(cluster, `node-${i}`), ip: nodeIp(i) })),
});

/** The nodes of a network (a record from before multi-node names node 0 alone). */
export const nodesOf = (network: ClusterNetwork) => network.nodes ?? [{ ns: network.nodeNs, ip: network.nodeIp }];

/** The cluster network, made or completed (docs/lifecycle.md): namespaces and links that are all
 *  there are kept (a resume after one daemon died leaves the VMs' taps alone); a network that is
 *  partly there (a crash mid-setup) is made again whole; dnsmasq is started when it does not run.
 *  `dir` holds dnsmasq's pid, leases and log. */
export async function ensureClusterNetwork(cluster: string, dir: string, nodes = 1): Promise<ClusterNetwork> {
  const names = clusterNetworkNames(cluster, nodes);
  const hasLink = async (ns: string, link: string) => (await linksOf(ns).catch(() => [])).some((l) => l.ifname === link);
  let whole = await hasLink(names.clusterNs, 'ciaovlan');
  for (const node of nodesOf(names)) whole &&= await hasLink(node.ns, UPLINK);
  if (!whole) {
    for (const ns of [...nodesOf(names).map((n) => n.ns), names.clusterNs]) await deleteNamespace(ns);
    await createClusterNetwork(names);
  }
  await ensureDnsmasq(names.clusterNs, dir);
  return names;
}

async function createClusterNetwork(names: ClusterNetwork): Promise<void> {
  const { clusterNs } = names;
  await createNamespace(clusterNs);
  await addBridge(clusterNs, 'ciao_br');
  await addMacvlan(clusterNs, 'ciaovlan', 'ciao_br');
  await addAddress(clusterNs, 'ciaovlan', `${CLUSTER_IP}/24`);
  await Promise.all(nodesOf(names).map(async (node, i) => {
    await createNamespace(node.ns);
    await addClusterLeg({ clusterNs, bridgeSide: `node${i}`, ns: node.ns, cidr: `${node.ip}/24` });
  }));
}

/** dnsmasq on ciaovlan, unless its pid file names one that runs. */
async function ensureDnsmasq(clusterNs: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const pidFile = join(dir, 'dnsmasq.pid');
  if (await readPidFile(pidFile)) return;
  await startDetached({
    name: 'dnsmasq on ciaovlan', log: join(dir, 'dnsmasq.log'), pidFile, pidFileBy: 'process', readyTimeoutMs: 5000,
    command: 'ip', args: ['netns', 'exec', clusterNs, 'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--port=0',
      '--interface=ciaovlan', '--bind-interfaces', `--dhcp-range=${DHCP_RANGE.join(',')},255.255.255.0,infinite`, '--dhcp-authoritative',
      // No router and no DNS: the cluster network leads nowhere else.
      '--dhcp-option=3', '--dhcp-option=6', '--no-ping', `--dhcp-leasefile=${join(dir, 'leases')}`, `--pid-file=${pidFile}`, '--log-facility=-', '--log-dhcp'],
  });
}
