// BAT cluster (issue 14; docs/nodes.md): a real cluster of two nodes or more, run on the cluster's
// machine as root (it calls ./singlevm/node.sh and setup.sh, and kills a launcher). Spreading over
// the real nodes, node-id and hostname requirements, containers on two nodes reaching each other,
// cordon, a node killed shown missing and brought back with its instances re-adopted, and a node
// added live, used, refused removal while it holds an instance, drained and removed, or forced.
import t from 'tap';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import type { Instance, NodeInfo } from '../../controller/api-types.ts';
import { clusterPaths } from '../../singlevm/cluster-files.ts';
import { pingFromContainer } from '../../singlevm/probes.ts';
import { REPO_ROOT } from '../../singlevm/processes.ts';
import { listNamespaces } from '../../network/namespaces.ts';
import { readPidFile } from '../../shared/pid-file.ts';
import { run } from '../../shared/run.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { admin, expectEvent, ownTenant, ownWorkload, publicWorkload, start, waitState, REAL_ONLY } from '../lib.ts';

const cluster = process.env.CIAO_CLUSTER ?? 'ciao';
const paths = clusterPaths(cluster);
const nodes = async () => (await admin.call<{ nodes: NodeInfo[] }>('GET', '/nodes')).nodes;
const realNodes = async () => (await nodes()).filter((n) => n.kind === 'real' && n.status !== 'MISSING').sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
const real = REAL_ONLY ? [] : await realNodes();
/** Why the suite cannot run here, or false. */
const skip = REAL_ONLY || (real.length < 2 && `needs a cluster of 2 real nodes or more (setup.sh --nodes 3); this one has ${real.length}`);
const script = (name: string, args: string[]) => run(join(REPO_ROOT, 'singlevm', name), [...args, '--name', cluster], { allowFailure: true, timeout: 300_000 });
const container = async (requirements?: object) => ({
  description: 'bat cluster container', vm_type: 'docker', image_name: (await publicWorkload('docker')).image_name,
  defaults: { vcpus: 1, mem_mb: 64, disk_mb: 0 }, ...(requirements ? { requirements } : {}),
});
/** A container of the tenant pinned to a node, active. */
async function pinned(tt: Parameters<typeof ownTenant>[0], path: string, nodeId: string): Promise<Instance> {
  const w = await ownWorkload(tt, path, await container({ node_id: nodeId }));
  const [i] = await start(tt, path, w.id);
  return waitState(path, i.id, 'active');
}

t.test('instances spread over the real nodes', { skip }, async (t) => {
  const tenant = await ownTenant(t, 'cl');
  const w = await ownWorkload(t, tenant.path, await container());
  const placed = await Promise.all((await start(t, tenant.path, w.id, real.length * 2)).map((i) => waitState(tenant.path, i.id, 'active')));
  const used = new Set(placed.map((i) => i.node_id));
  t.ok(used.size >= 2, `${placed.length} instances on ${used.size} nodes: ${[...used].join(', ')}`);
});

t.test('node-id and hostname requirements place on the node they name, each real node', { skip }, async (t) => {
  const tenant = await ownTenant(t, 'cl');
  for (const n of real) t.equal((await pinned(t, tenant.path, n.id)).node_id, n.id, `node_id=${n.id}`);
  const last = real[real.length - 1];
  const w = await ownWorkload(t, tenant.path, await container({ hostname: last.hostname }));
  const [i] = await start(t, tenant.path, w.id);
  t.equal((await waitState(tenant.path, i.id, 'active')).node_id, last.id, `hostname=${last.hostname}`);
});

t.test('containers on two nodes reach each other', { skip }, async (t) => {
  const tenant = await ownTenant(t, 'cl');
  const [a, b] = [await pinned(t, tenant.path, real[0].id), await pinned(t, tenant.path, real[1].id)];
  t.not(a.node_id, b.node_id);
  t.ok(await waitFor(`${a.ip} to ping ${b.ip}`, () => pingFromContainer(cluster, a.id, b.ip), { timeoutMs: 15_000 }), `${a.node_id} → ${b.node_id}`);
  t.ok(await pingFromContainer(cluster, b.id, a.ip), `${b.node_id} → ${a.node_id}`);
});

t.test('a cordoned node gets no new instance; what it holds stays', { skip }, async (t) => {
  const tenant = await ownTenant(t, 'cl');
  const target = real[1];
  const kept = await pinned(t, tenant.path, target.id);
  t.equal((await admin.call<NodeInfo>('POST', `/nodes/${target.id}/cordon`)).cordoned, true);
  t.teardown(() => admin.call('POST', `/nodes/${target.id}/uncordon`));
  const listed = (await run(join(REPO_ROOT, 'bin/ciao'), ['list', 'nodes'], { allowFailure: true })).stdout;
  t.match(listed, new RegExp(`${target.id}\\s.*READY\\s+cordoned`), 'ciao list nodes shows it');
  const w = await ownWorkload(t, tenant.path, await container());
  const placed = await Promise.all((await start(t, tenant.path, w.id, real.length * 2)).map((i) => waitState(tenant.path, i.id, 'active')));
  t.same(placed.filter((i) => i.node_id === target.id).map((i) => i.id), [], `none of ${placed.length} on ${target.id}`);
  t.equal((await waitState(tenant.path, kept.id, 'active')).node_id, target.id, 'its instance runs on');
  const pin = await ownWorkload(t, tenant.path, await container({ node_id: target.id }));
  const ev = await expectEvent(tenant.path, /^Failed to start /, () => admin.call('POST', `${tenant.path}/instances`, { workload_id: pin.id }));
  t.match(ev.message, /no_cn.*cordoned/);
});

t.test('a node whose launcher is killed is missing with its instances; brought back, they are re-adopted', { skip }, async (t) => {
  const tenant = await ownTenant(t, 'cl');
  const target = real[real.length - 1];
  const index = Number(target.id.slice(`${cluster}-node-`.length));
  const inst = await pinned(t, tenant.path, target.id);
  const pid = await readPidFile(join(paths.pids, index ? `launcher-${index}.pid` : 'launcher.pid'));
  t.ok(pid, `the launcher of ${target.id} runs`);
  process.kill(pid!, 'SIGKILL');
  await waitFor(`${target.id} to be MISSING`, async () => (await admin.call<NodeInfo>('GET', `/nodes/${target.id}`)).status === 'MISSING', { timeoutMs: 15_000 });
  t.equal((await waitState(tenant.path, inst.id, 'missing')).node_id, target.id, 'its instance is missing');
  const setup = await script('setup.sh', []);
  t.equal(setup.exitCode, 0, `setup brings the launcher back: ${setup.stdout.slice(-400)}${setup.stderr}`);
  t.equal((await waitState(tenant.path, inst.id, 'active')).node_id, target.id, 're-adopted, active on its node');
  t.equal((await admin.call<NodeInfo>('GET', `/nodes/${target.id}`)).status, 'READY');
});

/** node.sh add: the id of the node it added, once READY. */
async function addNode(t: Parameters<typeof ownTenant>[0]): Promise<string> {
  const before = new Set((await nodes()).map((n) => n.id));
  const r = await script('node.sh', ['add']);
  t.equal(r.exitCode, 0, `node.sh add: ${r.stdout.slice(-300)}${r.stderr}`);
  const added = (await nodes()).find((n) => !before.has(n.id));
  t.ok(added, 'a new node is listed');
  t.teardown(() => script('node.sh', ['remove', added!.id, '--force']));
  await waitFor(`${added!.id} to be READY`, async () => (await admin.call<NodeInfo>('GET', `/nodes/${added!.id}`)).status === 'READY', { timeoutMs: 30_000 });
  return added!.id;
}

t.test('a node added live is used; removal is refused while it holds an instance, then drained and removed', { skip }, async (t) => {
  const tenant = await ownTenant(t, 'cl');
  const id = await addNode(t);
  const inst = await pinned(t, tenant.path, id);
  t.equal(inst.node_id, id, 'an instance runs on the new node');
  const refused = await script('node.sh', ['remove', id]);
  t.equal(refused.exitCode, 1);
  t.match(refused.stderr, new RegExp(`${id} holds 1 instance\\(s\\): ${inst.id}`), 'names what it holds');

  const drain = spawn(join(REPO_ROOT, 'singlevm/node.sh'), ['remove', id, '--drain', '--timeout', '120', '--name', cluster], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  drain.stdout.on('data', (d) => (out += d));
  drain.stderr.on('data', (d) => (out += d));
  const ended = new Promise<number | null>((resolve) => drain.on('exit', resolve));
  await waitFor('the drain to cordon the node', () => /cordoned: waiting/.test(out), { timeoutMs: 60_000 });
  t.equal((await admin.call<NodeInfo>('GET', `/nodes/${id}`)).cordoned, true, 'cordoned while it drains');
  await admin.call('DELETE', `${tenant.path}/instances/${inst.id}`);
  t.equal(await ended, 0, `the drain ends once its instance is deleted: ${out}`);
  t.match(out, /1 left[\s\S]*0 left[\s\S]*removed/);
  t.notOk((await nodes()).some((n) => n.id === id), 'gone from the nodes');
  t.notOk((await listNamespaces()).includes(`ciao-${cluster}-node-${id.slice(`${cluster}-node-`.length)}`), 'its namespace is gone');
});

/** The flood-list destinations of the tenant segments in a node's namespace (bridge fdb). */
const floodTargets = async (ns: string) =>
  (await run('ip', ['netns', 'exec', ns, 'bridge', 'fdb', 'show'], { allowFailure: true })).stdout.split('\n')
    .filter((l) => l.startsWith('00:00:00:00:00:00')).map((l) => l.match(/dst (\S+)/)?.[1]).filter(Boolean);

t.test('a node removed by force: its instance is lost, with an event that says why; the others stop flooding to it', { skip }, async (t) => {
  const tenant = await ownTenant(t, 'cl');
  const id = await addNode(t);
  const inst = await pinned(t, tenant.path, id);
  const peer = await pinned(t, tenant.path, real[0].id);
  const ip = (await admin.call<NodeInfo>('GET', `/nodes/${id}`)).tunnel_ip!;
  const peerNs = `ciao-${cluster}-node-${real[0].id.slice(`${cluster}-node-`.length)}`;
  await waitFor(`${peer.node_id} to flood its segment to ${ip}`, async () => (await floodTargets(peerNs)).includes(ip), { timeoutMs: 15_000 });
  const ev = await expectEvent(tenant.path, new RegExp(`^Instance ${inst.id} lost`), async () => {
    const r = await script('node.sh', ['remove', id, '--force']);
    t.equal(r.exitCode, 0, `node.sh remove --force: ${r.stdout}${r.stderr}`);
  });
  t.match(ev.message, new RegExp(`its node ${id} was removed`));
  t.equal(ev.type, 'error');
  t.notOk((await nodes()).some((n) => n.id === id), 'gone from the nodes');
  await waitFor(`${peer.node_id} to stop flooding to ${ip}`, async () => !(await floodTargets(peerNs)).includes(ip), { timeoutMs: 15_000 });
  t.same((await floodTargets(peerNs)).filter((d) => d === ip), [], `${peer.node_id}'s flood list no longer names ${ip}`);
});
