// `stop`: stop everything of a cluster and keep its state (docs/lifecycle.md) — daemons first (so
// no launcher reports the VMs it loses), then its VMs' QEMUs (their disks stay), dnsmasq and the
// rest, its containers stopped but kept, its namespaces removed, the shared Docker engine released
// when no other cluster uses it — then prove the host is as before setup. setup.sh brings it back.
import { clusterName, scriptArgs } from './script-args.ts';
import { clusterPaths, DEFAULT_CLUSTER, readClusterRecord } from './cluster-files.ts';
import { StepRunner } from './step-runner.ts';
import { docker, hostBefore, hostProblems, inventory, releaseDockerd, removeNamespaces, stopAll } from './teardown.ts';

const USAGE = `usage: stop.sh [--name NAME]

Stops cluster NAME (default ${DEFAULT_CLUSTER}) and keeps its state: its instances, volumes, images,
tenants and credentials. The host is then as before setup. ./singlevm/setup.sh brings it back as it was.`;

const values = scriptArgs('stop', USAGE, { name: { type: 'string' } });
const name = clusterName('stop', USAGE, values.name);
const paths = clusterPaths(name);
const record = await readClusterRecord(name);
if (!record) {
  console.error(`stop: there is no cluster ${name} (${paths.stateDir})`);
  process.exit(1);
}

const steps = new StepRunner(`stop of cluster ${name}`);
try {
  const before = await hostBefore(paths);
  const found = await inventory(name, paths);
  await steps.step(`stop ${found.daemons.size} daemon(s)`, () => stopAll(found.daemons.keys()).then(() => undefined));
  await steps.step(`stop ${found.pids.size} VM and network process(es)`, () => stopAll(found.pids.keys()).then(() => undefined));
  const running = found.containers.filter((c) => c.running);
  await steps.step(`stop ${running.length} container(s), kept`, async () => {
    await Promise.all(running.map((c) => docker.getContainer(c.id).stop({ t: 5 }).catch((err) => {
      if (![304, 404].includes((err as { statusCode?: number }).statusCode ?? 0)) throw err;
    })));
  });
  await steps.step(`remove ${found.namespaces.length} network namespace(s)`, () => removeNamespaces(found));
  await releaseDockerd(found, (n, fn) => steps.step(n, fn));
  await steps.step('check the host is as before setup', async () => {
    const problems = await hostProblems(name, paths, before, { state: true });
    if (problems.length) throw new Error(`the host is not as before:\n  ${problems.join('\n  ')}`);
  });
  console.log(`cluster ${name} is stopped; its state is kept in ${paths.stateDir} (${steps.totalSeconds.toFixed(2)} s)
  ./singlevm/setup.sh${record.mode === 'simulate' ? ' --simulate' : ''}${name === DEFAULT_CLUSTER ? '' : ` --name ${name}`}     brings it back`);
} catch (err) {
  console.error(`stop failed: ${(err as Error).message}`);
  process.exit(1);
}
