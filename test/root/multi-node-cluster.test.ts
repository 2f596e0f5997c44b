// Needs root: a real cluster of two nodes (`setup.sh --nodes 2`). Each node has its namespace, leg,
// launcher and share of the host, and says it is real with its tunnel endpoint; verify passes with
// its cross-node step (a VM on a node other than its CNCI's, a container on another node reaching
// it); a launcher that dies is brought back alone by setup; stop and resume keep both nodes; cleanup
// leaves nothing and its host proof passes.
import t from 'tap';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { run } from '../../shared/run.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { readPidFile } from '../../shared/pid-file.ts';
import { REPO_ROOT } from '../../singlevm/processes.ts';
import { clusterPaths } from '../../singlevm/cluster-files.ts';
import { clusterLeftovers } from '../../singlevm/host-state.ts';
import { listNamespaces } from '../../network/namespaces.ts';

const { path: home, remove: removeHome } = tempDir('ciao-multi');
process.env.CIAO_HOME = home;
const name = `mn${randomBytes(2).toString('hex')}`;
const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CIAO_') || k === 'CIAO_TIMEOUT_SCALE'));
env.CIAO_HOME = home;
const sh = (script: string, args: string[]) => run(join(REPO_ROOT, script), [...args, '--name', name], { env, allowFailure: true, timeout: 900_000 });
const paths = clusterPaths(name, home);
t.teardown(async () => {
  await sh('singlevm/cleanup.sh', []);
  removeHome();
});

/** `ciao list nodes --json` as the cluster's admin (its demo.sh). */
async function nodes(): Promise<{ id: string; kind: string; tunnel_ip: string | null; status: string; mem_total_mb: number }[]> {
  const r = await run('bash', ['-c', `. ${paths.demoSh} && ciao list nodes --json`], { env });
  return JSON.parse(r.stdout);
}

t.test('setup --nodes 2: two namespaces, two launchers, two real nodes with their endpoints and half the host each', async (t) => {
  const r = await sh('singlevm/setup.sh', ['--nodes', '2']);
  t.equal(r.exitCode, 0, `setup: ${r.stdout}\n${r.stderr}`);
  t.match(r.stdout, /real: 2 nodes/);
  const namespaces = await listNamespaces();
  for (const i of [0, 1]) t.ok(namespaces.includes(`ciao-${name}-node-${i}`), `namespace of node ${i}`);
  const listed = (await nodes()).sort((a, b) => a.id.localeCompare(b.id));
  t.same(listed.map((n) => [n.id, n.kind, n.tunnel_ip, n.status]),
    [[`${name}-node-0`, 'real', '198.51.100.10', 'READY'], [`${name}-node-1`, 'real', '198.51.100.11', 'READY']]);
  t.equal(listed[0].mem_total_mb, listed[1].mem_total_mb, 'equal shares');
});

t.test('verify passes, its cross-node step included', async (t) => {
  const r = await sh('singlevm/verify.sh', []);
  t.equal(r.exitCode, 0, `verify: ${r.stdout}\n${r.stderr}`);
  t.match(r.stdout, /across nodes: CNCI, VM and container, external IP, isolation\s+[\d.]+ s\s+ok/);
});

t.test("a node's launcher that dies is brought back alone by setup", async (t) => {
  const pid = await readPidFile(join(paths.pids, 'launcher-1.pid'));
  t.ok(pid, 'launcher-1 runs');
  process.kill(pid!, 'SIGKILL');
  const r = await sh('singlevm/setup.sh', []);
  t.equal(r.exitCode, 0, `setup: ${r.stdout}\n${r.stderr}`);
  t.match(r.stdout, /missing: daemon launcher-1\)/);
  t.match(r.stdout, /started again: 1 of 2/);
});

t.test('stop, then setup resumes both nodes', async (t) => {
  t.equal((await sh('singlevm/stop.sh', [])).exitCode, 0);
  t.same((await listNamespaces()).filter((n) => n.startsWith(`ciao-${name}-`)), [], 'stopped: no namespace');
  const r = await sh('singlevm/setup.sh', []);
  t.equal(r.exitCode, 0, `setup: ${r.stdout}\n${r.stderr}`);
  t.match(r.stdout, /resumed/);
  t.same((await nodes()).map((n) => n.status), ['READY', 'READY']);
});

t.test('cleanup leaves nothing of either node, and its host proof passes', async (t) => {
  const r = await sh('singlevm/cleanup.sh', []);
  t.equal(r.exitCode, 0, `cleanup: ${r.stdout}\n${r.stderr}`);
  t.same(await clusterLeftovers(name), []);
});
