// Needs root: the README's first command on the real cluster, as separate processes in a throwaway
// CIAO_HOME — cleanup → setup → verify (VMs over SSH, containers, isolation, egress, NAT) → cleanup —
// and the host (namespaces, links, addresses, routes, iptables rules, containers, processes) exactly
// as before. The cluster has egress (docs/egress.md) with one port of the host's loopback opened;
// the other real-cluster tests (two clusters, BAT, lifecycle) run without it.
import t from 'tap';
import { spawn } from 'node:child_process';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../shared/run.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { isAlive } from '../../shared/is-alive.ts';
import { clusterAgent } from '../../shared/tls-files.ts';
import { ControllerClient } from '../../shared/controller-client.ts';
import type { Instance, Workload } from '../../controller/api-types.ts';
import { cnciNamespace, legMac } from '../../cnci/cnci-backend.ts';
import { pingFromContainer, sshHostname } from '../../singlevm/probes.ts';
import { pidFiles, REPO_ROOT, startDaemon } from '../../singlevm/processes.ts';
import { readDemoSh } from '../../singlevm/demo-sh.ts';
import { clusterLeftovers, diffHostState, snapshotHost } from '../../singlevm/host-state.ts';
import { gatewayOf } from '../../controller/addresses.ts';
import { freePort } from '../../singlevm/ports.ts';
import { throwawayCluster } from '../helpers/throwaway-cluster.ts';
import { clusterPacketFilter, hostDownloads } from '../helpers/host-capture.ts';

const { home, name, paths, sh } = await throwawayCluster(t, 'e2e');
const exists = (p: string) => access(p).then(() => true, () => false);
const before = await snapshotHost({ cluster: name, docker: true });
const egressPort = await freePort();

t.test('setup brings the real cluster up', async (t) => {
  t.equal((await sh('singlevm/cleanup.sh', ['--name', name])).exitCode, 0, 'cleanup with nothing to clean is fine');
  // No proxy of the machine's: the summary below is the one without (test/root/tenant-egress.test.ts has one).
  const r = await sh('singlevm/setup.sh', ['--name', name, '--egress', '--egress-allow-host', String(egressPort)], { http_proxy: '', https_proxy: '', HTTP_PROXY: '', HTTPS_PROXY: '' });
  t.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  t.match(r.stdout, new RegExp(`egress +on, through slirp4netns: host loopback ports ${egressPort}, DNS the host's resolvers`));
  t.match(r.stdout, new RegExp(`Your cloud is ready: cluster "${name}" \\(real: 1 node, VMs under (TCG|KVM), containers on Docker\\)`));
  t.match(r.stdout, /VMs run under (TCG|KVM): /, 'setup says how VMs run');
  t.ok(await exists(paths.sshKey), 'the SSH key of demouser is in the state dir');
});

t.test('verify passes every step on the real cluster, and no packet of the cluster\'s ranges crosses the host\'s links', async (t) => {
  // Every link of the host's namespace (its NIC, loopback, docker0): egress's connections leave from
  // the host's own address as slirp4netns's sockets, never with a cluster address on them.
  // The host's own downloads from its mirrors (an address in 203.0.113.0/24 here) are left out:
  // test/helpers/host-capture.ts.
  const tcpdump = spawn('tcpdump', ['-i', 'any', '-n', '-l', '-p', clusterPacketFilter(await hostDownloads())], { stdio: ['ignore', 'pipe', 'pipe'] });
  let seen = '';
  let said = '';
  tcpdump.stdout.on('data', (b: Buffer) => { seen += b.toString(); });
  tcpdump.stderr.on('data', (b: Buffer) => { said += b.toString(); });
  await waitFor('tcpdump to listen', () => /listening on/.test(said), { timeoutMs: 10_000 });
  const r = await sh('singlevm/verify.sh', [], await readDemoSh(paths.demoSh));
  const ended = new Promise((resolve) => tcpdump.once('exit', resolve));
  tcpdump.kill('SIGINT');
  await ended;
  t.match(said, /\b0 packets captured/, 'tcpdump saw no packet of the cluster\'s ranges on the host');
  t.equal(seen.trim(), '', 'no packet lines');
  t.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  for (const step of ['SSH into the VMs as demouser', 'container pings container', 'another tenant cannot reach them',
    'egress: workloads reach an opened host port, and no other', 'map an external IP; ping and SSH through it; unmap', 'NAT failure is reported', 'nothing left but the CNCIs']) {
    t.match(r.stdout, new RegExp(`✓ ${step.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), step);
  }
  // One node: the cross-node step alone is left out (test/root/multi-node-cluster.test.ts runs it).
  const notChecked = r.stdout.split(/not checked on this cluster:\n/)[1]?.split('\n').filter((l) => l.trim().startsWith('- ')) ?? [];
  t.same(notChecked.map((l) => l.trim()), ['- instances on two nodes reach each other, a CNCI serves another node (needs two real nodes: setup.sh --nodes 2)'],
    'nothing is skipped on a real cluster of one node but what needs a second node');
});

t.test('a restarted launcher re-adopts its VM, its container and the CNCI', async (t) => {
  const demo = await readDemoSh(paths.demoSh);
  const user = new ControllerClient(demo.CIAO_CONTROLLER, demo.CIAO_IDENTITY,
    { username: demo.CIAO_USERNAME, password: demo.CIAO_PASSWORD, projectName: demo.CIAO_TENANT_NAME }, clusterAgent(demo.CIAO_CA_CERT_FILE));
  const base = `/tenants/${await user.tenantId()}`;
  const { workloads } = await user.call<{ workloads: Workload[] }>('GET', `${base}/workloads`);
  const create = async (type: string) => (await user.call<{ instances: Instance[] }>('POST', `${base}/instances`,
    { workload_id: workloads.find((w) => w.vm_type === type && w.visibility === 'public')!.id, count: 1 })).instances[0];
  const [vm, ct] = [await create('qemu'), await create('docker')];
  const allActive = () => waitFor('both instances active', async () => {
    const now = await Promise.all([vm, ct].map((i) => user.call<Instance>('GET', `${base}/instances/${i.id}`)));
    return now.every((i) => i.state === 'active');
  }, { timeoutMs: 120_000 });
  await allActive();
  const cnciNs = cnciNamespace(name, await user.tenantId());
  await waitFor(`SSH to ${vm.ip}`, async () => (await sshHostname(cnciNs, vm.ip, demo.CIAO_SSH_KEY).catch(() => '')) === vm.id, { timeoutMs: 120_000 });
  const qemuBefore = (await clusterLeftovers(name)).filter((l) => /qemu-system/.test(l));

  const launcher = (await pidFiles(paths.pids)).find((p) => p.name === 'launcher')!;
  const argv = (await readFile(`/proc/${launcher.pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
  process.kill(launcher.pid, 'SIGTERM');
  await waitFor('the launcher to exit', () => !isAlive(launcher.pid));
  // The same daemon again, as setup started it (its argv ends with the `--cluster NAME` startDaemon adds).
  await startDaemon({ name: 'launcher', entry: argv[1], args: argv.slice(2, -2) }, name, paths);

  await allActive();
  t.same((await clusterLeftovers(name)).filter((l) => /qemu-system/.test(l)), qemuBefore, 'the same QEMU process, not a new one');
  t.equal(await sshHostname(cnciNs, vm.ip, demo.CIAO_SSH_KEY), vm.id, 'the VM still answers SSH');
  t.ok(await pingFromContainer(name, ct.id, gatewayOf(ct.subnet)), 'the container still reaches its gateway');
  // The CNCI's agent joined again: it still maps and unmaps, answering with events.
  const admin = new ControllerClient(demo.CIAO_CONTROLLER, demo.CIAO_IDENTITY,
    { username: demo.CIAO_ADMIN_USERNAME, password: demo.CIAO_ADMIN_PASSWORD, projectName: demo.CIAO_ADMIN_TENANT_NAME }, clusterAgent(demo.CIAO_CA_CERT_FILE));
  await admin.call('POST', '/pools', { name: 'restart', subnet: '203.0.113.0/28' });
  const events = async () => (await user.call<{ events: { id: string; message: string }[] }>('GET', `${base}/events`)).events;
  const seen = new Set((await events()).map((e) => e.id));
  const newEvent = (prefix: string) => waitFor(`an event "${prefix}…" from the re-adopted CNCI`,
    async () => (await events()).some((e) => !seen.has(e.id) && e.message.startsWith(prefix)), { timeoutMs: 30_000 });
  const m = await user.call<{ ip: string }>('POST', `${base}/external-ips`, { instance_id: vm.id, pool: 'restart' });
  await newEvent(`Mapped ${m.ip}`);
  await user.call('DELETE', `${base}/external-ips/${m.ip}`);
  await newEvent(`Unmapped ${m.ip}`);
  await admin.call('DELETE', '/pools/restart');
  await user.call('DELETE', `${base}/instances`);
  await waitFor('the instances to be gone', async () => (await user.call<{ instances: Instance[] }>('GET', `${base}/instances`)).instances.length === 0, { timeoutMs: 60_000 });
});

t.test("a deleted tenant's CNCI gives its address back to the cluster's DHCP", async (t) => {
  // The cluster's dnsmasq leases CNCI legs for ever (100 addresses, SPEC §4): one not given back
  // is lost until cleanup, and a cluster that runs BAT again and again runs out (docs/singlevm-network.md).
  const demo = await readDemoSh(paths.demoSh);
  const admin = new ControllerClient(demo.CIAO_CONTROLLER, demo.CIAO_IDENTITY,
    { username: demo.CIAO_ADMIN_USERNAME, password: demo.CIAO_ADMIN_PASSWORD, projectName: demo.CIAO_ADMIN_TENANT_NAME }, clusterAgent(demo.CIAO_CA_CERT_FILE));
  const tenant = await admin.call<{ id: string }>('POST', '/tenants', { name: 'lease-back' });
  const base = `/tenants/${tenant.id}`;
  const { workloads } = await admin.call<{ workloads: Workload[] }>('GET', `${base}/workloads`);
  const w = workloads.find((x) => x.vm_type === 'docker' && x.visibility === 'public')!;
  const [ct] = (await admin.call<{ instances: Instance[] }>('POST', `${base}/instances`, { workload_id: w.id })).instances;
  await waitFor(`${ct.id} active`, async () => (await admin.call<Instance>('GET', `${base}/instances/${ct.id}`)).state === 'active', { timeoutMs: 60_000 });
  const mac = legMac(tenant.id);
  const leases = () => readFile(join(paths.clusterNet, 'leases'), 'utf8');
  const leg = (await leases()).split('\n').find((l) => l.includes(` ${mac} `));
  t.ok(leg, `the CNCI's leg (${mac}) holds a lease: ${leg}`);
  await admin.call('DELETE', `${base}/instances`);
  await waitFor('its instance gone', async () => (await admin.call<{ instances: Instance[] }>('GET', `${base}/instances`)).instances.length === 0, { timeoutMs: 60_000 });
  await admin.call('DELETE', base);
  await waitFor(`the lease of ${mac} to be given back`, async () => !(await leases()).includes(` ${mac} `), { timeoutMs: 30_000 });
  t.match(await readFile(join(paths.clusterNet, 'dnsmasq.log'), 'utf8'), new RegExp(`DHCPRELEASE\\(ciaovlan\\) [0-9.]+ ${mac}`), "dnsmasq says it took the address back");
});

t.test('a VM whose QEMU is killed is exited within 2 s with the reason; ciao restart instance brings it back', async (t) => {
  const demo = await readDemoSh(paths.demoSh);
  const user = new ControllerClient(demo.CIAO_CONTROLLER, demo.CIAO_IDENTITY,
    { username: demo.CIAO_USERNAME, password: demo.CIAO_PASSWORD, projectName: demo.CIAO_TENANT_NAME }, clusterAgent(demo.CIAO_CA_CERT_FILE));
  const base = `/tenants/${await user.tenantId()}`;
  const { workloads } = await user.call<{ workloads: Workload[] }>('GET', `${base}/workloads`);
  const [vm] = (await user.call<{ instances: Instance[] }>('POST', `${base}/instances`,
    { workload_id: workloads.find((w) => w.vm_type === 'qemu' && w.visibility === 'public')!.id, count: 1 })).instances;
  const state = () => user.call<Instance>('GET', `${base}/instances/${vm.id}`);
  await waitFor('the VM to be active', async () => (await state()).state === 'active', { timeoutMs: 120_000 });
  const cnciNs = cnciNamespace(name, await user.tenantId());
  await waitFor(`SSH to ${vm.ip}`, async () => (await sshHostname(cnciNs, vm.ip, demo.CIAO_SSH_KEY).catch(() => '')) === vm.id, { timeoutMs: 120_000 });

  const pid = Number(await readFile(join(paths.node, 'instances', vm.id, 'qemu.pid'), 'utf8'));
  const t0 = performance.now();
  process.kill(pid, 'SIGKILL');
  const dead = await waitFor('the VM to be exited', async () => { const i = await state(); return i.state === 'exited' && i; }, { timeoutMs: 2000, intervalMs: 20 });
  t.comment(`QEMU kill -9 → exited through the API: ${(performance.now() - t0).toFixed(0)} ms`);
  t.equal(dead.reason, 'exited unexpectedly: QEMU was killed by SIGKILL');
  const ciao = (...args: string[]) => run(join(REPO_ROOT, 'bin/ciao'), args, { env: { ...process.env, ...demo }, allowFailure: true });
  const events = JSON.parse((await ciao('--json', 'list', 'events')).stdout) as { type: string; message: string }[];
  t.ok(events.some((e) => e.type === 'error' && e.message.startsWith(`Instance ${vm.id} exited unexpectedly on ${name}-node-0: QEMU was killed by SIGKILL; console: `)),
    'ciao list events says why, with the last line of the console');

  const restart = await ciao('restart', 'instance', vm.id);
  t.equal(restart.exitCode, 0, restart.stderr);
  await waitFor(`SSH to ${vm.ip} after the restart`, async () => (await sshHostname(cnciNs, vm.ip, demo.CIAO_SSH_KEY).catch(() => '')) === vm.id, { timeoutMs: 120_000 });
  t.equal((await state()).reason, null, 'the restart cleared the reason');
  await user.call('DELETE', `${base}/instances`);
  await waitFor('the instances to be gone', async () => (await user.call<{ instances: Instance[] }>('GET', `${base}/instances`)).instances.length === 0, { timeoutMs: 60_000 });
});

t.test('logs bundles component logs, guest consoles and every namespace\'s network state, and no secrets', async (t) => {
  const archive = join(home, 'logs.tar.gz');
  const r = await sh('singlevm/logs.sh', ['--name', name, '--output', archive]);
  t.equal(r.exitCode, 0, r.stderr);
  const files = (await run('tar', ['-tzf', archive])).stdout.split('\n');
  for (const want of ['./README.txt', './state/logs/controller.log', './state/logs/launcher.log', './state/cluster.json', './processes.txt', './containers.txt',
    `./network/ciao-${name}-net.txt`, `./network/ciao-${name}-node-0.txt`]) {
    t.ok(files.includes(want), want);
  }
  t.ok(files.some((f) => /\/consoles\/[^/]+\.log$/.test(f)), "the console logs of verify's (deleted) VMs");
  t.ok(files.some((f) => /^\.\/network\/ciao-.*-cnci-[0-9a-f]+\.txt$/.test(f)), "a CNCI's network state");
  t.ok(files.some((f) => /\/leases$/.test(f)), 'dnsmasq leases');
  t.notOk(files.some((f) => /pki\/|ssh\/|\.key$|identity\.json/.test(f)), 'no keys or passwords');
  const net = (await run('tar', ['-xzOf', archive, `./network/ciao-${name}-net.txt`])).stdout;
  t.match(net, /ciao_br/);
  t.match(net, /ciaovlan/);
  t.match(net, /198\.51\.100\.1\/24/);
});

t.test('cleanup leaves the host exactly as before setup', async (t) => {
  const dry = await sh('singlevm/cleanup.sh', ['--name', name, '--dry-run']);
  t.match(dry.stdout, new RegExp(`network namespace ciao-${name}-net`));
  t.match(dry.stdout, new RegExp(`network namespace ciao-${name}-cnci-`), 'the CNCIs are there until cleanup');
  const r = await sh('singlevm/cleanup.sh', ['--name', name]);
  t.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  t.match(r.stdout, /check the host is as before setup/);
  t.same(diffHostState(before, await snapshotHost({ cluster: name, docker: true }), { cluster: name }), []);
  t.notOk(await exists(paths.stateDir));
});
