// Benchmark of the control plane with simulated nodes (SPEC §9, §11): N nodes, M instances.
// Measures time until all nodes are ready and all instances active, creates per second, API
// latency p50/p99 under that load, and each daemon's peak RSS. Prints a table, writes JSON.
//   npm run bench -- --nodes 100 --instances 1000
import { parseArgs } from 'node:util';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { clusterAgent } from '../shared/tls-files.ts';
import { ControllerClient } from '../shared/controller-client.ts';
import { run } from '../shared/run.ts';
import { waitFor } from '../shared/wait-for.ts';
import { clusterPaths } from '../singlevm/cluster-files.ts';
import { pidFiles, REPO_ROOT } from '../singlevm/processes.ts';
import { readDemoSh } from '../singlevm/demo-sh.ts';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '100' },
    instances: { type: 'string', default: '1000' },
    name: { type: 'string', default: 'bench' },
    'boot-delay-ms': { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '4' },
    json: { type: 'string' },
  },
});
const nodes = Number(values.nodes);
const instances = Number(values.instances);
const name = values.name!;
const paths = clusterPaths(name);
const setupTimingsFile = join(REPO_ROOT, 'bench-results', `setup-${name}.json`);
const tsx = (script: string, ...args: string[]) => run(process.execPath, ['--import', 'tsx', join(REPO_ROOT, script), ...args], { cwd: REPO_ROOT });


const latencies: number[] = [];
const byKind = new Map<string, number[]>();
async function timed<T>(kind: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    const ms = performance.now() - t0;
    latencies.push(ms);
    if (!byKind.has(kind)) byKind.set(kind, []);
    byKind.get(kind)!.push(ms);
  }
}
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};

async function peakRss(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const { name: daemon, pid } of await pidFiles(paths.pids)) {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    if (hwm) out[daemon] = Math.round(Number(hwm[1]) / 1024);
  }
  return out;
}

await tsx('singlevm/cleanup.ts', '--name', name);
await mkdir(join(REPO_ROOT, 'bench-results'), { recursive: true });
const tSetup = performance.now();
await tsx('singlevm/setup.ts', '--simulate', '--nodes', String(nodes), '--name', name, '--boot-delay-ms', values['boot-delay-ms']!, '--timings', setupTimingsFile);
const setupSeconds = (performance.now() - tSetup) / 1000;
const setupTimings = JSON.parse(await readFile(setupTimingsFile, 'utf8')) as { steps: { name: string; seconds: number }[] };
const nodesReadySeconds = setupTimings.steps.find((s) => s.name.includes('simulated node'))?.seconds ?? NaN;

const env = await readDemoSh(paths.demoSh);
const dispatcher = clusterAgent(env.CIAO_CA_CERT_FILE, 16);
const user = new ControllerClient(env.CIAO_CONTROLLER, env.CIAO_IDENTITY, { username: env.CIAO_USERNAME, password: env.CIAO_PASSWORD, projectName: env.CIAO_TENANT_NAME }, dispatcher);
const admin = new ControllerClient(env.CIAO_CONTROLLER, env.CIAO_IDENTITY, { username: env.CIAO_ADMIN_USERNAME, password: env.CIAO_ADMIN_PASSWORD, projectName: env.CIAO_ADMIN_TENANT_NAME }, dispatcher);
const tenant = await user.tenantId();
await user.call('GET', `/tenants/${tenant}`);
if (instances > 250) await admin.call('PATCH', `/tenants/${tenant}`, { config: { subnet_bits: 16 } });
const { workloads } = await user.call<{ workloads: { id: string; vm_type: string }[] }>('GET', `/tenants/${tenant}/workloads`);
const workload = workloads.find((w) => w.vm_type === 'docker')!.id;

// Load: creates in batches of 100 from `concurrency` workers, while a prober reads an instance.
const t0 = performance.now();
let next = 0;
const created: string[] = [];
const worker = async () => {
  while (next < instances) {
    const count = Math.min(100, instances - next);
    next += count;
    const r = await timed('create 100 instances', () => user.call<{ instances: { id: string }[] }>('POST', `/tenants/${tenant}/instances`, { workload_id: workload, count }));
    created.push(...r.instances.map((i) => i.id));
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
await tsx('singlevm/cleanup.ts', '--name', name);

const result = {
  nodes, instances, boot_delay_ms: Number(values['boot-delay-ms']),
  setup_seconds: setupSeconds, nodes_ready_seconds: nodesReadySeconds,
  create_seconds: createSeconds, creates_per_second: instances / createSeconds,
  all_active_seconds: activeSeconds,
  api: { requests: latencies.length, p50_ms: pct(latencies, 50), p99_ms: pct(latencies, 99), max_ms: Math.max(...latencies) },
  api_by_request: Object.fromEntries([...byKind].map(([k, xs]) => [k, { requests: xs.length, p50_ms: pct(xs, 50), p99_ms: pct(xs, 99) }])),
  peak_rss_mb: rss, control_plane_rss_mb: (rss.identity ?? 0) + (rss.controller ?? 0) + (rss.scheduler ?? 0),
};
const rows: [string, string][] = [
  ['nodes / instances', `${nodes} / ${instances}`],
  ['setup (all nodes ready)', `${setupSeconds.toFixed(2)} s (nodes step ${nodesReadySeconds.toFixed(2)} s)`],
  ['creates accepted', `${createSeconds.toFixed(2)} s (${result.creates_per_second.toFixed(0)}/s)`],
  ['all instances active', `${activeSeconds.toFixed(2)} s after the first create`],
  ['API latency under load', `p50 ${result.api.p50_ms.toFixed(1)} ms, p99 ${result.api.p99_ms.toFixed(1)} ms (${latencies.length} requests)`],
  ...[...byKind].map(([k, xs]): [string, string] => [`  ${k}`, `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms (${xs.length})`]),
  ...Object.entries(rss).map(([d, mb]): [string, string] => [`peak RSS ${d}`, `${mb} MB`]),
  ['control plane RSS', `${result.control_plane_rss_mb} MB (identity + controller + scheduler)`],
];
const width = Math.max(...rows.map((r) => r[0].length));
console.log(rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n'));
const out = values.json ?? join(REPO_ROOT, 'bench-results', `sim-${nodes}-${instances}.json`);
await mkdir(join(out, '..'), { recursive: true });
await writeFile(out, JSON.stringify(result, null, 2) + '\n');
console.log(`written ${out}`);
process.exit(0);
