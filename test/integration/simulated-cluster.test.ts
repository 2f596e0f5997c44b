// The README's first command, end to end: cleanup → setup --simulate → verify → ciao → cleanup,
// as separate processes, in a throwaway CIAO_HOME; then a crash (kill -9) that cleanup must survive.
import t from 'tap';
import { readFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { run } from '../../shared/run.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { REPO_ROOT, clusterProcesses, pidFiles } from '../../singlevm/processes.ts';
import { clusterPaths } from '../../singlevm/cluster-files.ts';
import { readDemoSh } from '../../singlevm/demo-sh.ts';
import { reapCluster } from '../helpers/cluster-reaper.ts';

const { path: home, remove: removeHome } = tempDir('ciao-home');
const name = `e2e-${randomBytes(3).toString('hex')}`;
const env = { ...process.env, CIAO_HOME: home, CIAO_CLUSTER: name };
const paths = clusterPaths(name, home);
const sh = (script: string, ...args: string[]) => run(join(REPO_ROOT, script), args, { env, allowFailure: true, timeout: 120_000 });
const exists = (p: string) => access(p).then(() => true, () => false);

/** demo.sh's variables, as `. ~/local/demo.sh` would set them. */
async function demoEnv(): Promise<NodeJS.ProcessEnv> {
  return { ...env, ...(await readDemoSh(paths.demoSh)), XDG_CACHE_HOME: join(home, 'cache') };
}
const ciao = async (...args: string[]) => run(join(REPO_ROOT, 'bin/ciao'), args, { env: await demoEnv(), allowFailure: true });

reapCluster(t, { name, home, cleanup: async () => {
  await sh('singlevm/cleanup.sh', '--name', name);
  removeHome();
} });

t.test('setup brings the simulated cluster up and writes demo.sh', async (t) => {
  t.equal((await sh('singlevm/cleanup.sh')).exitCode, 0, 'cleanup with nothing to clean is fine');
  const r = await sh('singlevm/setup.sh', '--simulate', '--nodes', '3', '--name', name);
  t.equal(r.exitCode, 0, r.stderr);
  t.match(r.stdout, /Your cloud is ready: cluster "e2e-\w+" \(simulated: 3 nodes\)/);
  t.match(await readFile(paths.demoSh, 'utf8'), /export CIAO_CONTROLLER='https:\/\/127\.0\.0\.1:\d+'/);
  const again = await sh('singlevm/setup.sh', '--simulate', '--name', name);
  t.equal(again.exitCode, 0, again.stderr);
  t.match(again.stdout, /cluster e2e-\w+ is up and healthy: nothing to do/);
  const real = await sh('singlevm/setup.sh', '--name', name);
  t.equal(real.exitCode, 1, 'a simulated cluster is not resumed as a real one');
  t.match(real.stderr, /is a simulated cluster: resume it as it was set up \(with --simulate\)/);
});

t.test('verify passes and says what a simulated cluster cannot check', async (t) => {
  const r = await run(join(REPO_ROOT, 'singlevm/verify.sh'), [], { env: await demoEnv(), allowFailure: true, timeout: 120_000 });
  t.equal(r.exitCode, 0, r.stderr);
  t.match(r.stdout, /verify passed/);
  t.match(r.stdout, /not checked on this simulated cluster:\n\s+- SSH into the VMs/);
});

t.test('the ciao CLI drives the cluster', async (t) => {
  const workload = (await ciao('list', 'workloads', '-f', '{{range .}}{{.vm_type}} {{.id}}\\n{{end}}')).stdout.split('\n').find((l) => l.startsWith('docker'))!.split(' ')[1];
  const created = await ciao('create', 'instance', '--workload', workload, '--instances', '2', '--json');
  t.equal(created.exitCode, 0, created.stderr);
  const ids = JSON.parse(created.stdout).map((i: { id: string }) => i.id);
  t.equal(ids.length, 2);
  t.equal((await ciao('list', 'nodes', '-f', '{{len .}}')).stdout.trim(), '3');
  const table = (await ciao('list', 'nodes')).stdout.split('\n');
  t.match(table[0], /^ID\s+HOSTNAME\s+KIND\s+STATUS\s+MAINTENANCE\s+ROLE\s+INSTANCES\s+VCPUS\s+MEM FREE\/TOTAL MB\s+DISK FREE\/TOTAL MB\s+LOAD/, 'role, state, maintenance, instances, capacity and kind');
  t.match(table[1], /\bsimulated\s+READY\s+-\s+dual\b/, 'a simulated cluster\'s nodes are dual-role, not cordoned');
  t.same(JSON.parse((await ciao('list', 'nodes', '--json')).stdout).map((n: { kind: string; tunnel_ip: string | null }) => [n.kind, n.tunnel_ip]),
    [['simulated', null], ['simulated', null], ['simulated', null]], 'simulated nodes say so, and have no tunnel endpoint');
  const bad = await ciao('show', 'instance', 'nope');
  t.equal(bad.exitCode, 1);
  t.match(bad.stderr, /ciao: instance nope does not exist/);
  t.equal((await ciao('delete', 'instance', '--all')).exitCode, 0);
});

t.test('after kill -9 of the controller, its keeper starts it again at once, with its state: a request made meanwhile waits for it, and is answered', async (t) => {
  const workload = (await ciao('list', 'workloads', '-f', '{{range .}}{{.vm_type}} {{.id}}\\n{{end}}')).stdout.split('\n').find((l) => l.startsWith('docker'))!.split(' ')[1];
  const created = await ciao('create', 'instance', '--workload', workload, '--json');
  t.equal(created.exitCode, 0, created.stderr);
  const [{ id }] = JSON.parse(created.stdout) as { id: string }[];
  const controller = (await pidFiles(paths.pids)).find((p) => p.name === 'controller')!;
  process.kill(controller.pid, 'SIGKILL');
  // Asked at once: before the new controller listens, the connection waits on the kept socket.
  const meanwhile = await ciao('show', 'instance', id, '-f', '{{.id}}');
  t.same([meanwhile.exitCode, meanwhile.stdout.trim()], [0, id], `asked while the controller was down: answered (${meanwhile.stderr.trim()})`);
  const again = (await pidFiles(paths.pids)).find((p) => p.name === 'controller');
  t.ok(again && again.pid !== controller.pid, 'another controller runs, started by its keeper');
  t.match(await readFile(join(paths.logs, 'controller.out'), 'utf8'), new RegExp(`controller-keeper: the controller \\(pid ${controller.pid}\\) ended with signal KILL: started again`), 'the keeper says so in its log');
  const r = await sh('singlevm/setup.sh', '--simulate', '--name', name);
  t.equal(r.exitCode, 0, r.stderr);
  t.match(r.stdout, /is up and healthy: nothing to do/, 'setup finds the cluster whole');
  t.equal((await ciao('delete', 'instance', '--all')).exitCode, 0);
});

t.test('after kill -9 of identity, its keeper starts it again at once: a login made meanwhile waits for it, and is answered', async (t) => {
  const identity = (await pidFiles(paths.pids)).find((p) => p.name === 'identity')!;
  process.kill(identity.pid, 'SIGKILL');
  // Each ciao command logs in first: asked at once, before the new identity listens, it waits on the kept socket.
  const meanwhile = await ciao('list', 'workloads', '-f', '{{len .}}');
  t.same([meanwhile.exitCode, Number(meanwhile.stdout.trim()) > 0], [0, true], `logged in while identity was down: answered (${meanwhile.stderr.trim()})`);
  const again = (await pidFiles(paths.pids)).find((p) => p.name === 'identity');
  t.ok(again && again.pid !== identity.pid, 'another identity runs, started by its keeper');
  t.match(await readFile(join(paths.logs, 'identity.out'), 'utf8'), new RegExp(`identity-keeper: the identity \\(pid ${identity.pid}\\) ended with signal KILL: started again`), 'the keeper says so in its log');
  const r = await sh('singlevm/setup.sh', '--simulate', '--name', name);
  t.equal(r.exitCode, 0, r.stderr);
  t.match(r.stdout, /is up and healthy: nothing to do/, 'setup finds the cluster whole');
});

t.test('stop.sh stops every process and keeps the state; setup.sh brings it back', async (t) => {
  const workload = (await ciao('list', 'workloads', '-f', '{{range .}}{{.vm_type}} {{.id}}\\n{{end}}')).stdout.split('\n').find((l) => l.startsWith('docker'))!.split(' ')[1];
  const [{ id }] = JSON.parse((await ciao('create', 'instance', '--workload', workload, '--json')).stdout) as { id: string }[];
  const stop = await sh('singlevm/stop.sh', '--name', name);
  t.equal(stop.exitCode, 0, stop.stderr);
  t.match(stop.stdout, new RegExp(`cluster ${name} is stopped; its state is kept[\\s\\S]*setup\\.sh --simulate --name ${name}`));
  t.same(await clusterProcesses(name), [], 'no process of the cluster');
  t.ok(await exists(join(paths.stateDir, 'controller.db')), 'the state is kept');
  const r = await sh('singlevm/setup.sh', '--simulate', '--name', name);
  t.equal(r.exitCode, 0, r.stderr);
  t.match(r.stdout, /Your cloud is back/);
  t.equal((await ciao('show', 'instance', id, '-f', '{{.id}}')).stdout.trim(), id, 'the instance made before the stop is known');
  t.equal((await ciao('delete', 'instance', '--all')).exitCode, 0);
});

t.test('after kill -9 of the controller and the launchers, cleanup leaves nothing', async (t) => {
  const pids = await pidFiles(paths.pids);
  t.same(pids.map((p) => p.name).sort(), ['controller', 'controller-keeper', 'identity', 'identity-keeper', 'launcher', 'scheduler']);
  for (const p of pids.filter((x) => x.name === 'controller' || x.name === 'launcher')) process.kill(p.pid, 'SIGKILL');
  const dry = await sh('singlevm/cleanup.sh', '--name', name, '--dry-run');
  t.match(dry.stdout, /would remove:[\s\S]*process \d+[\s\S]*state dir/);
  t.ok(await exists(paths.stateDir), 'a dry run removes nothing');
  const r = await sh('singlevm/cleanup.sh', '--name', name);
  t.equal(r.exitCode, 0, r.stderr);
  t.match(r.stdout, /nothing of it is left on this host/);
  t.same(await clusterProcesses(name), []);
  t.notOk(await exists(paths.stateDir));
  t.notOk(await exists(paths.demoSh));
});
