// Benchmark of the control plane with simulated nodes (SPEC §9, §11; issue 15's scale rows): N
// nodes, M instances. Measures the time until all nodes are ready and until all instances are
// active, API latency p50/p95/p99 under that load, and each daemon's peak RSS. Creates honour a
// busy controller's 503 + Retry-After (docs/api.md "Busy"). Prints a table, writes JSON.
//   npm run bench -- --nodes 100 --instances 1000
//   npm run bench -- --preset 10k --runs 3      5 000 nodes + 10 000 instances, three times
//   npm run bench -- --preset 100k              5 000 nodes + 100 000 instances
//   npm run bench -- --preset all               both rows
import { parseArgs } from 'node:util';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { clusterAgent } from '../shared/tls-files.ts';
import { ControllerClient, ControllerError } from '../shared/controller-client.ts';
import { run } from '../shared/run.ts';
import { waitFor } from '../shared/wait-for.ts';
import { clusterPaths } from '../singlevm/cluster-files.ts';
import { pidFiles, REPO_ROOT } from '../singlevm/processes.ts';
import { readDemoSh } from '../singlevm/demo-sh.ts';

const USAGE = `usage: npm run bench -- [--nodes N --instances M | --preset 10k|100k|all] [--runs R] [--name NAME]
                     [--boot-delay-ms MS] [--concurrency C] [--json FILE]
  --preset     issue 15's rows: 10k = 5 000 nodes + 10 000 instances, 100k = 5 000 + 100 000, all = both
  --runs       runs per row (each a fresh cluster); the table gives each figure's median
  --json       where the JSON goes (default bench-results/sim-<nodes>-<instances>.json, or sim-<preset>.json)
Set CIAO_DAEMON_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=DIR") to profile the daemons.`;

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '100' },
    instances: { type: 'string', default: '1000' },
    preset: { type: 'string' },
    runs: { type: 'string', default: '1' },
    name: { type: 'string', default: 'bench' },
    'boot-delay-ms': { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '4' },
    json: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

/** Issue 15's targets per row: seconds to all active (nodes + instances), API p99, control plane MB. */
const PRESETS: Record<string, { nodes: number; instances: number; target: { totalSeconds: number; p99Ms: number; controlPlaneMB: number } }[]> = {
  '10k': [{ nodes: 5000, instances: 10_000, target: { totalSeconds: 10, p99Ms: 100, controlPlaneMB: 500 } }],
  '100k': [{ nodes: 5000, instances: 100_000, target: { totalSeconds: 30, p99Ms: 100, controlPlaneMB: 1024 } }],
};
PRESETS.all = [...PRESETS['10k'], ...PRESETS['100k']];
const rows = values.preset ? PRESETS[values.preset] : [{ nodes: Number(values.nodes), instances: Number(values.instances), target: undefined }];
if (!rows) {
  console.error(`--preset must be one of ${Object.keys(PRESETS).join(', ')}\n${USAGE}`);
  process.exit(2);
}
const runs = Number(values.runs);
const name = values.name!;
const paths = clusterPaths(name);
const tsx = (script: string, ...args: string[]) => run(process.execPath, ['--import', 'tsx', join(REPO_ROOT, script), ...args], { cwd: REPO_ROOT });

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};
const median = (xs: number[]) => pct(xs, 50);

async function peakRss(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const { name: daemon, pid } of await pidFiles(paths.pids)) {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    if (hwm) out[daemon] = Math.round(Number(hwm[1]) / 1024);
  }
  return out;
}

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
}

async function runOnce(nodes: number, instances: number): Promise<RunResult> {
  const latencies: number[] = [];
  const byKind = new Map<string, number[]>();
  const timed = async <T>(kind: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      const ms = performance.now() - t0;
      latencies.push(ms);
      if (!byKind.has(kind)) byKind.set(kind, []);
      byKind.get(kind)!.push(ms);
    }
  };
  const loadAverage = loadavg().map((l) => Number(l.toFixed(2)));
  const setupTimingsFile = join(REPO_ROOT, 'bench-results', `setup-${name}.json`);
  await tsx('singlevm/cleanup.ts', '--name', name);
  await tsx('singlevm/setup.ts', '--simulate', '--nodes', String(nodes), '--name', name, '--boot-delay-ms', values['boot-delay-ms']!, '--timings', setupTimingsFile);
  const setupTimings = JSON.parse(await readFile(setupTimingsFile, 'utf8')) as { steps: { name: string; seconds: number }[] };
  const nodesReadySeconds = setupTimings.steps.find((s) => s.name.includes('simulated node'))?.seconds ?? NaN;

  const env = await readDemoSh(paths.demoSh);
  const dispatcher = clusterAgent(env.CIAO_CA_CERT_FILE, 16);
  const user = new ControllerClient(env.CIAO_CONTROLLER, env.CIAO_IDENTITY, { username: env.CIAO_USERNAME, password: env.CIAO_PASSWORD, projectName: env.CIAO_TENANT_NAME }, dispatcher);
  const admin = new ControllerClient(env.CIAO_CONTROLLER, env.CIAO_IDENTITY, { username: env.CIAO_ADMIN_USERNAME, password: env.CIAO_ADMIN_PASSWORD, projectName: env.CIAO_ADMIN_TENANT_NAME }, dispatcher);
  const tenant = await user.tenantId();
  await user.call('GET', `/tenants/${tenant}`);
  // A subnet that holds every instance, its gateway (the CNCI) and its broadcast address.
  const subnetBits = Math.min(24, 32 - Math.ceil(Math.log2(instances + 4)));
  if (subnetBits < 24) await admin.call('PATCH', `/tenants/${tenant}`, { config: { subnet_bits: subnetBits } });
  const { workloads } = await user.call<{ workloads: { id: string; vm_type: string }[] }>('GET', `/tenants/${tenant}/workloads`);
  const workload = workloads.find((w) => w.vm_type === 'docker')!.id;

  // Load: creates in batches of 100 from `concurrency` workers, while a prober reads an instance.
  const t0 = performance.now();
  let next = 0;
  let shed = 0;
  const created: string[] = [];
  const createBatch = async (count: number): Promise<{ id: string }[]> => {
    for (;;) {
      try {
        return (await timed('create 100 instances', () => user.call<{ instances: { id: string }[] }>('POST', `/tenants/${tenant}/instances`, { workload_id: workload, count }))).instances;
      } catch (err) {
        if (!(err instanceof ControllerError) || err.status !== 503 || err.retryAfterSeconds === undefined) throw err;
        shed++;
        await delay(err.retryAfterSeconds * 1000);
      }
    }
  };
  const worker = async () => {
    while (next < instances) {
      const count = Math.min(100, instances - next);
      next += count;
      created.push(...(await createBatch(count)).map((i) => i.id));
    }
  };
  let loaded = true;
  const prober = (async () => {
    while (loaded) {
      if (created.length) await timed('show instance', () => user.call('GET', `/tenants/${tenant}/instances/${created[created.length >> 1]}`));
      await timed('cluster status', () => admin.call('GET', '/cluster/status'));
    }
  })();
  await Promise.all(Array.from({ length: Number(values.concurrency) }, worker));
  const createSeconds = (performance.now() - t0) / 1000;
  await waitFor(`${instances} instances to be active`, async () => {
    const s = await timed('cluster status', () => admin.call<{ instances: { active: number } }>('GET', '/cluster/status'));
    return s.instances.active >= instances;
  }, { timeoutMs: 120_000 + instances * 20, intervalMs: 200 });
  const activeSeconds = (performance.now() - t0) / 1000;
  loaded = false;
  await prober;
  const rss = await peakRss();
  await dispatcher.close();
  await tsx('singlevm/cleanup.ts', '--name', name);
  const stats = (xs: number[]) => ({ requests: xs.length, p50_ms: pct(xs, 50), p95_ms: pct(xs, 95), p99_ms: pct(xs, 99) });
  return {
    load_average: loadAverage,
    nodes_ready_seconds: nodesReadySeconds, create_seconds: createSeconds, all_active_seconds: activeSeconds,
    total_seconds: nodesReadySeconds + activeSeconds, shed_503: shed,
    api: { ...stats(latencies), max_ms: Math.max(...latencies) },
    api_by_request: Object.fromEntries([...byKind].map(([k, xs]) => [k, stats(xs)])),
    peak_rss_mb: rss, control_plane_rss_mb: (rss.identity ?? 0) + (rss.controller ?? 0) + (rss.scheduler ?? 0),
  };
}

await mkdir(join(REPO_ROOT, 'bench-results'), { recursive: true });
const report: object[] = [];
for (const row of rows) {
  const results: RunResult[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await runOnce(row.nodes, row.instances);
    results.push(r);
    console.log(`run ${i + 1}/${runs} (${row.nodes} nodes, ${row.instances} instances, load ${r.load_average.join(' ')}): nodes ${r.nodes_ready_seconds.toFixed(2)} s + instances ${r.all_active_seconds.toFixed(2)} s, p99 ${r.api.p99_ms.toFixed(1)} ms, control plane ${r.control_plane_rss_mb} MB`);
  }
  const m = (f: (r: RunResult) => number) => median(results.map(f));
  const all = (f: (r: RunResult) => number, digits = 2) => results.length > 1 ? ` (runs: ${results.map((r) => f(r).toFixed(digits)).join(', ')})` : '';
  const target = row.target;
  const lines: [string, string, string][] = [
    [`${row.nodes} sim nodes + ${row.instances} instances`, `median of ${runs} run${runs > 1 ? 's' : ''}`, 'target'],
    ['nodes ready', `${m((r) => r.nodes_ready_seconds).toFixed(2)} s${all((r) => r.nodes_ready_seconds)}`, ''],
    ['instances all active', `${m((r) => r.all_active_seconds).toFixed(2)} s${all((r) => r.all_active_seconds)}`, ''],
    ['  of which creates accepted', `${m((r) => r.create_seconds).toFixed(2)} s, ${m((r) => r.shed_503)} shed with 503`, ''],
    ['nodes + instances', `${m((r) => r.total_seconds).toFixed(2)} s${all((r) => r.total_seconds)}`, target ? `≤ ${target.totalSeconds} s` : ''],
    ['API p50 / p95 / p99', `${m((r) => r.api.p50_ms).toFixed(1)} / ${m((r) => r.api.p95_ms).toFixed(1)} / ${m((r) => r.api.p99_ms).toFixed(1)} ms${all((r) => r.api.p99_ms, 1)}`, target ? `p99 ≤ ${target.p99Ms} ms` : ''],
    ...Object.keys(results[0].api_by_request).map((k): [string, string, string] => [`  ${k}`, `${m((r) => r.api_by_request[k]?.p50_ms ?? 0).toFixed(1)} / ${m((r) => r.api_by_request[k]?.p95_ms ?? 0).toFixed(1)} / ${m((r) => r.api_by_request[k]?.p99_ms ?? 0).toFixed(1)} ms (${m((r) => r.api_by_request[k]?.requests ?? 0)} requests)`, '']),
    ...Object.keys(results[0].peak_rss_mb).sort().map((d): [string, string, string] => [`peak RSS ${d}`, `${m((r) => r.peak_rss_mb[d] ?? 0)} MB`, '']),
    ['control plane (identity + controller + scheduler)', `${m((r) => r.control_plane_rss_mb)} MB${all((r) => r.control_plane_rss_mb, 0)}`, target ? `≤ ${target.controlPlaneMB} MB` : ''],
  ];
  const w0 = Math.max(...lines.map((l) => l[0].length));
  const w1 = Math.max(...lines.map((l) => l[1].length));
  console.log(lines.map(([k, v, t]) => `${k.padEnd(w0)}  ${v.padEnd(w1)}  ${t}`.trimEnd()).join('\n'));
  report.push({ nodes: row.nodes, instances: row.instances, boot_delay_ms: Number(values['boot-delay-ms']), target, runs: results });
}
const out = values.json ?? join(REPO_ROOT, 'bench-results', values.preset ? `sim-${values.preset}.json` : `sim-${rows[0].nodes}-${rows[0].instances}.json`);
await mkdir(join(out, '..'), { recursive: true });
await writeFile(out, JSON.stringify(report.length === 1 ? report[0] : report, null, 2) + '\n');
console.log(`written ${out}`);
process.exit(0);
