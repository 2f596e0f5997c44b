// Needs root: the BAT cluster suite (bat/suites/cluster.test.ts; docs/nodes.md) against a real
// cluster of 3 nodes — the CI root layer's run of it: spreading, requirements, cross-node traffic,
// cordon, a killed launcher re-adopted, nodes added live, drained, removed and forced. Then a node
// added to a cluster set up with one: after a stop and a resume both nodes are back and node 0
// still holds the container it made alone (unlabelled); cleanup leaves nothing, host proof included.
import t from 'tap';
import { throwawayCluster } from '../helpers/throwaway-cluster.ts';
import { clusterLeftovers } from '../../singlevm/host-state.ts';
import { waitFor } from '../../shared/wait-for.ts';
import type { Instance, NodeInfo, Workload } from '../../controller/api-types.ts';

const three = await throwawayCluster(t, 'clu');
await three.setUp(['--nodes', '3']);

t.test('the BAT cluster suite passes on 3 real nodes, nothing skipped', async (t) => {
  const r = await three.sh('bat/run.sh', ['--suite', 'cluster', '-v'], await three.demoEnv());
  t.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  t.match(r.stderr, /BAT: 7 tests in 1 suites, 7 passed, 0 failed, 0 skipped/);
  t.comment(r.stdout.trim());
  const cleanup = await three.sh('singlevm/cleanup.sh', ['--name', three.name]);
  t.equal(cleanup.exitCode, 0, `cleanup: ${cleanup.stdout}\n${cleanup.stderr}`);
  t.same(await clusterLeftovers(three.name), []);
});

t.test('a node added to a one-node cluster: a resume brings both back, node 0 keeps its container; cleanup removes all', async (t) => {
  const one = await throwawayCluster(t, 'clo');
  const { admin } = await one.setUp([]);
  const tenant = `/tenants/${await admin.tenantId()}`;
  const { workloads } = await admin.call<{ workloads: Workload[] }>('GET', `${tenant}/workloads`);
  const [ct] = (await admin.call<{ instances: Instance[] }>('POST', `${tenant}/instances`, { workload_id: workloads.find((w) => w.vm_type === 'docker')!.id })).instances;
  const state = async () => (await admin.call<Instance>('GET', `${tenant}/instances/${ct.id}`));
  await waitFor('the container active', async () => (await state()).state === 'active', { timeoutMs: 60_000 });

  t.equal((await one.sh('singlevm/node.sh', ['add', '--name', one.name])).exitCode, 0, 'node.sh add');
  t.equal((await one.sh('singlevm/stop.sh', ['--name', one.name])).exitCode, 0);
  const resumed = await one.sh('singlevm/setup.sh', ['--name', one.name]);
  t.equal(resumed.exitCode, 0, resumed.stderr);
  t.match(resumed.stdout, /real: 2 nodes/);
  const nodes = (await admin.call<{ nodes: NodeInfo[] }>('GET', '/nodes')).nodes.map((n) => [n.id, n.status]).sort();
  t.same(nodes, [[`${one.name}-node-0`, 'READY'], [`${one.name}-node-1`, 'READY']]);
  await waitFor('node 0 to adopt its container', async () => (await state()).state === 'active', { timeoutMs: 60_000 });
  t.equal((await state()).node_id, `${one.name}-node-0`);

  const r = await one.sh('singlevm/cleanup.sh', ['--name', one.name]);
  t.equal(r.exitCode, 0, `cleanup: ${r.stdout}\n${r.stderr}`);
  t.same(await clusterLeftovers(one.name), []);
});
