// One run of `npm run bench -- --real-nodes R --sim-nodes N --instances M` (issue 14 item 7): a
// mixed cluster (setup.sh --nodes R --sim-nodes N; needs root) carrying M simulated instances
// while real containers are created and timed. The M come from a copy of the default container
// workload with requirements.simulated_node, so no real node runs one (checked at the end); the
// real ones from a copy with requirements.real_node. Before the burst, one real container starts
// the tenant's CNCI (on a real network node) and K more are timed on the idle cluster; during it,
// K are created at even steps of the creates and timed create → active.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { run } from '../shared/run.ts';
import { AbortError, waitFor } from '../shared/wait-for.ts';
import type { Instance, NodeInfo, Workload } from '../controller/api-types.ts';
import { REPO_ROOT } from '../singlevm/processes.ts';
import type { clusterPaths } from '../singlevm/cluster-files.ts';
import type { StepTiming } from '../singlevm/step-runner.ts';
import { burst, clusterClients, createInstances, Latencies, peakRss, subnetFor, type Clients } from './bench-load.ts';
import type { BenchPlan, BenchRow } from './bench-plan.ts';

export interface RealInstance { seconds: number; node: string }
export interface MixedResult {
  load_average: number[];
  setup_seconds: number;
  nodes_ready_seconds: number;
  first_real_instance_seconds: number;
  idle_real_instances: RealInstance[];
  create_seconds: number;
  all_active_seconds: number;
  total_seconds: number;
  shed_503: number;
  real_instances: RealInstance[];
  api: { requests: number; p50_ms: number; p95_ms: number; p99_ms: number; max_ms: number };
  api_by_request: Record<string, { requests: number; p50_ms: number; p95_ms: number; p99_ms: number }>;
  peak_rss_mb: Record<string, number>;
  control_plane_rss_mb: number;
  /** Instances on each real node at the end (the simulated workload's: none). */
  real_nodes: Record<string, number>;
}

/** A script of singlevm/ run as a user would (its own start-up included), failing with its output's end. */
export async function script(name: string, args: string[]): Promise<number> {
  const t0 = performance.now();
  const r = await run(join(REPO_ROOT, 'singlevm', name), args, { allowFailure: true, timeout: 1_800_000 });
  if (r.exitCode !== 0) throw new Error(`${name} ${args.join(' ')} failed (exit ${r.exitCode}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  return (performance.now() - t0) / 1000;
}

/** A copy of the cluster's container workload for the tenant, with these requirements. */
async function containerWorkload(c: Clients, requirements: Workload['requirements'], description: string): Promise<string> {
  const { workloads } = await c.user.call<{ workloads: Workload[] }>('GET', `/tenants/${c.tenant}/workloads`);
  const w = workloads.find((x) => x.vm_type === 'docker' && x.visibility === 'public' && !x.requirements?.real_node);
  if (!w) throw new Error('the cluster has no public container workload');
  const made = await c.user.call<Workload>('POST', `/tenants/${c.tenant}/workloads`, {
    description, vm_type: 'docker', image_name: w.image_name, defaults: w.defaults, requirements, config: w.config,
  });
  return made.id;
}

/** One real container: create → active (polled every 50 ms), and the node it runs on. */
async function realInstance(c: Clients, workload: string, lat: Latencies): Promise<RealInstance> {
  const t0 = performance.now();
  const [inst] = await createInstances(c, workload, 1, lat);
  const active = await waitFor(`real instance ${inst.id} to be active`, async () => {
    const i = await c.user.call<Instance>('GET', `/tenants/${c.tenant}/instances/${inst.id}`);
    if (i.state === 'exited' || i.state === 'missing' || i.state === 'hung') throw new AbortError(`real instance ${inst.id} is ${i.state}`);
    return i.state === 'active' && i;
  }, { timeoutMs: 300_000, intervalMs: 50 });
  return { seconds: (performance.now() - t0) / 1000, node: active.node_id ?? '?' };
}

export async function runMixedOnce(plan: BenchPlan, row: BenchRow & { real: NonNullable<BenchRow['real']> }, paths: ReturnType<typeof clusterPaths>): Promise<MixedResult> {
  const { name } = plan;
  const k = row.real.instances;
  const loadAverage = loadavg().map((l) => Number(l.toFixed(2)));
  const timingsFile = join(REPO_ROOT, 'bench-results', `setup-${name}.json`);
  console.log(`setting up cluster ${name}: ${row.real.nodes} real nodes + ${row.nodes} simulated (setup.sh)…`);
  const setupSeconds = await script('setup.sh', ['--name', name, '--nodes', String(row.real.nodes), '--sim-nodes', String(row.nodes),
    '--boot-delay-ms', String(plan.bootDelayMs), '--timings', timingsFile]);
  const { steps } = JSON.parse(await readFile(timingsFile, 'utf8')) as { steps: StepTiming[] };
  const nodesReady = steps.find((s) => /^start .*simulated/.test(s.name))?.seconds ?? NaN;

  const c = await clusterClients(paths.demoSh);
  try {
    const lat = new Latencies();
    const simWorkload = await containerWorkload(c, { simulated_node: true }, 'bench: container on a simulated node');
    const realWorkload = await containerWorkload(c, { real_node: true }, 'bench: container on a real node');
    await subnetFor(c, row.instances + 2 * k + 1);
    // The tenant's first instance starts its CNCI on a real node: not part of what is compared.
    const first = await realInstance(c, realWorkload, new Latencies());
    const idle: RealInstance[] = [];
    for (let i = 0; i < k; i++) idle.push(await realInstance(c, realWorkload, new Latencies()));

    console.log(`  set up in ${setupSeconds.toFixed(1)} s; real containers on the idle cluster: ${[first, ...idle].map((r) => r.seconds.toFixed(2)).join(', ')} s; the burst of ${row.instances}…`);
    const created: string[] = [];
    const during = Promise.all(Array.from({ length: k }, async (_, i) => {
      const at = Math.floor(((i + 1) * row.instances) / (k + 1));
      await waitFor(`${at} instances to be created`, () => created.length >= at, { timeoutMs: 600_000, intervalMs: 10 });
      return realInstance(c, realWorkload, lat);
    }));
    during.catch(() => {}); // a failed burst is what is reported; these then end with the process

    const b = await burst(c, lat, { workload: simWorkload, instances: row.instances, concurrency: plan.concurrency, activeTotal: 1 + 2 * k + row.instances, created });
    const realDuring = await during;
    const rss = await peakRss(paths.pids);

    // The simulated workload's instances are on simulated nodes only.
    const { nodes } = await c.admin.call<{ nodes: NodeInfo[] }>('GET', '/nodes');
    const realNodes: Record<string, number> = {};
    for (const n of nodes.filter((x) => x.kind === 'real')) {
      const { instances } = await c.admin.call<{ instances: Instance[] }>('GET', `/nodes/${n.id}/instances`);
      const strays = instances.filter((i) => i.workload_id === simWorkload);
      if (strays.length) throw new Error(`real node ${n.id} runs ${strays.length} of the simulated nodes' instances`);
      realNodes[n.id] = instances.length;
    }
    return {
      load_average: loadAverage, setup_seconds: setupSeconds, nodes_ready_seconds: nodesReady,
      first_real_instance_seconds: first.seconds, idle_real_instances: idle,
      create_seconds: b.create_seconds, all_active_seconds: b.all_active_seconds, total_seconds: nodesReady + b.all_active_seconds, shed_503: b.shed_503,
      real_instances: realDuring, ...lat.summary(),
      peak_rss_mb: rss, control_plane_rss_mb: (rss.identity ?? 0) + (rss.controller ?? 0) + (rss.scheduler ?? 0), real_nodes: realNodes,
    };
  } finally {
    await c.dispatcher.close();
  }
}
