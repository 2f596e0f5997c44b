// The controller killed (SIGKILL) at a random moment of a burst of creates on a simulated cluster
// at scale, and resumed by setup as a user would (docs/durability.md, "At scale"); with `--kill`,
// the scheduler instead, or both at once. Afterwards: every create answered is there; every
// instance ends active on a node; what the nodes say they run is what the controller says is on
// them (none left pending with no node, none run twice or by no one's account). Prints what it
// saw; exits 1 when a check fails.
//   npm run chaos:scale -- [--nodes 2000] [--instances 10000] [--seed N]
//                          [--kill controller|scheduler|scheduler,controller] [--name chaos-scale] [--keep]
import { parseArgs } from 'node:util';
import { setTimeout as delay } from 'node:timers/promises';
import { join } from 'node:path';
import { run } from '../shared/run.ts';
import { waitFor } from '../shared/wait-for.ts';
import { seededRandom } from '../shared/seeded-random.ts';
import { ControllerError } from '../shared/controller-client.ts';
import { clusterPaths } from '../singlevm/cluster-files.ts';
import { pidFiles } from '../singlevm/pid-files.ts';
import { REPO_ROOT } from '../singlevm/processes.ts';
import type { Instance } from '../controller/api-types.ts';
import { clusterClients, subnetFor, type Clients } from './bench-load.ts';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '2000' }, instances: { type: 'string', default: '10000' },
    seed: { type: 'string' }, kill: { type: 'string', default: 'controller' },
    name: { type: 'string', default: 'chaos-scale' }, keep: { type: 'boolean', default: false },
  },
});
const nodes = Number(values.nodes);
const instances = Number(values.instances);
if (![nodes, instances].every((n) => Number.isInteger(n) && n > 0)) throw new Error('--nodes and --instances take whole numbers above 0');
const seed = Number(values.seed) || Date.now() % 1_000_000;
const KILLABLE = ['controller', 'scheduler', 'scheduler,controller'];
if (!KILLABLE.includes(values.kill!)) throw new Error(`--kill takes ${KILLABLE.join(' or ')}, not ${values.kill}`);
/** What is killed, at once. */
const victims = values.kill!.split(',');
const name = values.name!;
const paths = clusterPaths(name);
const tsx = (script: string, ...args: string[]) => run(process.execPath, ['--import', 'tsx', join(REPO_ROOT, script), ...args], { cwd: REPO_ROOT });
const setup = () => tsx('singlevm/setup.ts', '--simulate', '--nodes', String(nodes), '--name', name);
const cleanup = () => tsx('singlevm/cleanup.ts', '--name', name);

/** Seeded, so that a failing moment can be replayed (--seed). */
const random = seededRandom(seed);

const failures: string[] = [];
const check = (ok: boolean, what: string) => {
  console.log(`${ok ? 'ok    ' : 'FAILED'} ${what}`);
  if (!ok) failures.push(what);
};

const WORKERS = 4;
/** Creates in batches of 100 by 4 workers until `instances` were answered; a request the kill cut
 *  (no answer, or 503 while the controller comes back) is asked again after a pause. Any other
 *  answer (a 4xx) ends the run: asking again would get it again. */
async function creates(c: Clients, workload: string, answered: Set<string>): Promise<number> {
  let asked = 0;
  let cut = 0;
  const worker = async () => {
    while (asked < instances) {
      const count = Math.min(100, instances - asked);
      asked += count;
      for (;;) {
        try {
          const made = await c.user.call<{ instances: Instance[] }>('POST', `/tenants/${c.tenant}/instances`, { workload_id: workload, count });
          for (const i of made.instances) answered.add(i.id);
          break;
        } catch (err) {
          if (err instanceof ControllerError && err.status >= 400 && err.status < 500) throw err;
          const busy = err instanceof ControllerError && err.status === 503;
          if (!busy) cut++;
          // Pacing a retry (the controller is down or shedding), not waiting for a condition.
          await delay(busy && err.retryAfterSeconds !== undefined ? err.retryAfterSeconds * 1000 : 250);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, worker));
  return cut;
}

/** Kills the victims once `at` creates were answered, and resumes the cluster with setup. */
async function kill(answered: Set<string>, at: number): Promise<{ resumeSeconds: number }> {
  await waitFor(`${at} creates to be answered`, () => answered.size >= at, { timeoutMs: 300_000, intervalMs: 2 });
  const pids = await pidFiles(paths.pids);
  const found = victims.map((v) => pids.find((p) => p.name === v) ?? v);
  const missing = found.filter((p) => typeof p === 'string');
  if (missing.length) throw new Error(`no pid file of ${missing.join(', ')}`);
  for (const p of found) if (typeof p !== 'string') process.kill(p.pid, 'SIGKILL');
  const t0 = performance.now();
  await setup();
  return { resumeSeconds: (performance.now() - t0) / 1000 };
}

console.log(`chaos:scale seed ${seed} (--seed ${seed} replays the moment), ${nodes} simulated nodes, ${instances} instances, kills ${victims.join(' and ')}`);
await cleanup();
try {
  await setup();
  const c = await clusterClients(paths.demoSh);
  try {
    // Room for the creates the kill cut after they were saved, each asked again (a batch a worker).
    await subnetFor(c, instances + WORKERS * 100);
    const { workloads } = await c.user.call<{ workloads: { id: string; vm_type: string }[] }>('GET', `/tenants/${c.tenant}/workloads`);
    const workload = workloads.find((w) => w.vm_type === 'docker')!.id;
    const answered = new Set<string>();
    // Somewhere in the burst of creates, or just after its last answer while the instances start.
    const killAt = Math.max(1, Math.round((0.05 + random() * 0.95) * instances));
    const [cut, killed] = await Promise.all([creates(c, workload, answered), kill(answered, killAt)]);
    console.log(`killed the ${victims.join(' and the ')} once ${killAt} creates were answered; setup resumed it in ${killed.resumeSeconds.toFixed(1)} s; ${cut} requests cut, asked again`);

    const list = async () => (await c.user.call<{ instances: Instance[] }>('GET', `/tenants/${c.tenant}/instances`)).instances;
    const settled = await waitFor('every instance to be active', async () => {
      const all = await list();
      return all.every((i) => i.state === 'active') ? all : undefined;
    }, { timeoutMs: 120_000, intervalMs: 500 }).catch(async () => list());
    const byState = new Map<string, number>();
    for (const i of settled) byState.set(`${i.state}${i.node_id ? '' : ' (no node)'}`, (byState.get(`${i.state}${i.node_id ? '' : ' (no node)'}`) ?? 0) + 1);
    console.log(`instances: ${[...byState].map(([s, n]) => `${n} ${s}`).join(', ')}`);
    const listed = new Set(settled.map((i) => i.id));
    const lost = [...answered].filter((id) => !listed.has(id));
    check(lost.length === 0, `every create the controller answered is there (${answered.size} answered, ${lost.length} lost${lost.length ? `: ${lost.slice(0, 5).join(', ')}` : ''})`);
    check(settled.length >= answered.size, `no fewer instances than answered (${settled.length}; more is a create saved whose answer the kill cut)`);
    check(settled.every((i) => i.state === 'active' && i.node_id), 'every instance is active, on a node');

    // What each node says it runs (its STATS) against what the controller has on it, CNCIs
    // included: a START run twice, or one the controller lost track of, shows here.
    const { nodes: infos } = await c.admin.call<{ nodes: { id: string; instance_count?: number }[] }>('GET', '/nodes');
    let mismatch: string[] = [];
    await waitFor('the nodes\' reports to agree with the controller', async () => {
      const now = (await c.admin.call<{ nodes: { id: string; instance_count?: number }[] }>('GET', '/nodes')).nodes;
      mismatch = [];
      for (const n of now) {
        const held = (await c.admin.call<{ instances: Instance[] }>('GET', `/nodes/${n.id}/instances`)).instances.length;
        if ((n.instance_count ?? 0) !== held) mismatch.push(`${n.id}: runs ${n.instance_count ?? 0}, controller has ${held}`);
      }
      return mismatch.length === 0;
    }, { timeoutMs: 30_000, intervalMs: 1000 }).catch(() => undefined);
    check(mismatch.length === 0, `on each of the ${infos.length} nodes, what it runs is what the controller has there${mismatch.length ? `: ${mismatch.slice(0, 5).join('; ')}` : ''}`);
  } finally {
    await c.dispatcher.close();
  }
} finally {
  if (values.keep) console.log(`kept cluster ${name} (--keep): ./singlevm/cleanup.sh --name ${name} removes it`);
  else await cleanup();
}
if (failures.length) {
  console.log(`chaos:scale: ${failures.length} check(s) failed (seed ${seed})`);
  process.exitCode = 1;
} else console.log('chaos:scale: all checks passed');
