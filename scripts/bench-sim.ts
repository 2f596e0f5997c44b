// Benchmark of the control plane with simulated nodes (SPEC §9, §11; issue 15's scale rows): N
// nodes, M instances. Measures the time until all nodes are ready and until all instances are
// active, API latency p50/p95/p99 under that load, and each daemon's peak RSS. Creates honour a
// busy controller's 503 + Retry-After (docs/api.md "Busy"). Prints a table, writes JSON.
// With --real-nodes, the same on a mixed cluster (scripts/bench-mixed.ts; issue 14 item 7).
//   npm run bench -- --nodes 100 --instances 1000
//   npm run bench -- --preset 10k --runs 3      5 000 nodes + 10 000 instances, three times
//   npm run bench -- --preset 100k              5 000 nodes + 100 000 instances
//   npm run bench -- --preset all               both rows
//   npm run bench -- --real-nodes 2 --sim-nodes 5000 --instances 10000   (root)
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadavg } from 'node:os';
import { run } from '../shared/run.ts';
import { clusterPaths } from '../singlevm/cluster-files.ts';
import { REPO_ROOT } from '../singlevm/processes.ts';
import { burst, clusterClients, cpuSeconds, Latencies, median, peakRss, subnetFor } from './bench-load.ts';
import { parseBenchArgs, USAGE, type BenchRow } from './bench-plan.ts';
import { runMixedOnce, script, type MixedResult, type RealInstance } from './bench-mixed.ts';

const parsed = parseBenchArgs(process.argv.slice(2));
if ('help' in parsed) {
  console.log(USAGE);
  process.exit(0);
}
if ('error' in parsed) {
  console.error(`bench: ${parsed.error}\n${USAGE.split('\n')[0]}`);
  process.exit(2);
}
const plan = parsed.plan;
if (plan.rows.some((r) => r.real) && process.getuid?.() !== 0) {
  console.error('bench: --real-nodes sets up a real cluster (setup.sh --nodes R --sim-nodes N): run it as root');
  process.exit(2);
}
const { name, runs } = plan;
const paths = clusterPaths(name);
const tsx = (script: string, ...args: string[]) => run(process.execPath, ['--import', 'tsx', join(REPO_ROOT, script), ...args], { cwd: REPO_ROOT });

interface RunResult {
  load_average: number[];
  nodes_ready_seconds: number;
  create_seconds: number;
  all_active_seconds: number;
  total_seconds: number;
  shed_503: number;
  api: { requests: number; p50_ms: number; p95_ms: number; p99_ms: number; max_ms: number };
  api_by_request: Record<string, { requests: number; p50_ms: number; p95_ms: number; p99_ms: number }>;
  peak_rss_mb: Record<string, number>;
  control_plane_rss_mb: number;
  /** Each daemon's CPU time from its start (the nodes' join included) to the end of the burst. */
  cpu_seconds?: Record<string, number>;
}

async function runOnce(nodes: number, instances: number): Promise<RunResult> {
  const loadAverage = loadavg().map((l) => Number(l.toFixed(2)));
  const setupTimingsFile = join(REPO_ROOT, 'bench-results', `setup-${name}.json`);
  await tsx('singlevm/setup.ts', '--simulate', '--nodes', String(nodes), '--name', name, '--boot-delay-ms', String(plan.bootDelayMs), '--timings', setupTimingsFile);
  const setupTimings = JSON.parse(await readFile(setupTimingsFile, 'utf8')) as { steps: { name: string; seconds: number }[] };
  const nodesReadySeconds = setupTimings.steps.find((s) => s.name.includes('simulated node'))?.seconds ?? NaN;

  const c = await clusterClients(paths.demoSh);
  const lat = new Latencies();
  try {
    await subnetFor(c, instances);
    const { workloads } = await c.user.call<{ workloads: { id: string; vm_type: string }[] }>('GET', `/tenants/${c.tenant}/workloads`);
    const b = await burst(c, lat, { workload: workloads.find((w) => w.vm_type === 'docker')!.id, instances, concurrency: plan.concurrency, activeTotal: instances });
    const rss = await peakRss(paths.pids);
    const cpu = await cpuSeconds(paths.pids);
    return {
      load_average: loadAverage,
      nodes_ready_seconds: nodesReadySeconds, create_seconds: b.create_seconds, all_active_seconds: b.all_active_seconds,
      total_seconds: nodesReadySeconds + b.all_active_seconds, shed_503: b.shed_503, ...lat.summary(),
      peak_rss_mb: rss, control_plane_rss_mb: controlPlaneRss(rss), cpu_seconds: cpu,
    };
  } finally {
    await c.dispatcher.close();
  }
}

/** The cluster removed: before a run, after it, and when it failed (a real one with the scripts a user runs). */
const cleanup = (mixed: boolean) => (mixed ? script('cleanup.sh', ['--name', name]) : tsx('singlevm/cleanup.ts', '--name', name));
let mixedRun = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.error(`bench: ${sig}: cleaning up cluster ${name}`);
    void cleanup(mixedRun).finally(() => process.exit(130));
  });
}

/** A row's run: a fresh cluster, cleaned up after (also when the run fails). */
async function runRow(row: BenchRow): Promise<RunResult | MixedResult> {
  mixedRun = !!row.real;
  await cleanup(mixedRun);
  try {
    return row.real ? await runMixedOnce(plan, { ...row, real: row.real }, paths) : await runOnce(row.nodes, row.instances);
  } finally {
    await cleanup(mixedRun);
  }
}

const seconds = (xs: RealInstance[]) => {
  const s = xs.map((x) => x.seconds);
  const on = new Map<string, number>();
  for (const x of xs) on.set(x.node, (on.get(x.node) ?? 0) + 1);
  return `p50 ${median(s).toFixed(2)} s, max ${Math.max(...s).toFixed(2)} s, on ${[...on].sort().map(([n, k]) => `${n} ×${k}`).join(', ')}`;
};

await mkdir(join(REPO_ROOT, 'bench-results'), { recursive: true });
const report: object[] = [];
try {
  for (const row of plan.rows) {
    const results: (RunResult | MixedResult)[] = [];
    for (let i = 0; i < runs; i++) {
      const r = await runRow(row);
      results.push(r);
      console.log(`run ${i + 1}/${runs} (${row.real ? `${row.real.nodes} real + ` : ''}${row.nodes} nodes, ${row.instances} instances, load ${r.load_average.join(' ')}): nodes ${r.nodes_ready_seconds.toFixed(2)} s + instances ${r.all_active_seconds.toFixed(2)} s, p99 ${r.api.p99_ms.toFixed(1)} ms, control plane ${r.control_plane_rss_mb} MB`);
    }
    const m = (f: (r: RunResult) => number) => median(results.map(f));
    const all = (f: (r: RunResult) => number, digits = 2) => results.length > 1 ? ` (runs: ${results.map((r) => f(r).toFixed(digits)).join(', ')})` : '';
    const mixed = results as MixedResult[];
    const mm = (f: (r: MixedResult) => number) => median(mixed.map(f));
    const target = row.target;
    const lines: [string, string, string][] = [
      [`${row.real ? `${row.real.nodes} real + ` : ''}${row.nodes} sim nodes + ${row.instances} instances`, `median of ${runs} run${runs > 1 ? 's' : ''}`, 'target'],
      ...(row.real ? [['setup (setup.sh, whole)', `${mm((r) => r.setup_seconds).toFixed(2)} s`, ''] as [string, string, string]] : []),
      ['nodes ready', `${m((r) => r.nodes_ready_seconds).toFixed(2)} s${all((r) => r.nodes_ready_seconds)}`, ''],
      ['instances all active', `${m((r) => r.all_active_seconds).toFixed(2)} s${all((r) => r.all_active_seconds)}`, ''],
      ['  of which creates accepted', `${m((r) => r.create_seconds).toFixed(2)} s, ${m((r) => r.shed_503)} shed with 503`, ''],
      ['nodes + instances', `${m((r) => r.total_seconds).toFixed(2)} s${all((r) => r.total_seconds)}`, target ? `≤ ${target.totalSeconds} s` : ''],
      ...(row.real ? [
        ['real container create → active, idle', `${seconds(mixed.flatMap((r) => r.idle_real_instances))} (${row.real.instances} per run; the first, which starts the CNCI, ${mm((r) => r.first_real_instance_seconds).toFixed(2)} s)`, ''],
        ['real container create → active, in the burst', `${seconds(mixed.flatMap((r) => r.real_instances))} (${row.real.instances} per run)`, ''],
        ['instances on each real node at the end', `${Object.entries(mixed[0].real_nodes).map(([id, n]) => `${id} ${n}`).join(', ')} (with the CNCI; none of the simulated workload's)`, ''],
      ] as [string, string, string][] : []),
      ['API p50 / p95 / p99', `${m((r) => r.api.p50_ms).toFixed(1)} / ${m((r) => r.api.p95_ms).toFixed(1)} / ${m((r) => r.api.p99_ms).toFixed(1)} ms${all((r) => r.api.p99_ms, 1)}`, target ? `p99 ≤ ${target.p99Ms} ms` : ''],
      ...Object.keys(results[0].api_by_request).map((k): [string, string, string] => [`  ${k}`, `${m((r) => r.api_by_request[k]?.p50_ms ?? 0).toFixed(1)} / ${m((r) => r.api_by_request[k]?.p95_ms ?? 0).toFixed(1)} / ${m((r) => r.api_by_request[k]?.p99_ms ?? 0).toFixed(1)} ms (${m((r) => r.api_by_request[k]?.requests ?? 0)} requests)`, '']),
      ...Object.keys(results[0].peak_rss_mb).sort().map((d): [string, string, string] => [`peak RSS ${d}`, `${m((r) => r.peak_rss_mb[d] ?? 0)} MB`, '']),
      ...Object.keys((results[0] as RunResult).cpu_seconds ?? {}).sort().map((d): [string, string, string] => [`CPU time ${d}`, `${m((r) => r.cpu_seconds?.[d] ?? 0).toFixed(1)} s${all((r) => r.cpu_seconds?.[d] ?? 0, 1)}`, '']),
      ['control plane (identity, the controller, their keepers, the scheduler)', `${m((r) => r.control_plane_rss_mb)} MB${all((r) => r.control_plane_rss_mb, 0)}`, target ? `≤ ${target.controlPlaneMB} MB` : ''],
    ];
    const w0 = Math.max(...lines.map((l) => l[0].length));
    const w1 = Math.max(...lines.map((l) => l[1].length));
    console.log(lines.map(([k, v, t]) => `${k.padEnd(w0)}  ${v.padEnd(w1)}  ${t}`.trimEnd()).join('\n'));
    report.push({ nodes: row.nodes, instances: row.instances, ...(row.real ? { real_nodes: row.real.nodes, real_instances: row.real.instances } : {}), boot_delay_ms: plan.bootDelayMs, target, runs: results });
  }
} catch (err) {
  console.error(`bench failed: ${(err as Error).message}`);
  process.exit(1);
}
const out = resolve(REPO_ROOT, plan.json);
await mkdir(join(out, '..'), { recursive: true });
await writeFile(out, JSON.stringify(report.length === 1 ? report[0] : report, null, 2) + '\n');
console.log(`written ${out}`);
process.exit(0);

/** The control plane's memory: identity, the controller, their keepers (singlevm/keeper.sh), the scheduler. */
function controlPlaneRss(rss: Record<string, number>): number {
  return ['identity', 'identity-keeper', 'controller', 'controller-keeper', 'scheduler'].reduce((sum, d) => sum + (rss[d] ?? 0), 0);
}
