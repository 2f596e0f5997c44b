// `npm run bench`'s options (scripts/bench-plan.ts): the rows each combination asks for, the JSON
// file named, and the combinations refused as usage errors before any cluster is made.
import t from 'tap';
import { parseBenchArgs } from '../../scripts/bench-plan.ts';

const plan = (args: string) => {
  const r = parseBenchArgs(args.split(' ').filter(Boolean));
  if (!('plan' in r)) throw new Error(`no plan for ${args}: ${JSON.stringify(r)}`);
  return r.plan;
};
const error = (args: string) => {
  const r = parseBenchArgs(args.split(' ').filter(Boolean));
  return 'error' in r ? r.error : undefined;
};

t.test('a simulated cluster: --nodes and --instances, or a preset of issue 15', async (t) => {
  t.match(plan(''), { rows: [{ nodes: 100, instances: 1000 }], runs: 1, name: 'bench', bootDelayMs: 100, concurrency: 4, json: 'bench-results/sim-100-1000.json' });
  t.notOk(plan('').rows[0].real, 'no real nodes unless asked');
  t.match(plan('--nodes 50 --instances 200 --runs 3 --name b2'), { rows: [{ nodes: 50, instances: 200 }], runs: 3, name: 'b2', json: 'bench-results/sim-50-200.json' });
  t.match(plan('--preset all'), { rows: [{ nodes: 5000, instances: 10_000, target: { p99Ms: 100 } }, { nodes: 5000, instances: 100_000 }], json: 'bench-results/sim-all.json' });
  t.same(parseBenchArgs(['--help']), { help: true });
});

t.test('a mixed cluster: R real nodes beside N simulated ones, K real containers (2 per real node unless given)', async (t) => {
  t.match(plan('--real-nodes 2 --sim-nodes 5000 --instances 10000'), {
    rows: [{ nodes: 5000, instances: 10_000, real: { nodes: 2, instances: 4 } }], json: 'bench-results/mixed-2-5000-10000.json',
  });
  t.notOk(plan('--real-nodes 2 --sim-nodes 5000').rows[0].target, 'issue 15\'s targets are the simulated rows\'');
  t.match(plan('--real-nodes 3 --sim-nodes 10 --instances 20 --real-instances 1 --json /tmp/x.json'), { rows: [{ real: { nodes: 3, instances: 1 } }], json: '/tmp/x.json' });
});

t.test('combinations that cannot be run are usage errors that say why', async (t) => {
  t.match(error('--real-nodes 2 --preset 100k --sim-nodes 5'), /--preset is for a simulated cluster/);
  t.match(error('--real-nodes 2'), /--real-nodes needs --sim-nodes/);
  t.match(error('--real-nodes 2 --nodes 5 --sim-nodes 5'), /with --real-nodes the simulated nodes beside the real ones are --sim-nodes/);
  t.match(error('--sim-nodes 5'), /--sim-nodes goes with --real-nodes/);
  t.match(error('--real-instances 2'), /--real-instances goes with --real-nodes/);
  t.match(error('--preset 10k --instances 5'), /either --preset or --nodes and --instances/);
  t.match(error('--preset 1m'), /--preset must be one of 10k, 100k, all/);
  t.match(error('--real-nodes 17 --sim-nodes 5'), /--real-nodes must be a whole number from 1 to 16/);
  t.match(error('--real-nodes 2 --sim-nodes 0'), /--sim-nodes must be a whole number from 1/);
  t.match(error('--nodes 1.5'), /--nodes must be a whole number/);
  t.match(error('--runs 0'), /--runs must be a whole number from 1/);
  t.match(error('--name ../x'), /--name "..\/x" must be lowercase letters/);
  t.match(error('--frobnicate'), /Unknown option '--frobnicate'/);
  t.match(error('extra'), /positional/);
});
