// Needs root: two tenants' networks as SPEC §4 lays them out, in throwaway namespaces — a cluster
// namespace with ciao_br, a node, one CNCI per tenant — with instance stand-ins (namespaces with a
// veth on the node's tenant bridge, addressed like containers). Checks the gateway across the
// tunnel, tenant isolation, and external-IP NAT reached from the cluster namespace.
import t from 'tap';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { run } from '../../shared/run.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { createNamespace, deleteNamespace } from '../../network/namespaces.ts';
import { addAddress, addBridge, addVethPair, attachToBridge } from '../../network/links.ts';
import { addClusterLeg, UPLINK } from '../../network/cluster-leg.ts';
import { addTunnelPeer, ensureTenantSegment, vniOf } from '../../network/tenant-tunnel.ts';
import { ipIn } from '../../network/ip.ts';
import { startTenantGateway, type TenantGateway } from '../../cnci/tenant-gateway.ts';
import { IptablesNat } from '../../cnci/iptables-nat.ts';
import { probeFrom } from '../helpers/netns-probe.ts';

const id = randomBytes(2).toString('hex');
const ns = (role: string) => `ciaotest-${id}-${role}`;
const [net, node, cnciA, cnciB, instA, instB] = ['net', 'node', 'cncia', 'cncib', 'ia', 'ib'].map(ns);
const { path: dir, remove: removeDir } = tempDir('ciao-tenant-net');
const hostState = async () => (await run('ip', ['-br', 'link'])).stdout + (await run('ip', ['route'])).stdout + (await run('iptables-save', [])).stdout.replace(/^#.*$/gm, '');
const before = await hostState();
const gateways: TenantGateway[] = [];
t.teardown(async () => {
  for (const g of gateways) await g.stop();
  for (const n of [net, node, cnciA, cnciB, instA, instB]) await deleteNamespace(n);
  removeDir();
});

const tenants = [
  { subnet: '172.16.1.0/24', cnci: cnciA, cnciLeg: '198.51.100.21', inst: instA, ip: '172.16.1.2' },
  { subnet: '172.16.2.0/24', cnci: cnciB, cnciLeg: '198.51.100.22', inst: instB, ip: '172.16.2.2' },
];

t.test('build: cluster namespace, a node, a CNCI and an instance per tenant', async (t) => {
  for (const n of [net, node, cnciA, cnciB, instA, instB]) await createNamespace(n);
  await addBridge(net, 'ciao_br');
  await addAddress(net, 'ciao_br', '198.51.100.1/24');
  await addClusterLeg({ clusterNs: net, bridgeSide: 'lnode', ns: node, cidr: '198.51.100.10/24' });
  for (const [i, tn] of tenants.entries()) {
    await addClusterLeg({ clusterNs: net, bridgeSide: `lcnci${i}`, ns: tn.cnci, cidr: `${tn.cnciLeg}/24`, defaultVia: '198.51.100.1' });
    // A folder per gateway: its files (dnsmasq's pid, leases, log) have fixed names.
    const gwDir = join(dir, tn.cnci);
    await mkdir(gwDir);
    const gw = await startTenantGateway(tn.cnci, tn.subnet, tn.cnciLeg, gwDir);
    gateways.push(gw);
    await addTunnelPeer(tn.cnci, tn.subnet, '198.51.100.10');
    const { bridge } = await ensureTenantSegment(node, tn.subnet, UPLINK, '198.51.100.10');
    await addTunnelPeer(node, tn.subnet, tn.cnciLeg);
    // The instance stand-in: a veth from the node's tenant bridge, addressed as a container is.
    await addVethPair(node, `i${vniOf(tn.subnet)}`, tn.inst, 'eth0');
    await attachToBridge(node, `i${vniOf(tn.subnet)}`, bridge);
    await addAddress(tn.inst, 'eth0', `${tn.ip}/24`);
    await ipIn(tn.inst, 'route', 'add', 'default', 'via', tn.subnet.replace(/0\/24$/, '1'));
  }
  t.pass('built');
});

t.test("an instance reaches its CNCI's gateway across the tunnel", async (t) => {
  t.equal(await probeFrom(instA, '172.16.1.1'), 'reachable');
  t.equal(await probeFrom(instB, '172.16.2.1'), 'reachable');
});

t.test('tenants cannot reach each other', async (t) => {
  t.not(await probeFrom(instA, '172.16.2.2', 1000), 'reachable');
  t.not(await probeFrom(instB, '172.16.1.2', 1000), 'reachable');
  t.not(await probeFrom(instA, '172.16.2.1', 1000), 'reachable', "nor the other tenant's gateway");
});

t.test('an external IP is NATed to the instance, from the cluster namespace, until it is released', async (t) => {
  await ipIn(net, 'route', 'add', '203.0.113.0/24', 'dev', 'ciao_br');
  const nat = new IptablesNat(cnciA, UPLINK);
  const map = { tenantId: 'a', instanceId: 'i', publicIp: '203.0.113.5', privateIp: '172.16.1.2' };
  t.not(await probeFrom(net, '203.0.113.5', 1000), 'reachable', 'nothing answers before the map');
  await nat.assign(map);
  await nat.assign(map);
  t.equal(await probeFrom(net, '203.0.113.5'), 'reachable', 'mapped: the instance answers on the external IP');
  await nat.release(map);
  t.not(await probeFrom(net, '203.0.113.5', 1000), 'reachable', 'released');
  await t.rejects(nat.release(map), { name: 'Error', message: /not mapped/ });
});

t.test('the host gained no link, route or firewall rule', async (t) => {
  t.equal(await hostState(), before);
});
