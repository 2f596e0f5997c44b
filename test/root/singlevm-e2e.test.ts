// Needs root: the README's first command on the real cluster, as separate processes in a throwaway
// CIAO_HOME — cleanup → setup → verify (VMs over SSH, containers, isolation, NAT) → cleanup — and the
// host (namespaces, links, addresses, routes, iptables rules, containers, processes) exactly as before.
import t from 'tap';
import { mkdtemp, rm, access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { run } from '../../shared/run.ts';
import { REPO_ROOT } from '../../singlevm/processes.ts';
import { clusterPaths } from '../../singlevm/cluster-files.ts';
import { readDemoSh } from '../../singlevm/demo-sh.ts';
import { diffHostState, snapshotHost } from '../../singlevm/host-state.ts';

const home = await mkdtemp(join(tmpdir(), 'ciao-home-'));
const name = `e2e${randomBytes(3).toString('hex')}`;
// This process looks for the cluster's processes by its state dir too: the same CIAO_HOME as the scripts.
process.env.CIAO_HOME = home;
const env = { ...process.env, CIAO_HOME: home, CIAO_CLUSTER: name };
const paths = clusterPaths(name, home);
const sh = async (script: string, args: string[] = [], extraEnv: NodeJS.ProcessEnv = {}) =>
  run(join(REPO_ROOT, script), args, { env: { ...env, ...extraEnv }, allowFailure: true, timeout: 600_000 });
const exists = (p: string) => access(p).then(() => true, () => false);
const before = await snapshotHost({ cluster: name, docker: true });

t.teardown(async () => {
  await sh('singlevm/cleanup.sh', ['--name', name]);
  await rm(home, { recursive: true, force: true });
});

t.test('setup brings the real cluster up', async (t) => {
  t.equal((await sh('singlevm/cleanup.sh', ['--name', name])).exitCode, 0, 'cleanup with nothing to clean is fine');
  const r = await sh('singlevm/setup.sh', ['--name', name]);
  t.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  t.match(r.stdout, new RegExp(`Your cloud is ready: cluster "${name}" \\(real: 1 node, VMs under (TCG|KVM), containers on Docker\\)`));
  t.match(r.stdout, /VMs run under (TCG|KVM): /, 'setup says how VMs run');
  t.ok(await exists(paths.sshKey), 'the SSH key of demouser is in the state dir');
});

t.test('verify passes every step on the real cluster', async (t) => {
  const r = await sh('singlevm/verify.sh', [], await readDemoSh(paths.demoSh));
  t.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  for (const step of ['SSH into the VMs as demouser', 'container pings container', 'another tenant cannot reach them',
    'map an external IP; ping and SSH through it; unmap', 'NAT failure is reported', 'nothing left but the CNCIs']) {
    t.match(r.stdout, new RegExp(`✓ ${step.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), step);
  }
  t.notMatch(r.stdout, /not checked/, 'nothing is skipped on a real cluster');
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
