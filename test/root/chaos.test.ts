// Needs root: chaos during BAT (docs/lifecycle.md). A sentinel first — a VM with an external IP and
// a file it wrote, and a volume of its own — then, for each victim (controller, scheduler,
// launcher, dnsmasq, one QEMU of BAT's) in a seeded random order: BAT runs, the victim is killed
// with SIGKILL at a random moment during it, and setup.sh resumes the cluster at once. Each time:
// BAT ends by itself (all passed, or its failures named) well before the cap that would call it a
// hang; the cluster is whole again; the sentinel is all there.
import t from 'tap';
import type { Test } from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { waitFor } from '../../shared/wait-for.ts';
import { seededRandom } from '../../shared/seeded-random.ts';
import type { ExternalIp, Instance, Volume, Workload } from '../../controller/api-types.ts';
import { cnciNamespace } from '../../cnci/cnci-backend.ts';
import { pingFrom, sshRun } from '../../singlevm/probes.ts';
import { clusterProcesses, killFound, pidFiles } from '../../singlevm/processes.ts';
import { throwawayCluster } from '../helpers/throwaway-cluster.ts';

/** BAT takes about 35 s here; a run still going after this long is a hang. */
const BAT_CAP_MS = 420_000;
const seed = Number(process.env.CIAO_CHAOS_SEED) || Date.now() % 1_000_000;
/** Seeded, so a failing order and timing can be replayed. */
const random = seededRandom(seed);
t.comment(`chaos seed ${seed} (CIAO_CHAOS_SEED=${seed} replays it)`);

const { name, paths, sh, setUp } = await throwawayCluster(t, 'chaos');
const figures: string[] = [];
t.teardown(() => console.log(`# chaos: ${figures.join('; ')}`));

const { demo, user, admin } = await setUp();
const base = `/tenants/${await user.tenantId()}`;
const get = <T>(path: string) => user.call<T>('GET', `${base}${path}`);

/** A QEMU of the cluster that is not the sentinel's: one of BAT's VMs. */
async function batQemu(sentinelId: string): Promise<number | undefined> {
  const qemus = (await clusterProcesses(name, paths.stateDir)).filter((p) => p.cmdline.includes('qemu-system') && !p.cmdline.includes(sentinelId));
  return qemus[0]?.pid;
}

const victims: Record<string, (sentinelId: string) => Promise<number | undefined>> = {
  controller: async () => (await pidFiles(paths.pids)).find((p) => p.name === 'controller')?.pid,
  scheduler: async () => (await pidFiles(paths.pids)).find((p) => p.name === 'scheduler')?.pid,
  launcher: async () => (await pidFiles(paths.pids)).find((p) => p.name === 'launcher')?.pid,
  dnsmasq: async () => Number(await readFile(join(paths.clusterNet, 'dnsmasq.pid'), 'utf8')) || undefined,
  qemu: (sentinelId) => waitFor("one of BAT's VMs to run", () => batQemu(sentinelId), { timeoutMs: 60_000, intervalMs: 200 }),
};

let vm: Instance;
let volume: Volume;
let ip: string;

/** The sentinel is all there: the VM runs and answers as itself with its file, the external IP answers, the volume is kept. */
async function sentinelWhole(t: Test, when: string) {
  const inst = await waitFor(`the sentinel ${vm.id} to be active`, async () => {
    const i = await get<Instance>(`/instances/${vm.id}`).catch(() => undefined);
    return i?.state === 'active' && i;
  }, { timeoutMs: 120_000 });
  t.equal(inst.ip, vm.ip, `${when}: the sentinel VM keeps its address`);
  const marker = await waitFor(`SSH to ${vm.ip}`, () => sshRun(cnciNamespace(name, inst.tenant_id), vm.ip, demo.CIAO_SSH_KEY, 'cat ~/marker').then((out) => ({ out }), () => undefined), { timeoutMs: 120_000, intervalMs: 250 });
  t.equal(marker.out, 'kept', `${when}: the file the sentinel wrote is there`);
  t.ok(await waitFor(`${ip} to answer`, () => pingFrom(`ciao-${name}-net`, ip), { timeoutMs: 30_000 }), `${when}: its external IP answers`);
  t.equal((await get<Volume>(`/volumes/${volume.id}`)).state, 'available', `${when}: the volume is kept`);
}

t.test('the sentinel: a VM with a file and an external IP, a volume', async (t) => {
  const { workloads } = await get<{ workloads: Workload[] }>('/workloads');
  const w = workloads.find((x) => x.vm_type === 'qemu' && x.visibility === 'public')!;
  [vm] = (await user.call<{ instances: Instance[] }>('POST', `${base}/instances`, { workload_id: w.id })).instances;
  volume = await user.call<Volume>('POST', `${base}/volumes`, { size_mb: 64, name: 'sentinel' });
  await waitFor('the sentinel volume', async () => (await get<Volume>(`/volumes/${volume.id}`)).state === 'available', { timeoutMs: 60_000 });
  vm = await waitFor('the sentinel VM', async () => {
    const i = await get<Instance>(`/instances/${vm.id}`);
    if (i.reason) throw new Error(i.reason);
    return i.state === 'active' && i;
  }, { timeoutMs: 120_000 });
  await waitFor(`SSH to ${vm.ip}`, () => sshRun(cnciNamespace(name, vm.tenant_id), vm.ip, demo.CIAO_SSH_KEY, 'echo kept > ~/marker && sync').then(() => true, () => false), { timeoutMs: 120_000, intervalMs: 250 });
  await admin.call('POST', '/pools', { name: 'chaos', subnet: '203.0.113.0/28' });
  ip = (await user.call<ExternalIp>('POST', `${base}/external-ips`, { instance_id: vm.id, pool: 'chaos' })).ip;
  await sentinelWhole(t, 'before');
});

const order = Object.keys(victims);
for (let i = order.length - 1; i > 0; i--) {
  const j = Math.floor(random() * (i + 1));
  [order[i], order[j]] = [order[j], order[i]];
}
for (const victim of order) {
  t.test(`kill -9 of the ${victim} during BAT`, async (t) => {
    const t0 = performance.now();
    const bat = sh('bat/run.sh', ['--name', name, '--timeout', '120'], {}).then((r) => ({ ...r, seconds: (performance.now() - t0) / 1000 }));
    const capped = Promise.race([bat, delay(BAT_CAP_MS, 'hang' as const, { ref: false })]);
    // The chaos itself: a random moment, not a synchronisation.
    await delay(2000 + Math.floor(random() * 20_000));
    // A QEMU found may end before the kill (BAT deleted its VM meanwhile): another is killed then.
    const pid = await killFound(victim, () => victims[victim](vm.id));
    t.ok(pid, `the ${victim} ran, and was killed`);
    const killedAt = performance.now();
    const resume = await sh('singlevm/setup.sh', ['--name', name]);
    t.equal(resume.exitCode, 0, `setup.sh resumes: ${resume.stdout}\n${resume.stderr}`);
    const back = ((performance.now() - killedAt) / 1000).toFixed(1);

    const r = await capped;
    if (r === 'hang') return t.fail(`BAT still ran ${BAT_CAP_MS / 1000} s after it started: a hang`);
    // Its end: a summary, or — when the kill came before its first request — a clear refusal.
    const said = /BAT: \d+ tests in \d+ suites, \d+ passed, \d+ failed/.test(r.stderr) || /bat: cannot reach the cluster: /.test(r.stderr);
    t.ok(said, `BAT ended by itself in ${r.seconds.toFixed(0)} s and said how it went: ${r.stderr.slice(-1500)}`);
    const failedTests = r.stderr.split('\n').filter((l) => l.includes('FAILED')).map((l) => l.trim());
    if (r.exitCode !== 0) t.ok(failedTests.length || /LEAKED/.test(r.stderr), 'a BAT that failed names what failed');
    figures.push(`${victim}: resumed in ${back} s, BAT ${r.exitCode === 0 ? 'passed' : `failed ${failedTests.length}`} in ${r.seconds.toFixed(0)} s`);

    const healthy = await sh('singlevm/setup.sh', ['--name', name]);
    t.match(healthy.stdout, /is up and healthy: nothing to do/, 'the cluster is whole again');
    await sentinelWhole(t, `after the ${victim}`);
  });
}
