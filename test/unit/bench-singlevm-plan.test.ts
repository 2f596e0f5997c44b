// `npm run bench:singlevm`'s options (scripts/bench-singlevm-plan.ts): the quick rows by default,
// the heavy rows only when asked (--all is all of them), how many runs each, and the combinations
// refused as usage errors before any cluster is made.
import t from 'tap';
import { parseSinglevmArgs } from '../../scripts/bench-singlevm-plan.ts';

const plan = (args: string) => {
  const r = parseSinglevmArgs(args.split(' ').filter(Boolean));
  if (!('plan' in r)) throw new Error(`no plan for ${args}: ${JSON.stringify(r)}`);
  return r.plan;
};
const error = (args: string) => {
  const r = parseSinglevmArgs(args.split(' ').filter(Boolean));
  return 'error' in r ? r.error : undefined;
};

t.test('by default the quick rows only, three runs, on cluster bench', async (t) => {
  t.match(plan(''), { name: 'bench', runs: 3, cold: false, bat: false, presets: [], ccloudvm: false, setupArgs: ['--name', 'bench', '--nodes', '1'] });
  t.same(parseSinglevmArgs(['--help']), { help: true });
});

t.test('heavy rows by flag, --all for every one; their runs are --heavy-runs, else --runs', async (t) => {
  t.match(plan('--bat'), { bat: true, presets: [], ccloudvm: false, heavyRuns: 3 });
  t.match(plan('--scale 100k --runs 5'), { presets: ['100k'], heavyRuns: 5 });
  t.match(plan('--scale all'), { presets: ['10k', '100k'] });
  t.match(plan('--all --heavy-runs 1'), { bat: true, presets: ['10k', '100k'], ccloudvm: true, heavyRuns: 1, runs: 3 });
  t.match(plan('--runs 0 --ccloudvm'), { runs: 0, ccloudvm: true, heavyRuns: 1 }, '--runs 0: no quick rows, the heavy ones once');
});

t.test('--cold-start FILE: the cold-start row from scripts/cold-start.sh\'s JSON, alone or with other rows', async (t) => {
  t.match(plan('--runs 0 --cold-start b/cold.json'), { runs: 0, coldStart: 'b/cold.json' });
  t.equal((parseSinglevmArgs([]) as { plan: { coldStart?: string } }).plan.coldStart, undefined);
  t.match(parseSinglevmArgs(['--runs', '0']), { error: /--cold-start FILE/ });
});

t.test('the focused rows and the cluster\'s shape', async (t) => {
  t.match(plan('--vms 10 --name vmf'), { vms: 10, name: 'vmf', setupArgs: ['--name', 'vmf', '--nodes', '1'] });
  t.match(plan('--nodes 3 --network-nodes 1 --json /tmp/x.json'), { setupArgs: ['--name', 'bench', '--nodes', '3', '--network-nodes', '1'], json: '/tmp/x.json' });
});

t.test('bad combinations are usage errors', async (t) => {
  t.match(error('--runs 0'), /--runs 0 leaves out the quick rows/);
  t.match(error('--runs 2.5'), /--runs must be a whole number/);
  t.match(error('--scale 50k'), /--scale must be 10k, 100k or all/);
  t.match(error('--heavy-runs 0 --bat'), /--heavy-runs must be a whole number above 0/);
  t.match(error('--vms 2 --containers 2'), /not both/);
  t.match(error('--name Bad_Name'), /--name "Bad_Name" must be/);
  t.match(error('--nodes 0'), /--nodes must be/);
  t.match(error('--colour'), /Unknown option '--colour'/);
});
