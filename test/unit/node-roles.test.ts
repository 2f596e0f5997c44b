// Node roles and simulated nodes beside real ones (singlevm/node-roles.ts): which options make a
// cluster, each node's role, the certificates that grant it, the launchers' --roles, the simulated
// nodes' launcher, and the placement of workloads that must run on a real node.
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { describeLayout, layoutConflict, layoutProblem, legRole, nodeRoles, roleOf } from '../../singlevm/node-roles.ts';
import { certificates } from '../../singlevm/actions/certificates.ts';
import { node } from '../../singlevm/actions/node.ts';
import { missingParts } from '../../singlevm/actions/health.ts';
import { stepName } from '../../singlevm/flow.ts';
import { Placement } from '../../scheduler/placement.ts';
import { validateWorkload } from '../../controller/workload-yaml.ts';
import { listWorkloads } from '../../singlevm/verify/list-workloads.ts';
import { removeRealCopies } from '../../singlevm/verify/real-workloads.ts';
import type { ApiClient, VerifyContext } from '../../singlevm/verify/context.ts';
import type { Workload } from '../../controller/api-types.ts';
import { afterControlPlane, argAfter, CLUSTER, fakeCluster } from '../helpers/fake-setup-host.ts';

t.test('roles: K network nodes first, the rest compute; without --network-nodes all dual-role', async (t) => {
  t.same(nodeRoles(3, 1), ['network', 'compute', 'compute']);
  t.same(nodeRoles(4, 2), ['network', 'network', 'compute', 'compute']);
  t.same(nodeRoles(2), ['dual', 'dual']);
  t.same([roleOf(['compute']), roleOf(['network']), roleOf(['network', 'compute']), roleOf([])], ['compute', 'network', 'dual', 'none']);
});

t.test('a node\'s role is its record\'s; a record without roles gets them by index, as setup gave them', async (t) => {
  t.equal(legRole({ index: 0, role: 'compute' }, { nodes: 3, networkNodes: 1 }), 'compute', 'the record says (node.sh add --role)');
  t.same([0, 1, 2].map((index) => legRole({ index }, { nodes: 3, networkNodes: 1 })), ['network', 'compute', 'compute']);
  t.equal(legRole({ index: 4 }, { nodes: 3 }), 'dual', 'past setup\'s N, without --network-nodes: dual-role');
});

t.test('bad combinations are refused with the reason', async (t) => {
  const real = { simulate: false };
  t.equal(layoutProblem({ ...real, nodes: 3, networkNodes: 1 }), undefined);
  t.equal(layoutProblem({ ...real, nodes: 2, simNodes: 1000 }), undefined);
  t.match(layoutProblem({ ...real, nodes: 2, networkNodes: 3 }), /--network-nodes 3 is more than --nodes 2/);
  t.match(layoutProblem({ ...real, nodes: 2, networkNodes: 2 }), /leaves no compute node/);
  t.match(layoutProblem({ ...real, nodes: 1, networkNodes: 1 }), /leaves no compute node/);
  t.match(layoutProblem({ ...real, nodes: 2, networkNodes: 0 }), /needs a network node/);
  t.match(layoutProblem({ ...real, nodes: 2, networkNodes: NaN }), /whole number/);
  t.match(layoutProblem({ simulate: true, nodes: 3, networkNodes: 1 }), /for real nodes/);
  t.match(layoutProblem({ simulate: true, nodes: 3, simNodes: 1 }), /--simulate cluster takes --nodes/);
  t.match(layoutProblem({ ...real, nodes: 1, simNodes: 0 }), /--sim-nodes must be/);
  t.match(layoutProblem({ ...real, nodes: 1, simNodes: 20001 }), /--sim-nodes must be/);
});

t.test('a resume keeps the layout: other options given are refused, none given is fine', async (t) => {
  const existing = { name: 'c', settings: { networkNodes: 1 } };
  t.equal(layoutConflict(existing, {}), undefined);
  t.equal(layoutConflict(existing, { networkNodes: 1 }), undefined);
  t.match(layoutConflict(existing, { networkNodes: 2 }), /was set up with --network-nodes 1/);
  t.match(layoutConflict(existing, { simNodes: 5 }), /without --sim-nodes/);
  t.equal(describeLayout({ nodes: 3, networkNodes: 1 }), '3 nodes (1 network, 2 compute)');
  t.equal(describeLayout({ nodes: 2, simNodes: 1000 }), '2 nodes + 1000 simulated compute nodes');
  t.equal(describeLayout({ nodes: 1 }), '1 node');
});

const ouOf = async (path: string) => new X509Certificate(await readFile(path)).subject.match(/^OU=(.*)$/m)?.[1];

t.test('each node\'s certificate grants its role; the simulated nodes\' grants compute for their prefix', async (t) => {
  const { run } = fakeCluster(t, { simulate: false, nodes: 3, networkNodes: 1, simNodes: 5 });
  const ctx = run();
  await certificates.execute(ctx, () => {});
  t.same(await Promise.all(ctx.pki!.agents!.map((a) => ouOf(a.cert))), ['network', 'compute', 'compute']);
  const sim = new X509Certificate(await readFile(ctx.pki!.simAgent!.cert));
  t.match(sim.subject, new RegExp(`^CN=${CLUSTER}-sim\\*$`, 'm'));
  t.equal(await ouOf(ctx.pki!.simAgent!.cert), 'compute');
  const dual = run({ networkNodes: undefined, simNodes: undefined, nodes: 2 });
  await certificates.execute(dual, () => {});
  t.notOk(dual.pki!.simAgent, 'no simulated nodes: no certificate for them');
});

t.test('the launchers start with their roles, and the simulated nodes\' launcher beside them; setup waits for all', async (t) => {
  const { run, host, paths } = fakeCluster(t, { simulate: false, nodes: 3, networkNodes: 1, simNodes: 40 });
  const ctx = await afterControlPlane(run());
  ctx.pki!.simAgent = { cert: '/pki/agent-sim.crt', key: '/pki/agent-sim.key' };
  ctx.real = { vmImage: { kernel: 'k', initrd: 'i', root: 'r', hash: 'h' }, accel: 'tcg', network: await host.ensureClusterNetwork(CLUSTER, paths.clusterNet, 3) };
  ctx.vmImageId = 'image-1';
  t.equal(stepName(node, ctx), 'start 3 nodes (TCG) and 40 simulated');
  const notes: string[] = [];
  await node.execute(ctx, (n) => notes.push(n));
  t.same(host.started.map((d) => d.name), ['launcher', 'launcher-1', 'launcher-2', 'launcher-sim']);
  t.same(host.started.map((d) => argAfter(d.args, '--roles')), ['network', 'compute', 'compute', 'compute']);
  const sim = host.started[3];
  t.same(['--backend', '--nodes', '--node-prefix', '--cert'].map((f) => argAfter(sim.args, f)), ['simulation', '40', `${CLUSTER}-sim`, '/pki/agent-sim.crt']);
  t.equal(notes.at(-1), '43/43 ready');
});

t.test('a mixed cluster is whole only with its simulated nodes\' launcher', async (t) => {
  const { paths } = fakeCluster(t);
  const record = { name: CLUSTER, mode: 'real' as const, stateDir: paths.stateDir, nodes: 1, createdAt: '', ports: { identity: 1, controller: 2, scheduler: 3 },
    settings: { bootDelayMs: 100, statsIntervalMs: 5000, simNodes: 3 } };
  t.ok((await missingParts(record, paths)).includes('daemon launcher-sim'));
  t.notOk((await missingParts({ ...record, settings: { bootDelayMs: 100, statsIntervalMs: 5000 } }, paths)).includes('daemon launcher-sim'));
});

t.test('requirements.real_node keeps a workload off simulated nodes', async (t) => {
  const p = new Placement();
  for (const [id, simulated] of [['sim-0', true], ['real-0', false], ['sim-1', true]] as const) {
    p.add(id, id, ['compute'], simulated);
    p.update({ nodeId: id, hostname: id, status: 'READY', memTotalMB: 4096, memAvailableMB: 4096, diskTotalMB: 1000, diskAvailableMB: 1000, vcpus: 4, vcpusAvailable: 4, load: 0, instances: [] });
  }
  const want = (realNode?: boolean) => p.place({ resources: { vcpus: 1, memMB: 64, diskMB: 0 }, requirements: { realNode } });
  t.same([1, 2, 3].map(() => { const r = want(true); return r.ok && r.nodeId; }), ['real-0', 'real-0', 'real-0']);
  t.same([1, 2, 3].map(() => { const r = want(); return r.ok && r.nodeId; }), ['sim-0', 'real-0', 'sim-1'], 'without it, every node takes its turn');
  const none = new Placement();
  none.add('sim-0', 'sim-0', ['compute'], true);
  t.match(none.place({ resources: { vcpus: 1, memMB: 64, diskMB: 0 }, requirements: { realNode: true } }), { ok: false, reason: 'no_cn', message: /no compute node matches real_node/ });
  t.match(validateWorkload({ description: 'd', vm_type: 'docker', image_name: 'x', requirements: { real_node: true } }).requirements, { real_node: true });
});

t.test('requirements.simulated_node keeps a workload on simulated nodes (a scale run\'s load on a mixed cluster)', async (t) => {
  const p = new Placement();
  for (const [id, simulated] of [['real-0', false], ['sim-0', true], ['real-1', false], ['sim-1', true]] as const) {
    p.add(id, id, ['compute', 'network'], simulated);
    p.update({ nodeId: id, hostname: id, status: 'READY', memTotalMB: 4096, memAvailableMB: 4096, diskTotalMB: 1000, diskAvailableMB: 1000, vcpus: 4, vcpusAvailable: 4, load: 0, instances: [] });
  }
  const placed = (requirements: { simulatedNode?: boolean; realNode?: boolean }) => { const r = p.place({ resources: { vcpus: 1, memMB: 64, diskMB: 0 }, requirements }); return r.ok && r.nodeId; };
  t.same([1, 2, 3, 4].map(() => placed({ simulatedNode: true })), ['sim-0', 'sim-1', 'sim-0', 'sim-1']);
  t.same([1, 2].map(() => placed({ realNode: true })), ['real-0', 'real-1'], 'real_node still spreads over the real ones');
  // A burst: simulated placements between real ones move only their own round robin.
  t.same([1, 2, 3, 4].map(() => [placed({ simulatedNode: true }), placed({ simulatedNode: true }), placed({ realNode: true })][2]), ['real-0', 'real-1', 'real-0', 'real-1'],
    'real instances created during a simulated burst still take turns on the real nodes');
  const realOnly = new Placement();
  realOnly.add('real-0', 'real-0', ['compute'], false);
  t.match(realOnly.place({ resources: { vcpus: 1, memMB: 64, diskMB: 0 }, requirements: { simulatedNode: true } }), { ok: false, reason: 'no_cn', message: /no compute node matches simulated_node/ });
  t.match(validateWorkload({ description: 'd', vm_type: 'docker', image_name: 'x', requirements: { simulated_node: true } }).requirements, { simulated_node: true });
  t.throws(() => validateWorkload({ description: 'd', vm_type: 'docker', image_name: 'x', requirements: { simulated_node: true, real_node: true } }), /real_node and simulated_node exclude each other/);
});

t.test('verify on a mixed cluster starts its instances from public real-node copies of the default workloads, made once and deleted at the end', async (t) => {
  const store: Workload[] = [
    { id: 'vm', description: 'Debian VM', vm_type: 'qemu', visibility: 'public', requirements: {} } as Workload,
    { id: 'ct', description: 'Busybox container', vm_type: 'docker', visibility: 'public', requirements: {} } as Workload,
  ];
  const calls: string[] = [];
  const api = (tenant: string): ApiClient => ({
    tenantId: async () => tenant,
    async call<T>(method: string, path: string, body?: unknown): Promise<T> {
      calls.push(`${method} ${path}`);
      if (method === 'GET') return { workloads: [...store] } as T;
      if (method === 'POST') {
        const w = { ...(body as Workload), id: `copy-${store.length}` };
        store.push(w);
        return w as T;
      }
      store.splice(store.findIndex((w) => path.endsWith(`/${w.id}`)), 1);
      return undefined as T;
    },
  });
  const ctx = (simNodes?: number): VerifyContext => ({
    cluster: 'unit', simulated: false, user: api('tenant-1'), username: 'demo', admin: api('admin-t'), sshKey: '', pool: 'test', tenantId: 'tenant-1',
    record: { settings: { bootDelayMs: 1, statsIntervalMs: 1, simNodes } } as never,
    timeouts: { bootMs: 1, eventMs: 1, pingMs: 1, externalPingMs: 1, deleteMs: 1 }, notChecked: [],
  });
  const plain = ctx();
  await listWorkloads.execute(plain, () => {});
  t.same([plain.workloads!.vm.id, plain.workloads!.ct.id], ['vm', 'ct'], 'real nodes only: the default workloads themselves');
  const mixed = ctx(1000);
  await listWorkloads.execute(mixed, () => {});
  t.match(mixed.workloads, { vm: { visibility: 'public', requirements: { real_node: true }, vm_type: 'qemu' }, ct: { requirements: { real_node: true }, vm_type: 'docker' } });
  t.ok(calls.includes('POST /tenants/admin-t/workloads'), 'made by the admin');
  const again = ctx(1000);
  await listWorkloads.execute(again, () => {});
  t.equal(store.length, 4, 'a second run uses the copies there are');
  await removeRealCopies(again);
  t.same(store.map((w) => w.id), ['vm', 'ct'], 'the copies are gone, the defaults stay');
});
