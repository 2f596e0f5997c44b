// stop and cleanup as flows (singlevm/teardown-flows.ts): their steps in order, named from what the
// inventory found, and the Docker engine's step only when setup started it.
import t from 'tap';
import { stepName } from '../../singlevm/flow.ts';
import { CLEANUP_FLOW, STOP_FLOW, type TeardownContext } from '../../singlevm/teardown-flows.ts';
import { clusterPaths } from '../../singlevm/cluster-files.ts';
import type { Inventory } from '../../singlevm/teardown.ts';

const found = (over: Partial<Inventory> = {}): Inventory => ({
  daemons: new Map([[101, 'controller'], [102, 'launcher']]), pids: new Map([[201, 'qemu']]),
  containers: [{ id: 'c1', name: 'ciao-x-c1', running: true }, { id: 'c2', name: 'ciao-x-c2', running: false }],
  namespaces: ['ciao-x-net', 'ciao-x-node-0', 'ciao-x-cnci-1'],
  ourDockerd: undefined, keptDockerd: undefined, stateDir: true, build: true, demoSh: true, ...over,
});
const ctx = (inventory: Inventory, before = true): TeardownContext =>
  ({ name: 'x', paths: clusterPaths('x'), found: inventory, before: before ? { links: [] } as unknown as TeardownContext['before'] : undefined });
const names = (flow: typeof STOP_FLOW, c: TeardownContext) => flow.filter((s) => !s.when || s.when(c)).map((s) => stepName(s, c));

t.test('stop: daemons first, then the rest, containers stopped and kept, namespaces, and the host proof', async (t) => {
  t.same(names(STOP_FLOW, ctx(found())), [
    'stop 2 daemon(s)', 'stop 1 VM and network process(es)', 'stop 1 container(s), kept', 'remove 3 network namespace(s)', 'check the host is as before setup',
  ]);
});

t.test('cleanup: containers while Docker answers, every process, namespaces, the state, and the host proof', async (t) => {
  t.same(names(CLEANUP_FLOW, ctx(found())), [
    'remove 2 container(s)', 'stop 3 process(es)', 'remove 3 network namespace(s)', 'remove state', 'check the host is as before setup',
  ]);
  t.equal(names(CLEANUP_FLOW, ctx(found(), false)).at(-1), 'check nothing of the cluster is left', 'without a snapshot of the host before setup');
});

t.test('the Docker engine setup started is stopped by the last cluster, and kept, saying for whom, while another uses it', async (t) => {
  t.ok(names(CLEANUP_FLOW, ctx(found({ ourDockerd: 4242 }))).includes('stop the Docker engine setup started'));
  const kept = ctx(found({ keptDockerd: ['other'] }));
  t.ok(names(STOP_FLOW, kept).includes('keep the Docker engine setup started'));
  const step = STOP_FLOW.find((s) => stepName(s, kept) === 'keep the Docker engine setup started')!;
  t.equal(await step.execute(kept, () => {}), 'cluster other still uses it');
});
