// What `npm run bench` is asked to do (scripts/bench-sim.ts): its options checked, its rows and
// the JSON file named. A pure module, so that a bad combination is a usage error before any cluster.
import { parseArgs } from 'node:util';
import { validClusterName } from '../singlevm/cluster-files.ts';

export const USAGE = `usage: npm run bench -- [--nodes N --instances M | --preset 10k|100k|all] [--runs R] [--name NAME]
                     [--boot-delay-ms MS] [--concurrency C] [--json FILE]
       npm run bench -- --real-nodes R --sim-nodes N [--instances M] [--real-instances K] [--runs R] [--name NAME] …

  (default)       a simulated cluster (setup.sh --simulate --nodes N; no root): M instances created
                  in batches of 100, timed until all are active, with API latency and each daemon's
                  peak RSS (default 100 nodes, 1000 instances)
  --preset        issue 15's rows: 10k = 5 000 nodes + 10 000 instances, 100k = 5 000 + 100 000, all = both
  --real-nodes R  a mixed cluster instead (setup.sh --nodes R --sim-nodes N; needs root): the M
                  instances come from a workload with requirements.simulated_node (the simulated
                  nodes take them, no real node runs them), and during their burst K real
                  containers (requirements.real_node) are created and timed create → active
  --sim-nodes N   the simulated nodes beside the R real ones (with --real-nodes only)
  --real-instances K
                  real containers created during the burst (default 2 per real node); as many are
                  first timed on the idle cluster, for comparison
  --runs          runs per row (each a fresh cluster); the table gives each figure's median
  --concurrency   create requests in flight (default 4)
  --name          the cluster's name (default bench); cleaned up before and after, also on failure
  --json          where the JSON goes (default bench-results/sim-<nodes>-<instances>.json,
                  sim-<preset>.json, or mixed-<R>-<N>-<M>.json)
Set CIAO_DAEMON_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=DIR") to profile the daemons.`;

export interface Target { totalSeconds: number; p99Ms: number; controlPlaneMB: number }
export interface BenchRow {
  /** Simulated nodes (a simulated cluster's, or those beside the real ones). */
  nodes: number;
  instances: number;
  /** A mixed cluster: its real nodes and the real containers timed during the burst. */
  real?: { nodes: number; instances: number };
  target?: Target;
}
export interface BenchPlan {
  rows: BenchRow[];
  runs: number;
  name: string;
  bootDelayMs: number;
  concurrency: number;
  /** Relative paths are the repository's. */
  json: string;
}

/** Issue 15's targets per row: seconds to all active (nodes + instances), API p99, control plane MB. */
export const PRESETS: Record<string, BenchRow[]> = {
  '10k': [{ nodes: 5000, instances: 10_000, target: { totalSeconds: 10, p99Ms: 100, controlPlaneMB: 500 } }],
  '100k': [{ nodes: 5000, instances: 100_000, target: { totalSeconds: 30, p99Ms: 100, controlPlaneMB: 1024 } }],
};
PRESETS.all = [...PRESETS['10k'], ...PRESETS['100k']];

/** As setup.sh allows: real nodes are legs .10–.25 of the cluster network. */
const MAX_REAL_NODES = 16;

export type ParsedArgs = { help: true } | { error: string } | { plan: BenchPlan };

/** The plan for these arguments, `help`, or what is wrong with them. */
export function parseBenchArgs(args: string[]): ParsedArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args, strict: true, allowPositionals: false,
      options: {
        nodes: { type: 'string' }, instances: { type: 'string' }, preset: { type: 'string' },
        'real-nodes': { type: 'string' }, 'sim-nodes': { type: 'string' }, 'real-instances': { type: 'string' },
        runs: { type: 'string', default: '1' }, name: { type: 'string', default: 'bench' },
        'boot-delay-ms': { type: 'string', default: '100' }, concurrency: { type: 'string', default: '4' },
        json: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0] };
  }
  if (values.help) return { help: true };
  const problems: string[] = [];
  /** A whole number in [min, max], or undefined when not given; a bad one is noted. */
  const count = (flag: keyof typeof values, min: number, max: number): number | undefined => {
    const v = values[flag];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
      problems.push(`--${flag} must be a whole number from ${min} to ${max}`);
      return undefined;
    }
    return Number(v);
  };
  const nodes = count('nodes', 1, 20_000);
  const instances = count('instances', 1, 200_000);
  const realNodes = count('real-nodes', 1, MAX_REAL_NODES);
  const simNodes = count('sim-nodes', 1, 20_000);
  const realInstances = count('real-instances', 1, 100);
  const runs = count('runs', 1, 100);
  const bootDelayMs = count('boot-delay-ms', 0, 600_000);
  const concurrency = count('concurrency', 1, 64);
  if (problems.length) return { error: problems[0] };
  if (!validClusterName(values.name!)) return { error: `--name ${JSON.stringify(values.name)} must be lowercase letters, digits or '-', at most 16, starting with a letter` };

  let rows: BenchRow[];
  let json: string;
  if (values['real-nodes'] !== undefined) {
    if (values.preset !== undefined) return { error: '--preset is for a simulated cluster (issue 15\'s rows); with --real-nodes give --sim-nodes and --instances' };
    if (values.nodes !== undefined) return { error: '--nodes is the simulated cluster\'s; with --real-nodes the simulated nodes beside the real ones are --sim-nodes' };
    if (simNodes === undefined) return { error: '--real-nodes needs --sim-nodes N: the simulated nodes that take the instances' };
    const m = instances ?? 1000;
    rows = [{ nodes: simNodes, instances: m, real: { nodes: realNodes!, instances: realInstances ?? 2 * realNodes! } }];
    json = `bench-results/mixed-${realNodes}-${simNodes}-${m}.json`;
  } else {
    if (values['sim-nodes'] !== undefined) return { error: '--sim-nodes goes with --real-nodes (simulated nodes beside real ones); a simulated cluster takes --nodes' };
    if (values['real-instances'] !== undefined) return { error: '--real-instances goes with --real-nodes' };
    if (values.preset !== undefined) {
      if (!PRESETS[values.preset]) return { error: `--preset must be one of ${Object.keys(PRESETS).join(', ')}` };
      if (nodes !== undefined || instances !== undefined) return { error: '--preset sets the nodes and instances: give either --preset or --nodes and --instances' };
      rows = PRESETS[values.preset];
      json = `bench-results/sim-${values.preset}.json`;
    } else {
      rows = [{ nodes: nodes ?? 100, instances: instances ?? 1000 }];
      json = `bench-results/sim-${rows[0].nodes}-${rows[0].instances}.json`;
    }
  }
  return { plan: { rows, runs: runs!, name: values.name!, bootDelayMs: bootDelayMs!, concurrency: concurrency!, json: values.json ?? json } };
}
