// The cluster's "physical" network (SPEC §4), all inside namespaces named for the cluster: the
// cluster namespace with bridge ciao_br and macvlan ciaovlan at 198.51.100.1/24, dnsmasq on
// ciaovlan (it leases the CNCIs' legs), and the node's namespace with its leg on ciao_br.
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
  nodeNs: string;
  nodeIp: string;
}

export const clusterNetworkNames = (cluster: string): ClusterNetwork => ({
  clusterNs: namespaceName(cluster, 'net'), nodeNs: namespaceName(cluster, 'node-0'), nodeIp: nodeIp(0),
});

/** The cluster network, made or completed (docs/lifecycle.md): namespaces and links that are all
 *  there are kept (a resume after one daemon died leaves the VMs' taps alone); a network that is
 *  partly there (a crash mid-setup) is made again whole; dnsmasq is started when it does not run.
 *  `dir` holds dnsmasq's pid, leases and log. */
export async function ensureClusterNetwork(cluster: string, dir: string): Promise<ClusterNetwork> {
  const names = clusterNetworkNames(cluster);
  const whole = (await linksOf(names.clusterNs).catch(() => [])).some((l) => l.ifname === 'ciaovlan')
    && (await linksOf(names.nodeNs).catch(() => [])).some((l) => l.ifname === UPLINK);
  if (!whole) {
    for (const ns of [names.nodeNs, names.clusterNs]) await deleteNamespace(ns);
    await createClusterNetwork(cluster, names);
  }
  await ensureDnsmasq(names.clusterNs, dir);
  return names;
}

async function createClusterNetwork(cluster: string, names: ClusterNetwork): Promise<void> {
  const { clusterNs, nodeNs } = names;
  await createNamespace(clusterNs);
  await addBridge(clusterNs, 'ciao_br');
  await addMacvlan(clusterNs, 'ciaovlan', 'ciao_br');
  await addAddress(clusterNs, 'ciaovlan', `${CLUSTER_IP}/24`);
  await createNamespace(nodeNs);
  await addClusterLeg({ clusterNs, bridgeSide: 'node0', ns: nodeNs, cidr: `${names.nodeIp}/24` });
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
