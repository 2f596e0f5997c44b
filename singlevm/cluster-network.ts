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
import { run } from '../shared/run.ts';
import type { NodeRole } from './node-roles.ts';

export { CLUSTER_IP, CLUSTER_NETWORK };
/** Node i's leg; DHCP (the CNCIs' legs) hands out .100–.199. */
export const nodeIp = (i: number) => `198.51.100.${10 + i}`;
const DHCP_RANGE = ['198.51.100.100', '198.51.100.199'];

export interface ClusterNetwork {
  clusterNs: string;
  /** Node 0's namespace and leg (the one node of a one-node cluster). */
  nodeNs: string;
  nodeIp: string;
  /** Every node's namespace and leg, node i at 198.51.100.(10+i) (`setup.sh --nodes N`, and the
   *  nodes `node.sh add` appended: docs/nodes.md). */
  nodes?: NodeLeg[];
}

/** One node of the list: `index` names it (`<c>-node-<index>`; absent: its position, as setup
 *  writes them), `role` is what it is for (singlevm/node-roles.ts), `simulated` ones have no
 *  namespace or leg of their own. */
export interface NodeLeg { ns: string; ip: string; index?: number; role?: NodeRole; simulated?: boolean }

export const clusterNetworkNames = (cluster: string, nodes = 1): ClusterNetwork => ({
  clusterNs: namespaceName(cluster, 'net'), nodeNs: namespaceName(cluster, 'node-0'), nodeIp: nodeIp(0),
  nodes: Array.from({ length: nodes }, (_, i) => ({ ns: namespaceName(cluster, `node-${i}`), ip: nodeIp(i) })),
});

/** The nodes of a network (a record from before multi-node names node 0 alone). */
export const nodesOf = (network: ClusterNetwork): (NodeLeg & { index: number })[] =>
  (network.nodes ?? [{ ns: network.nodeNs, ip: network.nodeIp }]).map((n, i) => ({ ...n, index: n.index ?? i }));

/** The cluster network, made or completed (docs/lifecycle.md): namespaces and links that are all
 *  there are kept (a resume after one daemon died leaves the VMs' taps alone); a network that is
 *  partly there (a crash mid-setup) is made again whole; dnsmasq is started when it does not run.
 *  `dir` holds dnsmasq's pid, leases and log. */
export async function ensureClusterNetwork(cluster: string, dir: string, nodes: number | NodeLeg[] = 1): Promise<ClusterNetwork> {
  const names = typeof nodes === 'number' ? clusterNetworkNames(cluster, nodes) : { ...clusterNetworkNames(cluster, 1), nodes };
  const hasLink = async (ns: string, link: string) => (await linksOf(ns).catch(() => [])).some((l) => l.ifname === link);
  const legs = nodesOf(names).filter((n) => !n.simulated);
  if (!await hasLink(names.clusterNs, 'ciaovlan')) {
    for (const ns of [...legs.map((n) => n.ns), names.clusterNs]) await deleteNamespace(ns);
    await createClusterNetwork(names);
  } else {
    // The cluster network is there: only a node without its leg (one node.sh added, one a crash
    // cut short) is made again; the others' taps and VMs are left alone.
    for (const node of legs) {
      if (await hasLink(node.ns, UPLINK)) continue;
      await deleteNamespace(node.ns);
      await addNodeLeg(names.clusterNs, node);
    }
  }
  await Promise.all([bridgeAnswersNoArp(names.clusterNs), ensureDnsmasq(names.clusterNs, dir)]);
  return names;
}

/** Only ciaovlan answers ARP for 198.51.100.1, with its own MAC, which nothing changes. By default
 *  ciao_br answered too (Linux answers for any address of the namespace on any link), with the
 *  bridge's MAC — that of its lowest port, so it changes as ports come and go: a joined machine
 *  whose tunnel port was made again kept the old one cached and its launcher's SYNs to the
 *  scheduler gate went nowhere for up to a minute. Also set on a resume (clusters made before). */
async function bridgeAnswersNoArp(clusterNs: string): Promise<void> {
  await run('ip', ['netns', 'exec', clusterNs, 'sysctl', '-qw', 'net.ipv4.conf.ciao_br.arp_ignore=1']);
}

/** A node's namespace and its leg on ciao_br. */
async function addNodeLeg(clusterNs: string, node: NodeLeg & { index: number }): Promise<void> {
  await createNamespace(node.ns);
  await addClusterLeg({ clusterNs, bridgeSide: `node${node.index}`, ns: node.ns, cidr: `${node.ip}/24` });
}

async function createClusterNetwork(names: ClusterNetwork): Promise<void> {
  const { clusterNs } = names;
  await createNamespace(clusterNs);
  await addBridge(clusterNs, 'ciao_br');
  await addMacvlan(clusterNs, 'ciaovlan', 'ciao_br');
  await addAddress(clusterNs, 'ciaovlan', `${CLUSTER_IP}/24`);
  await Promise.all(nodesOf(names).filter((n) => !n.simulated).map((node) => addNodeLeg(clusterNs, node)));
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
