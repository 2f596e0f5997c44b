// Benchmark of the real single-machine cluster (SPEC §11): setup with cold and warm caches, each
// verify step, cleanup, VM create → SSH answers, container create → active with network.
// Prints a table against the targets and writes JSON. Needs root.
//   npm run bench:singlevm [-- --cold] [--runs 3] [--nodes 3 [--network-nodes 1]] | [-- --containers 7]
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../shared/run.ts';
import { waitFor } from '../shared/wait-for.ts';
import { withTempDir } from '../shared/temp-dir.ts';
import { clusterAgent } from '../shared/tls-files.ts';
import { ControllerClient } from '../shared/controller-client.ts';
import type { Instance, Workload } from '../controller/api-types.ts';
import { cnciNamespace } from '../cnci/cnci-backend.ts';
import { clusterPaths } from '../singlevm/cluster-files.ts';
import { REPO_ROOT } from '../singlevm/processes.ts';
import { readDemoSh } from '../singlevm/demo-sh.ts';
import { pingFrom, sshHostname } from '../singlevm/probes.ts';
import { scriptArgs, usageError } from '../singlevm/script-args.ts';
import type { StepTiming } from '../singlevm/step-runner.ts';

const USAGE = `usage: npm run bench:singlevm -- [--name NAME] [--cold] [--runs N] [--nodes N [--network-nodes K]] [--json FILE]
       npm run bench:singlevm -- --containers N [--name NAME] [--json FILE]
       npm run bench:singlevm -- --vms N [--name NAME] [--json FILE]

Times the real cluster (needs root): per run a warm setup, verify, one VM and one container
created and timed, cleanup — each script's wall clock from outside (its start-up included) and
its steps with their critical path (--timings); prints p50 and p95 against the targets (issue 15)
and writes JSON (default bench-results/singlevm.json).
  --runs N          warm runs (default 3)
  --nodes N         a cluster of N real nodes (setup.sh --nodes N; default 1), with
  --network-nodes K K of them network nodes (setup.sh --network-nodes K)
  --cold            first a setup with an empty image cache
  --containers N    only the container row: one setup, then N containers created one after another
                    (each deleted before the next), with p50 and p95
  --vms N           only the VM row, the same way: VM create → SSH answers, p50 and p95 (restored from
                    a snapshot template once it is made: the first VMs cold-boot while it is;
                    CIAO_VM_SNAPSHOTS=0: all cold)
  --name NAME       the cluster's name (default bench); it is cleaned up before and after

A container counts as networked when its tenant's CNCI namespace (its gateway's side) gets an answer
to a ping of its address; a VM when SSH from there answers with its hostname.`;
const values = scriptArgs('bench:singlevm', USAGE, {
  name: { type: 'string', default: 'bench' },
  cold: { type: 'boolean', default: false },
  runs: { type: 'string', default: '3' },
  containers: { type: 'string' },
  vms: { type: 'string' },
  nodes: { type: 'string', default: '1' },
  'network-nodes': { type: 'string' },
  json: { type: 'string' },
});
const name = values.name!;
const runs = Number(values.runs);
const containerRuns = values.containers === undefined ? undefined : Number(values.containers);
if (!(Number.isInteger(runs) && runs > 0)) usageError('bench:singlevm', USAGE, '--runs must be a whole number above 0');
if (containerRuns !== undefined && !(Number.isInteger(containerRuns) && containerRuns > 0)) usageError('bench:singlevm', USAGE, '--containers must be a whole number above 0');
const vmRuns = values.vms === undefined ? undefined : Number(values.vms);
if (vmRuns !== undefined && !(Number.isInteger(vmRuns) && vmRuns > 0)) usageError('bench:singlevm', USAGE, '--vms must be a whole number above 0');
if (!/^\d+$/.test(values.nodes!) || Number(values.nodes) < 1) usageError('bench:singlevm', USAGE, '--nodes must be a whole number above 0');
if (values['network-nodes'] !== undefined && !/^\d+$/.test(values['network-nodes'])) usageError('bench:singlevm', USAGE, '--network-nodes must be a whole number');
/** What every setup of the benchmark is given: the cluster's name and its nodes (setup checks them). */
const setupArgs = ['--name', name, '--nodes', values.nodes!, ...(values['network-nodes'] ? ['--network-nodes', values['network-nodes']] : [])];
const paths = clusterPaths(name);
const env = { ...process.env, CIAO_CLUSTER: name };
const results: { what: string; seconds: number; target?: number }[] = [];
const record = (what: string, seconds: number, target?: number) => {
  results.push({ what, seconds, target });
  console.log(`  ${what}: ${seconds.toFixed(2)} s${target ? ` (target ≤ ${target} s)` : ''}`);
};

async function timedScript(script: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<number> {
  const t0 = performance.now();
  const r = await run(join(REPO_ROOT, script), args, { env: { ...env, ...extraEnv }, allowFailure: true, timeout: 900_000 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.exitCode !== 0) throw new Error(`${script} ${args.join(' ')} failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  return seconds;
}
const cleanup = () => timedScript('singlevm/cleanup.sh', ['--name', name]);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(xs.length * 0.95) - 1)];

await cleanup();
if (values.cold) {
  // Cold: an empty image cache (Debian packages downloaded, the VM image built, KVM probed again).
  // Docker keeps an imported container image in its own store, so that one may still be there.
  await withTempDir('ciao-cold-cache', async (cache) => {
    record('setup, cold caches', await timedScript('singlevm/setup.sh', setupArgs, { XDG_CACHE_HOME: cache }));
    record('cleanup', await cleanup(), 1);
  });
}

/** One setup, then `runs` instances of one kind created one after another, each timed and deleted
 *  before the next; the first instance of the tenant (untimed) starts its CNCI, which stays. */
async function oneByOne(kind: 'docker' | 'qemu', runs: number, time: (user: Awaited<ReturnType<typeof userOf>>) => Promise<number>): Promise<number[]> {
  await timedScript('singlevm/setup.sh', setupArgs);
  const user = await userOf(await readDemoSh(paths.demoSh));
  const first = await user.create(kind);
  await user.active(first.id);
  const seconds: number[] = [];
  for (let i = 0; i < runs; i++) {
    seconds.push(await time(user));
    console.log(`  ${kind === 'qemu' ? 'VM' : 'container'} ${i + 1}/${runs}: ${seconds.at(-1)!.toFixed(3)} s`);
  }
  await cleanup();
  return seconds;
}
const machine = async () => `this machine: ${(await run('nproc', [])).stdout.trim()} cores, load ${(await readFile('/proc/loadavg', 'utf8')).split(' ')[0]}`;

if (containerRuns !== undefined) {
  const seconds = await oneByOne('docker', containerRuns, (user) => user.containerToNetwork());
  console.log(`\nsinglevm benchmark, containers only (${containerRuns}; ${await machine()})`);
  record('container: create → active with network, p50', median(seconds), 0.2);
  record('container: create → active with network, p95', p95(seconds));
  await writeJson({ containerToNet: seconds });
  process.exit(0);
}

// VMs are restored from a snapshot template (docs/vm-snapshots.md) unless CIAO_VM_SNAPSHOTS=0.
const snapshotsOff = process.env.CIAO_VM_SNAPSHOTS === '0' ? ' (snapshots off)' : '';
if (vmRuns !== undefined) {
  // The first (untimed) VM also gives the node's snapshot template, made from the launcher's
  // start, time to be ready when it is not cached yet.
  const seconds = await oneByOne('qemu', vmRuns, (user) => user.vmToSsh(true));
  console.log(`\nsinglevm benchmark, VMs only (${vmRuns}${snapshotsOff}; ${await machine()})`);
  record(`VM: create → SSH answers, p50${snapshotsOff}`, median(seconds), 1.0);
  record(`VM: create → SSH answers, p95${snapshotsOff}`, p95(seconds), 1.5);
  await writeJson({ vmToSsh: seconds });
  process.exit(0);
}

/** A script's wall clock (from outside: its start-up included) and its steps as it timed them. */
interface ScriptRun { wall: number; steps: StepTiming[]; critical: string[] }
const setups: ScriptRun[] = [];
const verifies: ScriptRun[] = [];
const cleanups: ScriptRun[] = [];
const vmToSsh: number[] = [];
const containerToNet: number[] = [];
/** Runs the script with --timings and reads them back. */
async function timedWithSteps(script: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<ScriptRun> {
  const file = join(tmpdir(), `ciao-bench-${process.pid}-${script.replace(/\W/g, '-')}.json`);
  const wall = await timedScript(script, [...args, '--timings', file], extraEnv);
  const timings = JSON.parse(await readFile(file, 'utf8'));
  await rm(file, { force: true });
  return { wall, steps: timings.steps, critical: timings.critical_path ?? [] };
}
for (let i = 0; i < runs; i++) {
  console.log(`run ${i + 1}/${runs}`);
  setups.push(await timedWithSteps('singlevm/setup.sh', setupArgs));
  const demo = await readDemoSh(paths.demoSh);
  verifies.push(await timedWithSteps('singlevm/verify.sh', [], demo));
  const [vm, ct] = await createToReady(demo);
  vmToSsh.push(vm);
  containerToNet.push(ct);
  cleanups.push(await timedWithSteps('singlevm/cleanup.sh', ['--name', name]));
  console.log(`  setup ${setups.at(-1)!.wall.toFixed(2)} s, verify ${verifies.at(-1)!.wall.toFixed(2)} s, cleanup ${cleanups.at(-1)!.wall.toFixed(2)} s, VM → SSH ${vm.toFixed(2)} s, container → network ${ct.toFixed(3)} s`);
}

/** The demo tenant's client, and what the benchmark does with it. */
async function userOf(demo: Record<string, string>) {
  const user = new ControllerClient(demo.CIAO_CONTROLLER, demo.CIAO_IDENTITY,
    { username: demo.CIAO_USERNAME, password: demo.CIAO_PASSWORD, projectName: demo.CIAO_TENANT_NAME }, clusterAgent(demo.CIAO_CA_CERT_FILE));
  const tenant = await user.tenantId();
  const base = `/tenants/${tenant}`;
  const { workloads } = await user.call<{ workloads: Workload[] }>('GET', `${base}/workloads`);
  const create = async (type: string) => {
    const w = workloads.find((x) => x.vm_type === type && x.visibility === 'public')!;
    return (await user.call<{ instances: Instance[] }>('POST', `${base}/instances`, { workload_id: w.id, count: 1 })).instances[0];
  };
  const active = (id: string) => waitFor(`${id} active`, async () => {
    const i = await user.call<Instance>('GET', `${base}/instances/${id}`);
    return i.state === 'active' && i;
  }, { timeoutMs: 120_000, intervalMs: 20 });
  const cnciNs = cnciNamespace(name, tenant);
  const removeInstance = async (id: string) => {
    await user.call('DELETE', `${base}/instances/${id}`);
    await waitFor(`${id} gone`, async () => (await user.call<{ instances: Instance[] }>('GET', `${base}/instances`)).instances.every((i) => i.id !== id), { timeoutMs: 60_000, intervalMs: 50 });
  };
  return {
    create, active,
    /** Create → SSH answers with its id; with `remove`, it is then deleted (not timed). */
    async vmToSsh(remove = false): Promise<number> {
      const t0 = performance.now();
      const started = new Date().toISOString();
      const vm = await create('qemu');
      await active(vm.id);
      const activeS = (performance.now() - t0) / 1000;
      await waitFor(`SSH to ${vm.ip}`, async () => (await sshHostname(cnciNs, vm.ip, demo.CIAO_SSH_KEY).catch(() => '')) === vm.id, { timeoutMs: 120_000, intervalMs: 100 });
      const seconds = (performance.now() - t0) / 1000;
      // Where the time went, with the launcher's log and the guest's console (docs/vm-snapshots.md).
      console.log(`    ${vm.id}: created ${started}, active at ${activeS.toFixed(3)} s, SSH answered at ${seconds.toFixed(3)} s`);
      if (remove) await removeInstance(vm.id);
      return seconds;
    },
    /** Create → active, and its gateway's side reaches it; then it is deleted (not timed). */
    async containerToNetwork(): Promise<number> {
      const t0 = performance.now();
      const ct = await create('docker');
      await active(ct.id);
      await waitFor(`${ct.id} to answer its gateway's side`, () => pingFrom(cnciNs, ct.ip), { timeoutMs: 30_000, intervalMs: 20 });
      const seconds = (performance.now() - t0) / 1000;
      await removeInstance(ct.id);
      return seconds;
    },
  };
}

async function createToReady(demo: Record<string, string>): Promise<[number, number]> {
  // With the tenant's CNCI up (verify left it), one VM and one container, each timed from create.
  const user = await userOf(demo);
  return [await user.vmToSsh(), await user.containerToNetwork()];
}

async function writeJson(raw: Record<string, unknown>) {
  const out = values.json ?? join(REPO_ROOT, 'bench-results', 'singlevm.json');
  await mkdir(join(REPO_ROOT, 'bench-results'), { recursive: true });
  await writeFile(out, JSON.stringify({ date: new Date().toISOString(), runs, results, raw }, null, 2) + '\n');
  console.log(`\nJSON: ${out}`);
}

/** A row per script: wall clock p50 and p95 against the target; then each step's p50 and p95, and
 *  how many of the runs had it on their critical path. */
function scriptRows(what: string, all: ScriptRun[], target: number) {
  const walls = all.map((r) => r.wall);
  record(`${what}, p50 (wall clock, script start included)`, median(walls), target);
  record(`${what}, p95`, p95(walls));
  const steps = [...new Set(all.flatMap((r) => r.steps.map((s) => s.name)))];
  for (const step of steps) {
    const secs = all.map((r) => r.steps.find((s) => s.name === step)?.seconds).filter((x): x is number => x !== undefined);
    const critical = all.filter((r) => r.critical.includes(step)).length;
    console.log(`    ${what} step ${step}: p50 ${median(secs).toFixed(2)} s, p95 ${p95(secs).toFixed(2)} s${critical ? `, on the critical path in ${critical}/${all.length}` : ''}`);
    results.push({ what: `  ${what} step: ${step} (p50)`, seconds: median(secs) });
  }
}

console.log(`\nsinglevm benchmark (${runs} warm run${runs > 1 ? 's' : ''}; p50 and p95; ${setupArgs.slice(2).join(' ')}; this machine: ${(await run('nproc', [])).stdout.trim()} cores, load ${(await readFile('/proc/loadavg', 'utf8')).split(' ')[0]})`);
scriptRows('setup, warm caches', setups, 2);
scriptRows('verify', verifies, 4);
scriptRows('cleanup', cleanups, 1);
record(`VM: create → SSH answers, p50${snapshotsOff}`, median(vmToSsh), 1.0);
record(`VM: create → SSH answers, p95${snapshotsOff}`, p95(vmToSsh), 1.5);
record('container: create → active with network, p50', median(containerToNet), 0.2);
record('container: create → active with network, p95', p95(containerToNet));

await writeJson({ setups, verifies, cleanups, vmToSsh, containerToNet });
