// Needs root: two real clusters side by side on one host, one name a prefix of the other (`twoX`
// and `twoX-b`). Both come up, both verify at once, the first is cleaned up while the second keeps
// working (its processes, namespaces, containers and the shared Docker engine are left alone), and
// each cleanup's host proof passes: it counts the other cluster's things as none of its changes.
import t from 'tap';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { run } from '../../shared/run.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { REPO_ROOT } from '../../singlevm/processes.ts';
import { clusterLeftovers, diffHostState, snapshotHost } from '../../singlevm/host-state.ts';

const { path: home, remove: removeHome } = tempDir('ciao-two');
process.env.CIAO_HOME = home;
const a = `two${randomBytes(3).toString('hex')}`;
const b = `${a}-b`;
// Only --name says which cluster: no CIAO_* of another cluster in the environment.
const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CIAO_') || k === 'CIAO_TIMEOUT_SCALE'));
env.CIAO_HOME = home;
const sh = (script: string, args: string[]) => run(join(REPO_ROOT, script), args, { env, allowFailure: true, timeout: 900_000 });
const before = await snapshotHost({ cluster: a, docker: true });
t.teardown(async () => {
  for (const name of [b, a]) await sh('singlevm/cleanup.sh', ['--name', name]);
  removeHome();
});

t.test('both clusters come up, the second beside the first', async (t) => {
  for (const name of [a, b]) {
    const r = await sh('singlevm/setup.sh', ['--name', name]);
    t.equal(r.exitCode, 0, `setup --name ${name}: ${r.stdout}\n${r.stderr}`);
  }
});

t.test('both verify at the same time, each through --name', async (t) => {
  const [ra, rb] = await Promise.all([sh('singlevm/verify.sh', ['--name', a]), sh('singlevm/verify.sh', ['--name', b])]);
  t.equal(ra.exitCode, 0, `verify --name ${a}: ${ra.stdout}\n${ra.stderr}`);
  t.equal(rb.exitCode, 0, `verify --name ${b}: ${rb.stdout}\n${rb.stderr}`);
});

t.test(`cleaning up ${a} leaves ${b} whole, and its host proof passes`, async (t) => {
  const bBefore = await clusterLeftovers(b);
  const r = await sh('singlevm/cleanup.sh', ['--name', a]);
  t.equal(r.exitCode, 0, `cleanup --name ${a}: ${r.stdout}\n${r.stderr}`);
  t.same(await clusterLeftovers(a), [], `nothing of ${a} is left`);
  t.same(await clusterLeftovers(b), bBefore, `every namespace, container and process of ${b} is still there`);
  const again = await sh('singlevm/verify.sh', ['--name', b]);
  t.equal(again.exitCode, 0, `${b} still verifies (its Docker engine was kept): ${again.stdout}\n${again.stderr}`);
});

t.test(`cleaning up ${b} too leaves the host as it was`, async (t) => {
  const r = await sh('singlevm/cleanup.sh', ['--name', b]);
  t.equal(r.exitCode, 0, `cleanup --name ${b}: ${r.stdout}\n${r.stderr}`);
  t.same(diffHostState(before, await snapshotHost({ cluster: b, docker: true }), { cluster: b }), [], 'namespaces, links, addresses, routes, firewall and containers as before');
});
