// Needs root: one tenant subnet spread over two real nodes, in throwaway namespaces — a cluster
// namespace with ciao_br, two nodes (the launcher's own NodeNetwork), the tenant's CNCI — with
// instance stand-ins (a veth on each node's tenant bridge, addressed like containers). Checks what
// TUNNEL_PEERS does to the flood lists (docs/protocol.md, "Tunnel endpoints"): before the set, the
// CNCI floods to node-0 alone and node-1's instance is cut off; with it, the instances on the two
// nodes reach each other and the CNCI's gateway; a node that leaves is dropped from the lists.
import t from 'tap';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { run } from '../../shared/run.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { createNamespace, deleteNamespace } from '../../network/namespaces.ts';
import { addAddress, addBridge, addVethPair, attachToBridge } from '../../network/links.ts';
import { addClusterLeg } from '../../network/cluster-leg.ts';
import { addTunnelPeer, setTunnelPeers, tunnelPeers } from '../../network/tenant-tunnel.ts';
import { ipIn } from '../../network/ip.ts';
import { macFor } from '../../controller/addresses.ts';
import { startTenantGateway, type TenantGateway } from '../../cnci/tenant-gateway.ts';
import { NodeNetwork } from '../../launcher/node-network.ts';
import type { StartPayload } from '../../protocol/payloads.ts';
import { probeFrom } from '../helpers/netns-probe.ts';

const id = randomBytes(2).toString('hex');
const ns = (role: string) => `ciaotest-${id}-${role}`;
const [net, node0, node1, cnci, instA, instB] = ['net', 'node0', 'node1', 'cnci', 'ia', 'ib'].map(ns);
const { path: dir, remove: removeDir } = tempDir('ciao-multi-node');
const hostState = async () => (await run('ip', ['-br', 'link'])).stdout + (await run('ip', ['route'])).stdout + (await run('iptables-save', [])).stdout.replace(/^#.*$/gm, '');
const before = await hostState();
let gateway: TenantGateway | undefined;
t.teardown(async () => {
  await gateway?.stop();
  for (const n of [net, node0, node1, cnci, instA, instB]) await deleteNamespace(n);
  removeDir();
});

const subnet = '172.16.5.0/24';
const [leg0, leg1, cnciLeg] = ['198.51.100.10', '198.51.100.11', '198.51.100.120'];
const nodes = [new NodeNetwork(node0, leg0), new NodeNetwork(node1, leg1)];

/** An instance stand-in on a node: its START's network, a veth from the bridge NodeNetwork made. */
async function placeInstance(node: NodeNetwork, inst: string, tag: string, ip: string) {
  const spec = {
    instanceId: `inst-${tag}`, tenantId: 'tenant-a', vmType: 'docker',
    network: { ip, mac: macFor(ip), subnet, gateway: '172.16.5.1', cnciIp: cnciLeg },
  } as unknown as StartPayload;
  const bridge = await node.join(spec);
  await addVethPair(node.ns, `v${tag}`, inst, 'eth0');
  await attachToBridge(node.ns, `v${tag}`, bridge);
  await ipIn(inst, 'link', 'set', 'eth0', 'address', macFor(ip));
  await addAddress(inst, 'eth0', `${ip}/24`);
  await ipIn(inst, 'route', 'add', 'default', 'via', '172.16.5.1');
}

t.test('build: cluster namespace, two nodes, a CNCI made when node-0 was the only node', async (t) => {
  for (const n of [net, node0, node1, cnci, instA, instB]) await createNamespace(n);
  await addBridge(net, 'ciao_br');
  await addAddress(net, 'ciao_br', '198.51.100.1/24');
  await addClusterLeg({ clusterNs: net, bridgeSide: 'lnode0', ns: node0, cidr: `${leg0}/24` });
  await addClusterLeg({ clusterNs: net, bridgeSide: 'lnode1', ns: node1, cidr: `${leg1}/24` });
  await addClusterLeg({ clusterNs: net, bridgeSide: 'lcnci', ns: cnci, cidr: `${cnciLeg}/24` });
  await mkdir(join(dir, 'gw'));
  gateway = await startTenantGateway(cnci, subnet, cnciLeg, join(dir, 'gw'));
  await addTunnelPeer(cnci, subnet, leg0);
  await placeInstance(nodes[0], instA, 'a', '172.16.5.2');
  await placeInstance(nodes[1], instB, 'b', '172.16.5.3');
  t.same(await tunnelPeers(node1, subnet), [cnciLeg], "node-1's segment floods to the CNCI alone");
});

t.test("before the set: the CNCI's answers never reach node-1", async (t) => {
  t.equal(await probeFrom(instA, '172.16.5.1'), 'reachable', 'node-0 reaches its gateway');
  t.not(await probeFrom(instB, '172.16.5.1', 1000), 'reachable', 'node-1 does not');
});

t.test('with the set of both nodes: instances on the two nodes reach each other and the gateway', async (t) => {
  const set = [leg0, leg1, '10.9.9.9'];
  for (const node of nodes) await node.setNodePeers(set);
  await setTunnelPeers(cnci, subnet, [leg0, leg1]);
  t.same((await tunnelPeers(node0, subnet)).sort(), [leg1, cnciLeg].sort(), 'node-0 floods to the CNCI and node-1; not to itself, nor outside the cluster network');
  t.same((await tunnelPeers(node1, subnet)).sort(), [leg0, cnciLeg].sort());
  t.equal(await probeFrom(instB, '172.16.5.1'), 'reachable', "node-1's instance reaches the CNCI's gateway");
  t.equal(await probeFrom(instA, '172.16.5.3'), 'reachable', 'node-0 → node-1');
  t.equal(await probeFrom(instB, '172.16.5.2'), 'reachable', 'node-1 → node-0');
});

t.test('a node that leaves is dropped from the flood lists; the rest stay', async (t) => {
  await nodes[0].setNodePeers([leg0]);
  await setTunnelPeers(cnci, subnet, [leg0]);
  t.same(await tunnelPeers(node0, subnet), [cnciLeg]);
  t.same(await tunnelPeers(cnci, subnet), [leg0]);
  t.equal(await probeFrom(instA, '172.16.5.1'), 'reachable', 'node-0 still reaches its gateway');
  t.not(await probeFrom(instA, '172.16.5.3', 1000), 'reachable', 'no longer node-1');
});

t.test('the last instance of the subnet takes the segment and its flood list with it', async (t) => {
  await nodes[1].leave('inst-b');
  t.notOk((await ipIn(node1, '-br', 'link')).includes('vx'), 'no VXLAN left on node-1');
  await nodes[1].setNodePeers([leg0, leg1]);
  t.notOk((await ipIn(node1, '-br', 'link')).includes('vx'), 'a later set makes none');
});

t.test('the host gained no link, route or firewall rule', async (t) => {
  t.equal(await hostState(), before);
});
