// `stop`: stop everything of a cluster and keep its state (docs/lifecycle.md) — daemons first (so
// no launcher reports the VMs it loses), then its VMs' QEMUs (their disks stay), dnsmasq and the
// rest, its containers stopped but kept, its namespaces removed, the shared Docker engine released
// when no other cluster uses it — then prove the host is as before setup. setup.sh brings it back.
import { clusterName, scriptArgs } from './script-args.ts';
import { clusterPaths, DEFAULT_CLUSTER, readClusterRecord } from './cluster-files.ts';
import { StepRunner } from './step-runner.ts';
import { runFlow } from './flow.ts';
import { hostBefore, inventory } from './teardown.ts';
import { STOP_FLOW } from './teardown-flows.ts';

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
  // The host as setup found it, read before anything stops.
  const before = await hostBefore(paths);
  await runFlow(steps, STOP_FLOW, { name, paths, found: await inventory(name, paths), before });
  console.log(`cluster ${name} is stopped; its state is kept in ${paths.stateDir} (${steps.totalSeconds.toFixed(2)} s)
  ./singlevm/setup.sh${record.mode === 'simulate' ? ' --simulate' : ''}${name === DEFAULT_CLUSTER ? '' : ` --name ${name}`}     brings it back`);
} catch (err) {
  console.error(`stop failed: ${(err as Error).message}`);
  process.exit(1);
}
