// What `npm run bench:singlevm` is asked to do (scripts/bench-singlevm.ts): its options checked, the
// quick rows and the heavy ones (issue 15's table, scripts/bench-rows.ts). A pure module, so that a
// bad combination is a usage error before any cluster.
import { parseArgs } from 'node:util';
import { validClusterName } from '../singlevm/cluster-files.ts';

export const USAGE = `usage: npm run bench:singlevm -- [--name NAME] [--cold] [--runs N] [--nodes N [--network-nodes K]] [--json FILE]
                     [--bat] [--scale 10k|100k|all] [--ccloudvm] [--all] [--heavy-runs K] [--cold-start FILE]
       npm run bench:singlevm -- --containers N | --vms N [--name NAME] [--json FILE] [heavy rows' flags]

Times the real cluster (needs root) and prints issue 15's table: every row in the issue's order
with p50 and p95 over its runs, its target, met or missed, and the machine's load (1-minute
average, /proc/loadavg) as its first run started and its last ended; a row not asked for says the
flag that measures it. Writes JSON (default bench-results/singlevm.json): every figure with its
samples and their load, and each run's details.
By default (quick rows), per run a warm setup, verify, one VM and one container created and timed,
cleanup — each script's wall clock from outside (its start-up included) and its steps with their
critical path (--timings).
  --runs N          warm runs (default 3; 0: no quick rows, only the heavy rows asked for)
  --nodes N         a cluster of N real nodes (setup.sh --nodes N; default 1), with
  --network-nodes K K of them network nodes (setup.sh --network-nodes K)
  --cold            first a setup with an empty image cache (printed, not one of the issue's rows)
  --containers N    only the container row: one setup, then N containers created one after another
                    (each deleted before the next)
  --vms N           only the VM row, the same way: VM create → SSH answers (restored from a snapshot
                    template once it is made: the first VMs cold-boot while it is; CIAO_VM_SNAPSHOTS=0: all cold)
  --name NAME       the cluster's name (default bench); it is cleaned up before and after; the heavy
                    rows use it too (the sim clusters, the ccloudvm VM)
Heavy rows, one after another, each run --heavy-runs K times (default: --runs, at least 1):
  --bat             full BAT against the real cluster: one setup, then ./bat/run.sh --name NAME K
                    times, timed from outside; a failed test or a leak fails the row
  --scale P         npm run bench -- --preset P (10k: 5 000 sim nodes + 10 000 instances; 100k: + 100 000;
                    all: both), a fresh simulated cluster each run: nodes ready + all active, API p99,
                    control plane peak RSS, read from its JSON
  --ccloudvm        ./singlevm/ccloudvm image (not timed), then per run: create → ready, connect -- true
                    (5 times), setup inside (connect -- ./singlevm/setup.sh), delete
  --all             --bat --scale all --ccloudvm
  --cold-start FILE the cold-start row (fresh machine → verify passed) from the JSON of
                    scripts/cold-start.sh, which runs the README's first command in fresh containers
                    (docs/cold-start.md); without it the row says "not measured"

A container counts as networked when its tenant's CNCI namespace (its gateway's side) gets an answer
to a ping of its address; a VM when SSH from there answers with its hostname.`;

export interface SinglevmPlan {
  name: string;
  /** Quick runs: setup, verify, VM, container, cleanup (0: none). */
  runs: number;
  cold: boolean;
  /** Only the container row, or only the VM row, N instances one after another. */
  containers?: number;
  vms?: number;
  /** setup.sh's arguments for every setup of the benchmark: the cluster's name and its nodes. */
  setupArgs: string[];
  bat: boolean;
  presets: ('10k' | '100k')[];
  ccloudvm: boolean;
  heavyRuns: number;
  json?: string;
  /** scripts/cold-start.sh's JSON, for the cold-start row. */
  coldStart?: string;
}

export type ParsedSinglevmArgs = { help: true } | { error: string } | { plan: SinglevmPlan };

/** The plan for these arguments, `help`, or what is wrong with them. */
export function parseSinglevmArgs(args: string[]): ParsedSinglevmArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args, strict: true, allowPositionals: false,
      options: {
        name: { type: 'string', default: 'bench' }, cold: { type: 'boolean', default: false }, runs: { type: 'string', default: '3' },
        containers: { type: 'string' }, vms: { type: 'string' }, nodes: { type: 'string', default: '1' }, 'network-nodes': { type: 'string' },
        json: { type: 'string' }, bat: { type: 'boolean', default: false }, scale: { type: 'string' }, ccloudvm: { type: 'boolean', default: false },
        all: { type: 'boolean', default: false }, 'heavy-runs': { type: 'string' }, 'cold-start': { type: 'string' }, help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0] };
  }
  if (values.help) return { help: true };
  /** A whole number ≥ min, or undefined when not given; NaN when bad. */
  const count = (v: string | undefined, min: number) => (v === undefined ? undefined : /^\d+$/.test(v) && Number(v) >= min ? Number(v) : NaN);
  const runs = count(values.runs, 0)!;
  const containers = count(values.containers, 1);
  const vms = count(values.vms, 1);
  const nodes = count(values.nodes, 1)!;
  const networkNodes = count(values['network-nodes'], 0);
  if (Number.isNaN(runs)) return { error: '--runs must be a whole number' };
  if (Number.isNaN(containers)) return { error: '--containers must be a whole number above 0' };
  if (Number.isNaN(vms)) return { error: '--vms must be a whole number above 0' };
  if (containers !== undefined && vms !== undefined) return { error: 'give --containers N or --vms N, not both' };
  if (Number.isNaN(nodes)) return { error: '--nodes must be a whole number above 0' };
  if (Number.isNaN(networkNodes)) return { error: '--network-nodes must be a whole number' };
  if (!validClusterName(values.name!)) return { error: `--name ${JSON.stringify(values.name)} must be lowercase letters, digits or '-', at most 16, starting with a letter` };
  if (values.scale !== undefined && !['10k', '100k', 'all'].includes(values.scale)) return { error: '--scale must be 10k, 100k or all' };
  const heavyRuns = count(values['heavy-runs'], 1) ?? Math.max(runs, 1);
  if (Number.isNaN(heavyRuns)) return { error: '--heavy-runs must be a whole number above 0' };
  const scale = values.all ? 'all' : values.scale;
  const presets: ('10k' | '100k')[] = scale === undefined ? [] : scale === 'all' ? ['10k', '100k'] : [scale as '10k' | '100k'];
  const bat = values.all! || values.bat!;
  const ccloudvm = values.all! || values.ccloudvm!;
  if (runs === 0 && containers === undefined && vms === undefined && !bat && !ccloudvm && !presets.length && !values['cold-start']) {
    return { error: '--runs 0 leaves out the quick rows: ask for a heavy one (--bat, --scale, --ccloudvm, --all) or --cold-start FILE' };
  }
  const setupArgs = ['--name', values.name!, '--nodes', String(nodes), ...(networkNodes !== undefined ? ['--network-nodes', String(networkNodes)] : [])];
  return { plan: { name: values.name!, runs, cold: values.cold!, containers, vms, setupArgs, bat, presets, ccloudvm, heavyRuns, json: values.json, coldStart: values['cold-start'] } };
}
