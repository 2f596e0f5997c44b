// Needs root. Node roles and mixed clusters (singlevm/node-roles.ts): `setup.sh --nodes 3
// --network-nodes 1` makes one network node and two compute nodes, each with a certificate granting
// its role; verify passes with its cross-node step (the CNCI on the network node serves the compute
// nodes, an external IP and isolation across nodes) while tcpdump on the host's own links sees no
// packet of the cluster; a resume keeps the roles and refuses others; and `--nodes 2 --sim-nodes
// 1000` comes up with both kinds of node listed.
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readdir } from 'node:fs/promises';
import { run } from '../../shared/run.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { clusterLeftovers } from '../../singlevm/host-state.ts';
import { throwawayCluster } from '../helpers/throwaway-cluster.ts';
import { clusterPacketFilter, hostDownloads } from '../helpers/host-capture.ts';

const cluster = await throwawayCluster(t, 'nr');
const { name, paths } = cluster;
const sh = (script: string, args: string[]) => cluster.sh(script, [...args, '--name', name]);

/** A packet of the cluster: its tenant, cluster and external ranges, and its tunnels (not the
 *  host's own downloads: test/helpers/host-capture.ts). */
const CLUSTER_PACKETS = clusterPacketFilter(await hostDownloads(), true);

interface Listed { id: string; kind: string; roles: string[]; status: string }
const ciao = (args: string) => run('bash', ['-c', `. ${paths.demoSh} && ciao ${args}`]);
const nodes = async (): Promise<Listed[]> => (JSON.parse((await ciao('list nodes --json')).stdout) as Listed[]).sort((a, b) => a.id.localeCompare(b.id));

t.test('bad combinations are refused before anything is made', async (t) => {
  for (const [args, why] of [[['--nodes', '3', '--network-nodes', '3'], /leaves no compute node/], [['--nodes', '2', '--network-nodes', '5'], /more than --nodes 2/],
    [['--simulate', '--nodes', '3', '--network-nodes', '1'], /for real nodes/], [['--nodes', '1', '--sim-nodes', 'x'], /--sim-nodes must be/]] as const) {
    const r = await sh('singlevm/setup.sh', [...args]);
    t.equal(r.exitCode, 2, args.join(' '));
    t.match(r.stderr, why);
  }
  t.same(await clusterLeftovers(name), [], 'nothing made');
});

t.test('setup --nodes 3 --network-nodes 1: one network node, two compute nodes, each certificate granting its role', async (t) => {
  const r = await sh('singlevm/setup.sh', ['--nodes', '3', '--network-nodes', '1']);
  t.equal(r.exitCode, 0, `setup: ${r.stdout}\n${r.stderr}`);
  t.match(r.stdout, /real: 3 nodes \(1 network, 2 compute\)/);
  t.same((await nodes()).map((n) => [n.id, n.kind, n.roles.join(','), n.status]),
    [[`${name}-node-0`, 'real', 'network', 'READY'], [`${name}-node-1`, 'real', 'compute', 'READY'], [`${name}-node-2`, 'real', 'compute', 'READY']]);
  t.match((await ciao('list nodes')).stdout, new RegExp(`${name}-node-0 .*real\\s+READY\\s+-\\s+network`));
  for (const [cert, ou] of [['agent', 'network'], ['agent-1', 'compute'], ['agent-2', 'compute']]) {
    const subject = (await run('openssl', ['x509', '-in', join(paths.pki, `${cert}.crt`), '-noout', '-subject'])).stdout;
    t.match(subject, new RegExp(`OU = ${ou},`), `${cert} grants ${ou} only`);
  }
});

t.test('verify passes across the nodes, and no packet of the cluster crosses the host\'s links', async (t) => {
  // The host's own NICs (devices of its namespace) and its loopback: capture only, nothing is sent.
  // Not docker0: other clusters' and tests' containers on this machine may use Docker's 172.17/16.
  const nics = (await readdir('/sys/class/net')).filter((i) => existsSync(`/sys/class/net/${i}/device`));
  t.ok(nics.length, `the host has a NIC: ${nics.join(', ')}`);
  const captures = [...nics, 'lo'].map((nic) => {
    const c = { nic, seen: '', said: '', proc: spawn('tcpdump', ['-i', nic, '-n', '-l', '-p', CLUSTER_PACKETS], { stdio: ['ignore', 'pipe', 'pipe'] }) };
    c.proc.stdout.on('data', (b: Buffer) => { c.seen += b.toString(); });
    c.proc.stderr.on('data', (b: Buffer) => { c.said += b.toString(); });
    return c;
  });
  await waitFor('tcpdump to listen', () => captures.every((c) => /listening on/.test(c.said)), { timeoutMs: 10_000 });
  const r = await sh('singlevm/verify.sh', []);
  for (const c of captures) {
    const ended = new Promise((resolve) => c.proc.once('exit', resolve));
    c.proc.kill('SIGINT');
    await ended;
    t.match(c.said, /\b0 packets captured/, `tcpdump saw no packet of the cluster on ${c.nic}`);
    t.equal(c.seen.trim(), '', `no packet lines on ${c.nic}`);
  }
  t.equal(r.exitCode, 0, `verify: ${r.stdout}\n${r.stderr}`);
  t.match(r.stdout, new RegExp(`CNCI on ${name}-node-0 \\(network\\), VM on ${name}-node-1, container on ${name}-node-2; external IP 203\\.0\\.113\\.\\d+; other tenant on ${name}-node-2, isolated`));
  t.match(r.stdout, /across nodes: CNCI, VM and container, external IP, isolation\s+[\d.]+ s\s+ok/);
});

t.test('a resume keeps the roles, and other roles are refused', async (t) => {
  const refused = await sh('singlevm/setup.sh', ['--network-nodes', '2']);
  t.equal(refused.exitCode, 1);
  t.match(refused.stderr, /was set up with --network-nodes 1/);
  const stopped = await sh('singlevm/stop.sh', []);
  t.equal(stopped.exitCode, 0, `stop: ${stopped.stdout}\n${stopped.stderr}`);
  const r = await sh('singlevm/setup.sh', []);
  t.equal(r.exitCode, 0, `setup: ${r.stdout}\n${r.stderr}`);
  t.match(r.stdout, /resumed/);
  t.same((await nodes()).map((n) => [n.roles.join(','), n.status]), [['network', 'READY'], ['compute', 'READY'], ['compute', 'READY']]);
  const cleaned = await sh('singlevm/cleanup.sh', []);
  t.equal(cleaned.exitCode, 0, `cleanup: ${cleaned.stdout}\n${cleaned.stderr}`);
  t.same(await clusterLeftovers(name), []);
});

t.test('setup --nodes 2 --sim-nodes 1000: both kinds in one cluster, listed', async (t) => {
  const r = await sh('singlevm/setup.sh', ['--nodes', '2', '--sim-nodes', '1000']);
  t.equal(r.exitCode, 0, `setup: ${r.stdout}\n${r.stderr}`);
  t.match(r.stdout, /real: 2 nodes \+ 1000 simulated compute nodes/);
  const listed = await nodes();
  const count = (kind: string, roles: string) => listed.filter((n) => n.kind === kind && n.roles.join(',') === roles && n.status === 'READY').length;
  t.equal(listed.length, 1002);
  t.equal(count('real', 'compute,network'), 2, 'two real dual-role nodes');
  t.equal(count('simulated', 'compute'), 1000, 'a thousand simulated compute nodes');
  const table = (await ciao('list nodes')).stdout;
  t.match(table, new RegExp(`${name}-node-1 .*real\\s+READY\\s+-\\s+dual`));
  t.match(table, new RegExp(`${name}-sim-999 .*simulated\\s+READY\\s+-\\s+compute`));
  const cleaned = await sh('singlevm/cleanup.sh', []);
  t.equal(cleaned.exitCode, 0, `cleanup: ${cleaned.stdout}\n${cleaned.stderr}`);
  t.same(await clusterLeftovers(name), []);
});
