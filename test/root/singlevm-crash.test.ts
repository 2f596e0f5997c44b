// Needs root: a crash in the middle of verify — the launcher and the controller killed with -9 while
// VMs boot and containers run, then verify itself — and cleanup must still leave nothing: no
// process, container, namespace or link of the cluster, and the host as setup found it.
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { waitFor } from '../../shared/wait-for.ts';
import { REPO_ROOT, pidFiles } from '../../singlevm/processes.ts';
import { clusterLeftovers, diffHostState, snapshotHost } from '../../singlevm/host-state.ts';
import { throwawayCluster } from '../helpers/throwaway-cluster.ts';

const { name, paths, sh, demoEnv } = await throwawayCluster(t, 'crash');
const before = await snapshotHost({ cluster: name, docker: true });

t.test('kill -9 of the launcher and the controller mid-verify, then cleanup leaves nothing', async (t) => {
  const setup = await sh('singlevm/setup.sh', ['--name', name]);
  t.equal(setup.exitCode, 0, `${setup.stdout}\n${setup.stderr}`);

  let output = '';
  const verify = spawn(join(REPO_ROOT, 'singlevm/verify.sh'), [], { env: await demoEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  verify.stdout.on('data', (d) => { output += d; });
  verify.stderr.on('data', (d) => { output += d; });
  const verifyExited = new Promise((resolve) => verify.on('close', resolve));
  // Mid-verify: the instances are up (VMs booting or booted, containers running, CNCI namespaces made).
  await waitFor('verify to have active instances', () => /✓ instances active/.test(output), { timeoutMs: 120_000 });
  const inflight = await clusterLeftovers(name);
  t.ok(inflight.some((l) => /qemu-system/.test(l)), 'QEMU runs');
  t.ok(inflight.some((l) => /cnci-/.test(l)), 'a CNCI namespace exists');

  for (const p of await pidFiles(paths.pids)) {
    if (p.name === 'launcher' || p.name === 'controller') process.kill(p.pid, 'SIGKILL');
  }
  verify.kill('SIGKILL');
  await verifyExited;

  const r = await sh('singlevm/cleanup.sh', ['--name', name]);
  t.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  t.match(r.stdout, /check the host is as before setup/);
  t.same(await clusterLeftovers(name), []);
  t.same(diffHostState(before, await snapshotHost({ cluster: name, docker: true }), { cluster: name }), []);
});
