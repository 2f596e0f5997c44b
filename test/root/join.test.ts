// Needs root: a second machine joins (docs/singlevm-network.md, "A second machine joins"), played on
// this one. Two throwaway namespaces play the two machines' own namespaces, with a veth pair between
// their `eth0`s as the LAN; the cluster's underlay and the joined node's are macvlans of those eth0s,
// made exactly as of a host's NIC. A real one-node cluster exports a bundle (0600; an expired one is
// refused), the "second machine" joins, its node is listed; a VM placed on it gets its address from
// the CNCI's DHCP over the tunnel and a container there and one on node 0 reach each other. A capture
// on the LAN sees nothing but VXLAN between the two underlay addresses and ARP. Leave and cleanup
// leave nothing on either "machine", and the host gained no link, route, rule or firewall rule.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { run } from '../../shared/run.ts';
import { AbortError, waitFor } from '../../shared/wait-for.ts';
import { createNamespace, deleteNamespace, listNamespaces } from '../../network/namespaces.ts';
import { ipIn } from '../../network/ip.ts';
import { readPidFile } from '../../shared/pid-file.ts';
import { clusterLeftovers } from '../../singlevm/host-state.ts';
import { pingFromContainer } from '../../singlevm/probes.ts';
import type { Instance, Workload } from '../../controller/api-types.ts';
import { throwawayCluster } from '../helpers/throwaway-cluster.ts';

/** The host's own namespace: links, routes, rules and firewall. */
async function hostNow(): Promise<string> {
  const ip = await Promise.all([['-br', 'link'], ['route'], ['rule']].map(async (args) => (await run('ip', args)).stdout));
  return ip.join('') + (await run('iptables-save', [])).stdout.replace(/^#.*$/gm, '');
}
const before = await hostNow();
const { name, home, sh, paths, setUp } = await throwawayCluster(t, 'jt');
const id = randomBytes(2).toString('hex');
// Named as namespaces of clusters of their own (`ciao-<x>-net`): the cluster's host proof leaves
// other clusters' namespaces alone, as it must leave the other machine's.
const [m1, m2] = [`ciao-ma${id}-net`, `ciao-mb${id}-net`];
const home2 = join(home, 'm2');
const bundleFile = join(home, 'join.json');
const [B, A] = ['192.0.2.11', '192.0.2.12'];
const joined = `${name}-join-1`;
/** join.sh as the second machine runs it: its own CIAO_HOME. */
const joinSh = (args: string[]) => sh('singlevm/join.sh', args, { CIAO_HOME: home2 });
/** `ciao list nodes --json` as the cluster's admin (its demo.sh). */
const listedNodes = async () => JSON.parse((await run('bash', ['-c', `. ${paths.demoSh} && ciao list nodes --json`])).stdout) as { id: string; kind: string; tunnel_ip: string | null; status: string }[];
/** Each step needs the one before it: after a failure the rest say so at once instead of timing out. */
let failed: string | undefined;
const step = (name: string, fn: (t: Test) => Promise<void>) => t.test(name, async (t) => {
  if (failed) return void t.fail(`not tried: "${failed}" failed`);
  try {
    await fn(t);
  } finally {
    if (!t.passing()) failed = name;
  }
});
let capture: ReturnType<typeof spawn> | undefined;
t.teardown(async () => {
  capture?.kill('SIGINT');
  await joinSh(['--leave', '--name', name]);
  for (const ns of [m1, m2]) await deleteNamespace(ns);
});

let cluster: Awaited<ReturnType<typeof setUp>>;
step('the cluster, and the LAN between the two "machines"', async (t) => {
  cluster = await setUp();
  for (const ns of [m1, m2]) {
    await createNamespace(ns);
    // The machines' own IPv6 would speak on the LAN too: only the cluster's frames are to be seen there.
    await run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  }
  await ipIn(m1, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', m2);
  for (const ns of [m1, m2]) await ipIn(ns, 'link', 'set', 'eth0', 'up');
  t.ok(cluster.setup.stdout.includes('Your cloud is ready'));
});

const exportJoin = (extra: string[]) => sh('singlevm/setup.sh', ['--name', name, '--export-join', bundleFile, '--underlay', 'eth0', '--underlay-netns', m1, ...extra]);

step('--export-join writes a 0600 bundle for node <c>-join-1 and the cluster end of the underlay', async (t) => {
  const missing = await exportJoin(['--address', `${B}/24`]);
  t.equal(missing.exitCode, 2, 'no --join-address: a usage error');
  t.match(missing.stderr, /--join-address A is required/);
  const outside = await exportJoin(['--address', `${B}/24`, '--join-address', '10.1.2.3']);
  t.match(outside.stderr, /is not in 192\.0\.2\.11\/24/);
  const r = await exportJoin(['--address', `${B}/24`, '--join-address', A]);
  t.equal(r.exitCode, 0, `export: ${r.stdout}\n${r.stderr}`);
  t.match(r.stdout, new RegExp(`join bundle for node ${joined} written`));
  t.equal((await stat(bundleFile)).mode & 0o777, 0o600, 'the bundle is 0600');
  const bundle = JSON.parse(await readFile(bundleFile, 'utf8'));
  t.equal(bundle.nodeId, joined);
  t.ok(Date.parse(bundle.expires) > Date.now(), 'it expires, later');
  const links = await ipIn(`ciao-${name}-net`, '-br', 'link');
  t.match(links, /underlay@/, 'the macvlan is in the cluster namespace');
  t.match(links, /joinvx/);
  const again = await exportJoin(['--address', `${B}/24`, '--join-address', A]);
  t.match(again.stderr, /exists: a bundle is never written over a file/, 'an existing file is not overwritten');
  const cert = await run('openssl', ['x509', '-noout', '-enddate', '-subject'], { input: bundle.pki.cert });
  const notAfter = Date.parse(cert.stdout.match(/notAfter=(.*)/)![1]);
  t.ok(notAfter < Date.now() + 8 * 86_400_000, `the certificate ends within 7 days (${cert.stdout.trim()})`);
  t.match(cert.stdout, new RegExp(`OU = compute, CN = ${joined}`), 'the compute role, the node id as CN');
});

step('join refuses an expired bundle and one others can read', async (t) => {
  const bundle = JSON.parse(await readFile(bundleFile, 'utf8'));
  const expired = join(home, 'expired.json');
  await writeFile(expired, JSON.stringify({ ...bundle, expires: new Date(Date.now() - 1000).toISOString() }), { mode: 0o600 });
  const r = await joinSh([expired, '--underlay', 'eth0', '--underlay-netns', m2]);
  t.equal(r.exitCode, 2);
  t.match(r.stderr, /expired at .*: export a new one/);
  await chmod(expired, 0o644);
  t.match((await joinSh([expired, '--underlay', 'eth0', '--underlay-netns', m2])).stderr, /readable by others/);
  t.notOk((await listNamespaces()).includes(`ciao-${name}-join-1`), 'nothing was made');
});

const pcap = join(home, 'lan.pcap');
step('the second machine joins: its node is listed, real, with its leg through the tunnel', async (t) => {
  // Everything that crosses the LAN from now on, seen from machine 1's NIC.
  capture = spawn('ip', ['netns', 'exec', m1, 'tcpdump', '-i', 'eth0', '-nn', '-U', '-w', pcap], { stdio: 'ignore' });
  await waitFor('tcpdump to write its capture', () => stat(pcap).then(() => true, () => false));
  const r = await joinSh([bundleFile, '--underlay', 'eth0', '--underlay-netns', m2]);
  t.equal(r.exitCode, 0, `join: ${r.stdout}\n${r.stderr}`);
  t.match(r.stdout, new RegExp(`This machine is node ${joined} of cluster "${name}"`));
  const nodes = await waitFor(`${joined} to be READY`, async () => {
    const listed = await listedNodes();
    return listed.find((n) => n.id === joined)?.status === 'READY' && listed;
  });
  t.same(nodes.map((n) => [n.id, n.kind, n.tunnel_ip]).sort(), [[joined, 'real', '198.51.100.61'], [`${name}-node-0`, 'real', '198.51.100.10']]);
  t.match(await ipIn(m2, '-br', 'link'), /^eth0@\S+\s+UP/m, "machine 2's NIC is there");
  t.notMatch(await ipIn(m2, '-br', 'link'), /underlay|uplink/, "machine 2's own namespace gained no link: the macvlan is in the node's");
});

step('a VM placed on the joined node gets DHCP over the tunnel; containers on both machines reach each other and it', async (t) => {
  const { user } = cluster;
  const tenant = `/tenants/${await user.tenantId()}`;
  const { workloads } = await user.call<{ workloads: Workload[] }>('GET', `${tenant}/workloads`);
  const pinned = (type: string, node: string) => {
    const w = workloads.find((x) => x.vm_type === type && x.visibility === 'public')!;
    return user.call<Workload>('POST', `${tenant}/workloads`, {
      description: `join test: ${type} on ${node}`, vm_type: w.vm_type, image_name: w.image_name, fw_type: w.fw_type, visibility: 'tenant',
      defaults: w.defaults, requirements: { ...w.requirements, node_id: node }, disks: w.disks ?? [], config: w.config,
    });
  };
  const made = [await pinned('qemu', joined), await pinned('docker', joined), await pinned('docker', `${name}-node-0`)];
  const started: Instance[] = [];
  for (const w of made) started.push(...(await user.call<{ instances: Instance[] }>('POST', `${tenant}/instances`, { workload_id: w.id, count: 1 })).instances);
  const [vm, ctThere, ctHere] = await waitFor('the three instances to be active', async () => {
    // A start that failed deletes its instance: that ends the wait at once, with the reason.
    const now = await Promise.all(started.map((i) => user.call<Instance>('GET', `${tenant}/instances/${i.id}`).catch((err: Error) => {
      throw new AbortError(err.message);
    })));
    const dead = now.find((i) => i.reason);
    if (dead) throw new Error(`instance ${dead.id}: ${dead.reason}`);
    return now.every((i) => i.state === 'active') && now;
  }, { timeoutMs: 240_000 });
  t.same([vm.node_id, ctThere.node_id, ctHere.node_id], [joined, joined, `${name}-node-0`], 'placed by node requirement');
  // The VM's address is only ever its DHCP lease from the CNCI on machine 1: answering means it got it.
  for (const [from, to, what] of [[ctHere, vm, 'node 0 → the VM on the joined node'], [ctHere, ctThere, 'node 0 → container on the joined node'],
    [ctThere, ctHere, 'joined node → node 0']] as const) {
    await waitFor(`${what} (${to.ip})`, () => pingFromContainer(name, from.id, to.ip), { timeoutMs: 120_000 });
    t.pass(what);
  }
  for (const i of started) await user.call('DELETE', `${tenant}/instances/${i.id}`);
  await waitFor('the instances to be deleted', async () => {
    const { instances } = await user.call<{ instances: Instance[] }>('GET', `${tenant}/instances`);
    return !instances.some((i) => started.some((s) => s.id === i.id));
  }, { timeoutMs: 60_000 });
  for (const w of made) await user.call('DELETE', `${tenant}/workloads/${w.id}`);
});

step('only VXLAN between the two underlay addresses, and ARP, crossed the LAN', async (t) => {
  capture!.kill('SIGINT');
  await once(capture!, 'exit');
  const lines = (await run('tcpdump', ['-r', pcap, '-nn', '-t'])).stdout.trim().split('\n').filter(Boolean);
  const vxlan = new RegExp(`^IP (${B}\\.\\d+ > ${A}|${A}\\.\\d+ > ${B})\\.4790: `);
  const other = lines.filter((l) => !vxlan.test(l) && !/^ARP, /.test(l));
  t.ok(lines.filter((l) => vxlan.test(l)).length > 10, `VXLAN crossed (${lines.length} packets)`);
  t.same(other.slice(0, 10), [], 'nothing else');
});

step("setup brings the cluster's end of the underlay back: the joined node returns without a new bundle", async (t) => {
  const gate = await readPidFile(join(paths.pids, 'scheduler-gate.pid'));
  t.ok(gate, 'the gate runs');
  // The gate's address is known by ciaovlan's MAC, not ciao_br's: the bridge's follows its lowest
  // port, and joinvx, made again below with a new MAC, may be that port.
  const macOf = async (ns: string, ...args: string[]) => (await ipIn(ns, ...args)).match(/(?:lladdr|link\/ether) ([0-9a-f:]{17})/)?.[1];
  t.equal(await macOf(`ciao-${name}-join-1`, 'neigh', 'show', '198.51.100.1'), await macOf(`ciao-${name}-net`, 'link', 'show', 'ciaovlan'),
    'the joined node knows 198.51.100.1 by the MAC of ciaovlan');
  const legMac = await macOf(`ciao-${name}-net`, 'link', 'show', 'underlay');
  process.kill(gate!, 'SIGKILL');
  await ipIn(`ciao-${name}-net`, 'link', 'del', 'underlay');
  await waitFor(`${joined} to be shown gone`, async () => (await listedNodes()).find((n) => n.id === joined)?.status !== 'READY');
  const r = await sh('singlevm/setup.sh', ['--name', name]);
  t.equal(r.exitCode, 0, `setup: ${r.stdout}\n${r.stderr}`);
  t.match(r.stdout, /missing: the scheduler gate\)/);
  t.match(r.stdout, new RegExp(`joined machines' underlay[^\\n]*\\n\\s+eth0 at ${B}/24, tunnels to ${joined} \\(${A}\\)`));
  t.equal(await macOf(`ciao-${name}-net`, 'link', 'show', 'underlay'), legMac, 'the underlay leg made again has its MAC of before');
  await waitFor(`${joined} to be READY again`, async () => (await listedNodes()).find((n) => n.id === joined)?.status === 'READY', { timeoutMs: 60_000 });
  t.pass('the joined launcher is back through the new gate and leg');
});

step('leave removes everything join made on the second machine', async (t) => {
  const r = await joinSh(['--leave', '--name', name]);
  t.equal(r.exitCode, 0, `leave: ${r.stdout}\n${r.stderr}`);
  t.match(r.stdout, new RegExp(`left cluster ${name} \\(node ${joined}\\): launcher stopped`));
  t.notOk((await listNamespaces()).includes(`ciao-${name}-join-1`), 'its namespace is gone');
  t.notOk(await stat(join(home2, `ciao-join-${name}`)).then(() => true, () => false), 'its state is gone');
  const containers = await run('docker', ['ps', '-aq', '--filter', `label=ciao.node=${joined}`]);
  t.equal(containers.stdout.trim(), '', 'no container of the node');
  t.same((await ipIn(m2, '-br', 'link')).split('\n').filter(Boolean).map((l) => l.split(/[\s@]/)[0]).sort(), ['eth0', 'lo']);
  await waitFor(`${joined} to be shown gone`, async () => {
    return (await listedNodes()).find((n) => n.id === joined)?.status !== 'READY';
  });
});

t.test('cleanup: nothing of the cluster is left, and the host gained nothing', async (t) => {
  t.same((await ipIn(m1, '-br', 'link')).split('\n').filter(Boolean).map((l) => l.split(/[\s@]/)[0]).sort(), ['eth0', 'lo'], "machine 1's own namespace gained no link");
  // The LAN goes first (the cluster's underlay leg with it): cleanup is then that of a cluster alone,
  // and does not take the two "machines" for clusters still using its Docker engine.
  for (const ns of [m1, m2]) await deleteNamespace(ns);
  const r = await sh('singlevm/cleanup.sh', ['--name', name]);
  t.equal(r.exitCode, 0, `cleanup: ${r.stdout}\n${r.stderr}`);
  t.same(await clusterLeftovers(name), []);
  t.equal(await hostNow(), before, 'no link, route, rule or firewall rule on the host');
});
