// `cleanup`: tear down what a cluster left, found from its state dir and by name (so it works after
// a crash of any component or of setup itself), then prove the host is as setup found it.
// Idempotent; `--dry-run` only lists.
import { rm } from 'node:fs/promises';
import { clusterName, scriptArgs } from './script-args.ts';
import { clusterPaths, DEFAULT_CLUSTER } from './cluster-files.ts';
import { StepRunner } from './step-runner.ts';
import { buildDir } from './build-daemons.ts';
import { docker, hostBefore, hostProblems, inventory, releaseDockerd, removeNamespaces, stopAll } from './teardown.ts';

const USAGE = `usage: cleanup.sh [--name NAME] [--dry-run]

Removes everything of cluster NAME (default ${DEFAULT_CLUSTER}) from this host — its processes, containers,
network namespaces and state — then checks the host is as setup found it. (stop.sh keeps the state.)`;

const values = scriptArgs('cleanup', USAGE, { name: { type: 'string' }, 'dry-run': { type: 'boolean', default: false } });
const name = clusterName('cleanup', USAGE, values.name);
const paths = clusterPaths(name);

const found = await inventory(name, paths);
if (values['dry-run']) {
  console.log(`cleanup of cluster ${name} would remove:`);
  for (const c of found.containers) console.log(`  container ${c.name}`);
  for (const [pid, what] of [...found.daemons, ...found.pids]) console.log(`  process ${pid} (${what})`);
  for (const ns of found.namespaces) console.log(`  network namespace ${ns}`);
  if (found.stateDir) console.log(`  state dir ${paths.stateDir}`);
  if (found.build) console.log(`  daemon bundles ${buildDir(name)}`);
  if (found.demoSh) console.log(`  ${paths.demoSh}`);
  if (!found.daemons.size && !found.pids.size && !found.containers.length && !found.namespaces.length && !found.stateDir && !found.build && !found.demoSh) {
    console.log('  nothing: the host is clean');
  }
  process.exit(0);
}

const steps = new StepRunner(`cleanup of cluster ${name}`);
try {
  // Read before the state dir goes: the host as setup found it.
  const before = await hostBefore(paths);
  // Containers first, while the Docker engine (maybe the cluster's own) still answers.
  await steps.step(`remove ${found.containers.length} container(s)`, async () => {
    await Promise.all(found.containers.map((c) => docker.getContainer(c.id).remove({ force: true }).catch((err) => {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    })));
  });
  await steps.step(`stop ${found.daemons.size + found.pids.size} process(es)`, () => stopAll([...found.daemons.keys(), ...found.pids.keys()]).then(() => undefined));
  await steps.step(`remove ${found.namespaces.length} network namespace(s)`, () => removeNamespaces(found));
  await releaseDockerd(found, (n, fn) => steps.step(n, fn));
  await steps.step('remove state', async () => {
    await rm(paths.stateDir, { recursive: true, force: true });
    await rm(buildDir(name), { recursive: true, force: true });
    if (found.demoSh) await rm(paths.demoSh, { force: true });
  });
  await steps.step(before ? 'check the host is as before setup' : 'check nothing of the cluster is left', async () => {
    const problems = await hostProblems(name, paths, before, { state: false });
    if (problems.length) throw new Error(`the host is not as before:\n  ${problems.join('\n  ')}`);
  });
  console.log(`cluster ${name} is gone; nothing of it is left on this host (${steps.totalSeconds.toFixed(2)} s)`);
} catch (err) {
  console.error(`cleanup failed: ${(err as Error).message}`);
  process.exit(1);
}
