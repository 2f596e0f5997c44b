// Benchmark of the real single-machine cluster, issue 15's table (SPEC §11): by default setup with
// warm caches, verify, cleanup, VM create → SSH answers, container create → active with network; with
// flags the heavy rows too: BAT, the sim bench's 5 000-node rows, the nested VM (scripts/bench-heavy-rows.ts).
// Prints one table in the issue's order (p50, p95, target met or missed, the load) and writes JSON.
// Needs root.
//   npm run bench:singlevm [-- --runs 5] [--bat] [--scale 10k|100k|all] [--ccloudvm] [--all] [--heavy-runs K]
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
import type { StepTiming } from '../singlevm/step-runner.ts';
import { pct } from './bench-load.ts';
import { benchJson, COLD_START_UNMEASURED, coldStartMeasured, FIGURES, results, tableText, type Measured, type Sample } from './bench-rows.ts';
import { parseSinglevmArgs, USAGE } from './bench-singlevm-plan.ts';
import { batRow, ccloudvmRows, readTimings, sampled, scaleRows, type HeavyContext, type HeavyResult } from './bench-heavy-rows.ts';

const parsed = parseSinglevmArgs(process.argv.slice(2));
if ('help' in parsed) {
  console.log(USAGE);
  process.exit(0);
}
if ('error' in parsed) {
  console.error(`bench:singlevm: ${parsed.error}\n${USAGE.split('\n')[0]}`);
  process.exit(2);
}
const plan = parsed.plan;
const { name, runs, setupArgs } = plan;
const paths = clusterPaths(name);
const env = { ...process.env, CIAO_CLUSTER: name };
/** Each figure of the issue's table measured so far, by its id (scripts/bench-rows.ts FIGURES). */
const measured: Record<string, Measured> = {
  'cold-start': plan.coldStart ? coldStartMeasured(JSON.parse(await readFile(plan.coldStart, 'utf8')), plan.coldStart) : { samples: [], unmeasured: COLD_START_UNMEASURED },
};
/** Lines printed above the table: what is not one of the issue's rows (a cold setup, each script's steps). */
const extra: string[] = [];
const raw: Record<string, unknown> = {};
const loadavgStart = (await readFile('/proc/loadavg', 'utf8')).trim();

async function timedScript(script: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<number> {
  const t0 = performance.now();
  const r = await run(join(REPO_ROOT, script), args, { env: { ...env, ...extraEnv }, allowFailure: true, timeout: 900_000 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.exitCode !== 0) throw new Error(`${script} ${args.join(' ')} failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  return seconds;
}
const cleanup = () => timedScript('singlevm/cleanup.sh', ['--name', name]);

await cleanup();
if (plan.cold) {
  // Cold: an empty image cache (Debian packages downloaded, the VM image built, KVM probed again).
  // Docker keeps an imported container image in its own store, so that one may still be there.
  await withTempDir('ciao-cold-cache', async (cache) => {
    const cold = await sampled(() => timedScript('singlevm/setup.sh', setupArgs, { XDG_CACHE_HOME: cache }));
    extra.push(`setup, cold caches: ${cold.sample.value.toFixed(2)} s (load ${cold.sample.load_start} → ${cold.sample.load_end})`);
    raw.cold_setup = cold.sample;
    await cleanup();
  });
}

/** One setup, then `runs` instances of one kind created one after another, each timed and deleted
 *  before the next; the first instance of the tenant (untimed) starts its CNCI, which stays. */
async function oneByOne(kind: 'docker' | 'qemu', runs: number, time: (user: Awaited<ReturnType<typeof userOf>>) => Promise<number>): Promise<Sample[]> {
  await timedScript('singlevm/setup.sh', setupArgs);
  const user = await userOf(await readDemoSh(paths.demoSh));
  const first = await user.create(kind);
  await user.active(first.id);
  const samples: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    samples.push((await sampled(() => time(user), (seconds) => seconds)).sample);
    console.log(`  ${kind === 'qemu' ? 'VM' : 'container'} ${i + 1}/${runs}: ${samples.at(-1)!.value.toFixed(3)} s`);
  }
  await cleanup();
  return samples;
}

// VMs are restored from a snapshot template (docs/vm-snapshots.md) unless CIAO_VM_SNAPSHOTS=0.
const snapshotsOff = process.env.CIAO_VM_SNAPSHOTS === '0' ? ' (snapshots off: CIAO_VM_SNAPSHOTS=0)' : '';
if (plan.containers !== undefined) {
  measured.container = { samples: await oneByOne('docker', plan.containers, (user) => user.containerToNetwork()) };
} else if (plan.vms !== undefined) {
  // The first (untimed) VM also gives the node's snapshot template, made from the launcher's
  // start, time to be ready when it is not cached yet.
  measured.vm = { samples: await oneByOne('qemu', plan.vms, (user) => user.vmToSsh(true)), note: snapshotsOff.trim() || undefined };
} else if (runs > 0) {
  await quickRuns();
}

/** A script's wall clock (from outside: its start-up included), its load, and its steps as it timed them. */
interface ScriptRun { wall: number; sample: Sample; steps: StepTiming[]; critical: string[] }
/** Runs the script with --timings and reads them back. */
async function timedWithSteps(script: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<ScriptRun> {
  const file = join(tmpdir(), `ciao-bench-${process.pid}-${script.replace(/\W/g, '-')}.json`);
  const { sample } = await sampled(() => timedScript(script, [...args, '--timings', file], extraEnv));
  // Read once, then gone: a file per script and bench process was left in the OS temp dir.
  const timings = await readTimings(file).finally(() => rm(file, { force: true }));
  if (!timings) throw new Error(`${script} wrote no timings to ${file}`);
  return { wall: sample.value, sample, steps: timings.steps, critical: timings.critical_path };
}

/** The quick rows, `runs` times: a warm setup, verify, one VM and one container, cleanup. */
async function quickRuns() {
  const setups: ScriptRun[] = [], verifies: ScriptRun[] = [], cleanups: ScriptRun[] = [];
  const vmToSsh: Sample[] = [], containerToNet: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    console.log(`run ${i + 1}/${runs}`);
    setups.push(await timedWithSteps('singlevm/setup.sh', setupArgs));
    const demo = await readDemoSh(paths.demoSh);
    verifies.push(await timedWithSteps('singlevm/verify.sh', [], demo));
    // With the tenant's CNCI up (verify left it), one VM and one container, each timed from create.
    const user = await userOf(demo);
    vmToSsh.push((await sampled(() => user.vmToSsh(), (s) => s)).sample);
    containerToNet.push((await sampled(() => user.containerToNetwork(), (s) => s)).sample);
    cleanups.push(await timedWithSteps('singlevm/cleanup.sh', ['--name', name]));
    console.log(`  setup ${setups.at(-1)!.wall.toFixed(2)} s, verify ${verifies.at(-1)!.wall.toFixed(2)} s, cleanup ${cleanups.at(-1)!.wall.toFixed(2)} s, VM → SSH ${vmToSsh.at(-1)!.value.toFixed(2)} s, container → network ${containerToNet.at(-1)!.value.toFixed(3)} s`);
  }
  measured.setup = { samples: setups.map((r) => r.sample) };
  measured.verify = { samples: verifies.map((r) => r.sample) };
  measured.cleanup = { samples: cleanups.map((r) => r.sample) };
  measured.vm = { samples: vmToSsh, note: snapshotsOff.trim() || undefined };
  measured.container = { samples: containerToNet };
  stepLines('setup', setups);
  stepLines('verify', verifies);
  stepLines('cleanup', cleanups);
  Object.assign(raw, { setups, verifies, cleanups });
}

/** Each step's p50 and p95 over the runs, and how many of the runs had it on their critical path. */
function stepLines(what: string, all: ScriptRun[]) {
  const steps = [...new Set(all.flatMap((r) => r.steps.map((s) => s.name)))];
  for (const step of steps) {
    const secs = all.map((r) => r.steps.find((s) => s.name === step)?.seconds).filter((x): x is number => x !== undefined);
    const critical = all.filter((r) => r.critical.includes(step)).length;
    extra.push(`${what} step ${step}: p50 ${pct(secs, 50).toFixed(2)} s, p95 ${pct(secs, 95).toFixed(2)} s${critical ? `, on the critical path in ${critical}/${all.length}` : ''}`);
  }
}

// The heavy rows, one at a time, after the quick ones (whose cluster is gone by then).
const heavy: HeavyContext = { name, env, runs: plan.heavyRuns, setup: () => timedScript('singlevm/setup.sh', setupArgs), cleanup };
/** A heavy row's figures; one that threw (a setup that failed, a tool that could not start) fails
 *  its figures with the reason, and the bench goes on to the next. */
async function heavyRow(what: string, flags: string[], row: () => Promise<HeavyResult>) {
  try {
    const r = await row();
    Object.assign(measured, r.measured);
    raw[what] = r.raw;
  } catch (err) {
    console.log(`  ${what} failed: ${(err as Error).message.split('\n').slice(0, 6).join(' | ')}`);
    for (const f of FIGURES.filter((x) => flags.includes(x.flag))) measured[f.id] = { samples: [], problems: [`${what}: ${(err as Error).message.split('\n')[0]}`] };
    await cleanup().catch(() => undefined);
  }
}
if (plan.bat) await heavyRow('bat', ['--bat'], () => batRow(heavy));
if (plan.presets.length) await heavyRow('scale', plan.presets.map((p) => `--scale ${p}`), () => scaleRows(heavy, plan.presets));
if (plan.ccloudvm) await heavyRow('ccloudvm', ['--ccloudvm'], () => ccloudvmRows(heavy));

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

const figures = results(measured);
const cores = Number((await run('nproc', [])).stdout.trim());
const loadavgEnd = (await readFile('/proc/loadavg', 'utf8')).trim();
console.log(`\nsinglevm benchmark: issue 15's table (this machine: ${cores} cores; /proc/loadavg ${loadavgStart} at the start, ${loadavgEnd} at the end;`);
console.log(`setup ${setupArgs.slice(2).join(' ')}; scripts timed from outside, their start-up included; p50 and p95 over each row's runs)`);
for (const line of extra) console.log(`  ${line}`);
console.log(`\n${tableText(figures)}`);
const out = plan.json ?? join(REPO_ROOT, 'bench-results', 'singlevm.json');
await mkdir(join(out, '..'), { recursive: true });
await writeFile(out, JSON.stringify(benchJson({ date: new Date().toISOString(), cores, loadavg: { start: loadavgStart, end: loadavgEnd }, args: process.argv.slice(2), figures, raw }), null, 2) + '\n');
console.log(`\nJSON: ${out}`);
process.exit(0);
