// `cleanup`: tear down what a cluster left, found from its state dir and by name (so it works after
// a crash of any component or of setup itself), then prove the host is as setup found it.
// Idempotent; `--dry-run` only lists.
import { clusterName, scriptArgs } from './script-args.ts';
import { clusterPaths, DEFAULT_CLUSTER } from './cluster-files.ts';
import { StepRunner } from './step-runner.ts';
import { buildDir } from './build-daemons.ts';
import { runFlow } from './flow.ts';
import { hostBefore, inventory } from './teardown.ts';
import { CLEANUP_FLOW } from './teardown-flows.ts';

const USAGE = `usage: cleanup.sh [--name NAME] [--dry-run] [--timings FILE]

Removes everything of cluster NAME (default ${DEFAULT_CLUSTER}) from this host — its processes, containers,
network namespaces and state — then checks the host is as setup found it. (stop.sh keeps the state.)
  --timings FILE    also write the step timings as JSON to FILE`;

const values = scriptArgs('cleanup', USAGE, { name: { type: 'string' }, 'dry-run': { type: 'boolean', default: false }, timings: { type: 'string' } });
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
  await runFlow(steps, CLEANUP_FLOW, { name, paths, found, before: await hostBefore(paths) });
  console.log(`cluster ${name} is gone; nothing of it is left on this host (${steps.totalSeconds.toFixed(2)} s)`);
  if (values.timings) await steps.writeJson(values.timings);
} catch (err) {
  console.error(`cleanup failed: ${(err as Error).message}`);
  process.exit(1);
}
