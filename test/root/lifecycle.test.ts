// Needs root: the cluster stops and comes back (docs/lifecycle.md). A VM booted from a root volume
// holding a file, a container and an external IP; `stop.sh` leaves the host as before setup and
// `setup.sh` brings everything back — the VM from its own volume (same hostname, the file still
// there), the container on its network, the external IP answering. Then a simulated reboot (every
// process of the cluster killed, its namespaces deleted) and `setup.sh` again; and `setup.sh` on a
// healthy cluster, which does nothing.
import t from 'tap';
import type { Test } from 'tap';
import { readdir } from 'node:fs/promises';
import { waitFor } from '../../shared/wait-for.ts';
import type { ExternalIp, Instance, Volume, Workload } from '../../controller/api-types.ts';
import { cnciNamespace } from '../../cnci/cnci-backend.ts';
import { pingFrom, pingFromContainer, sshRun } from '../../singlevm/probes.ts';
import { clusterProcesses, pidFiles } from '../../singlevm/processes.ts';
import { run } from '../../shared/run.ts';
import { UPLINK } from '../../network/cluster-leg.ts';
import { addressOf } from '../../network/dhcp-client.ts';
import { clusterLeftovers, diffHostState, readHostState, snapshotHost } from '../../singlevm/host-state.ts';
import { clusterNamespaces, deleteNamespace } from '../../network/namespaces.ts';
import { VM_ROOT_IMAGE } from '../../singlevm/default-workloads.ts';
import { gatewayOf } from '../../controller/addresses.ts';
import { throwawayCluster } from '../helpers/throwaway-cluster.ts';

const { name, paths, sh, setUp } = await throwawayCluster(t, 'life');
const figures: string[] = [];
t.teardown(() => console.log(`# lifecycle figures: ${figures.join('; ')}`));
const seconds = (t0: number) => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

const { demo, user, admin } = await setUp();
const tenantId = await user.tenantId();
const base = `/tenants/${tenantId}`;
const cnciNs = () => cnciNamespace(name, tenantId);
const get = <T>(path: string) => user.call<T>('GET', `${base}${path}`);
const active = (id: string) => waitFor(`instance ${id} to be active`, async () => {
  const i = await get<Instance>(`/instances/${id}`);
  if (i.reason) throw new Error(`instance ${id}: ${i.reason}`);
  return i.state === 'active' && i;
}, { timeoutMs: 120_000 });
const inGuest = (vm: Instance, command: string) =>
  waitFor(`SSH to ${vm.ip}`, () => sshRun(cnciNs(), vm.ip, demo.CIAO_SSH_KEY, command).then((out) => ({ out }), () => undefined), { timeoutMs: 120_000, intervalMs: 250 }).then((r) => r.out);

let vm: Instance;
let ct: Instance;
let ip: string;

/** The VM answers as itself with the file on its volume, the container reaches its gateway, the external IP answers. */
async function allBack(t: Test, what: string) {
  await active(vm.id);
  await active(ct.id);
  t.equal(await inGuest(vm, 'hostname'), vm.id, `${what}: the VM answers SSH as itself`);
  t.equal(await inGuest(vm, 'cat ~/marker'), 'kept', `${what}: the file written on its volume is there`);
  t.ok(await waitFor('the container to reach its gateway', () => pingFromContainer(name, ct.id, gatewayOf(ct.subnet)), { timeoutMs: 30_000 }), `${what}: the container is on its network`);
  t.ok(await waitFor(`${ip} to answer`, () => pingFrom(`ciao-${name}-net`, ip), { timeoutMs: 30_000 }), `${what}: the external IP answers`);
}

t.test('a VM on a root volume with a file, a container and an external IP', async (t) => {
  const root = await user.call<Volume>('POST', `${base}/volumes`, { image_id: VM_ROOT_IMAGE, bootable: true });
  await waitFor('the root volume', async () => (await get<Volume>(`/volumes/${root.id}`)).state === 'available', { timeoutMs: 60_000 });
  const { workloads } = await get<{ workloads: Workload[] }>('/workloads');
  const pub = workloads.find((w) => w.vm_type === 'qemu' && w.visibility === 'public')!;
  const w = await user.call<Workload>('POST', `${base}/workloads`, {
    description: 'from its volume', vm_type: 'qemu', image_name: pub.image_name, defaults: { vcpus: 1, mem_mb: 256, disk_mb: 0 },
    disks: [{ source: { service: 'volume', id: root.id }, bootable: true }], config: pub.config,
  });
  [vm] = (await user.call<{ instances: Instance[] }>('POST', `${base}/instances`, { workload_id: w.id })).instances;
  [ct] = (await user.call<{ instances: Instance[] }>('POST', `${base}/instances`, { workload_id: workloads.find((x) => x.vm_type === 'docker' && x.visibility === 'public')!.id })).instances;
  vm = await active(vm.id);
  await inGuest(vm, 'echo kept > ~/marker && sync');
  await admin.call('POST', '/pools', { name: 'life', subnet: '203.0.113.0/28' });
  ip = (await user.call<ExternalIp>('POST', `${base}/external-ips`, { instance_id: vm.id, pool: 'life' })).ip;
  await allBack(t, 'before');
});

t.test('stop.sh stops everything, keeps the state, and the host is as before setup', async (t) => {
  const t0 = performance.now();
  const r = await sh('singlevm/stop.sh', ['--name', name]);
  t.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  figures.push(`stop ${seconds(t0)}`);
  t.match(r.stdout, /✓ check the host is as before setup/);
  t.same(await clusterNamespaces(name), [], 'no namespace of the cluster');
  t.same(await clusterProcesses(name, paths.stateDir), [], 'no process of the cluster');
  const before = await readHostState(paths.hostBefore);
  t.same(diffHostState(before, await snapshotHost({ cluster: name, docker: true }), { cluster: name }).filter((d) => !d.startsWith('container left')), [], 'the host proof holds while stopped');
  t.ok((await readdir(paths.stateDir)).includes('controller.db'), 'the state is kept');
});

t.test('setup.sh brings it all back after stop.sh', async (t) => {
  const t0 = performance.now();
  const r = await sh('singlevm/setup.sh', ['--name', name]);
  t.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  t.match(r.stdout, /Your cloud is back/);
  await allBack(t, 'after stop and setup');
  figures.push(`resume after stop → all back ${seconds(t0)}`);
});

t.test('after a reboot (every process killed, every namespace gone), setup.sh brings it all back', async (t) => {
  for (const p of await clusterProcesses(name, paths.stateDir)) process.kill(p.pid, 'SIGKILL');
  await waitFor('the processes to be gone', async () => (await clusterProcesses(name, paths.stateDir)).length === 0);
  for (const ns of await clusterNamespaces(name)) await deleteNamespace(ns);
  t.same((await clusterLeftovers(name)).filter((l) => !l.startsWith('container')), [], 'nothing of the cluster runs');
  const t0 = performance.now();
  const r = await sh('singlevm/setup.sh', ['--name', name]);
  t.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  figures.push(`setup after a reboot ${seconds(t0)}`);
  await allBack(t, 'after a reboot');
  figures.push(`resume after a reboot → all back ${seconds(t0)}`);
});

t.test('a launcher killed before it set a CNCI\'s leg up (the leg down, no address): setup.sh brings the CNCI back, and its external IP answers', async (t) => {
  const launcher = (await pidFiles(paths.pids)).find((p) => p.name === 'launcher');
  t.ok(launcher, 'the launcher runs');
  process.kill(launcher!.pid, 'SIGKILL');
  await waitFor('the launcher to be gone', async () => !(await clusterProcesses(name, paths.stateDir)).some((p) => p.pid === launcher!.pid));
  // As addVethPair leaves it when its launcher dies between making the pair and setting its end up.
  await run('ip', ['-n', cnciNs(), 'addr', 'flush', 'dev', UPLINK]);
  await run('ip', ['-n', cnciNs(), 'link', 'set', UPLINK, 'down']);
  const r = await sh('singlevm/setup.sh', ['--name', name]);
  t.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  t.ok(await addressOf(cnciNs(), UPLINK), 'the CNCI\'s leg has its address again');
  await allBack(t, 'after the launcher was killed half-way through a CNCI\'s leg');
});

t.test('setup.sh on a healthy cluster does nothing and says so', async (t) => {
  const t0 = performance.now();
  const r = await sh('singlevm/setup.sh', ['--name', name]);
  figures.push(`setup.sh on a healthy cluster ${seconds(t0)}`);
  t.equal(r.exitCode, 0);
  t.match(r.stdout, /is up and healthy: nothing to do/);
  t.notMatch(r.stdout, /✓/, 'no step ran');
});
