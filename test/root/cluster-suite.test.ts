// Needs root: the BAT cluster suite (bat/suites/cluster.test.ts; docs/nodes.md) against a real
// cluster of 3 nodes — the CI root layer's run of it: spreading, requirements, cross-node traffic,
// cordon, a killed launcher re-adopted, nodes added live, drained, removed and forced. Then cleanup
// removes everything, added nodes included, and its host proof passes.
import t from 'tap';
import { throwawayCluster } from '../helpers/throwaway-cluster.ts';
import { clusterLeftovers } from '../../singlevm/host-state.ts';

const { name, sh, demoEnv, setUp } = await throwawayCluster(t, 'clu');
await setUp(['--nodes', '3']);

t.test('the BAT cluster suite passes on 3 real nodes, nothing skipped', async (t) => {
  const r = await sh('bat/run.sh', ['--suite', 'cluster', '-v'], await demoEnv());
  t.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  t.match(r.stderr, /BAT: 7 tests in 1 suites, 7 passed, 0 failed, 0 skipped/);
  t.comment(r.stdout.trim());
});

t.test('a node added live is brought back by a resume and removed by cleanup, whose host proof passes', async (t) => {
  t.equal((await sh('singlevm/node.sh', ['add', '--name', name])).exitCode, 0);
  t.equal((await sh('singlevm/stop.sh', ['--name', name])).exitCode, 0);
  const resumed = await sh('singlevm/setup.sh', ['--name', name]);
  t.equal(resumed.exitCode, 0, resumed.stderr);
  t.match(resumed.stdout, /real: 4 nodes/);
  const r = await sh('singlevm/cleanup.sh', ['--name', name]);
  t.equal(r.exitCode, 0, `cleanup: ${r.stdout}\n${r.stderr}`);
  t.same(await clusterLeftovers(name), []);
});
