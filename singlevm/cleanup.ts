// `cleanup`: tear down what a cluster left, found from its record and by name (so it works after a
// crash), then prove nothing of it is left. Idempotent; `--dry-run` only lists.
import { parseArgs } from 'node:util';
import { rm, access, readFile } from 'node:fs/promises';
import { clusterPaths, DEFAULT_CLUSTER, validClusterName } from './cluster-files.ts';
import { clusterProcesses, isAlive, pidFiles, stopProcess } from './processes.ts';
import { StepRunner } from './step-runner.ts';
import { buildDir } from './build-daemons.ts';

const USAGE = `usage: cleanup.sh [--name NAME] [--dry-run]

Stops every process of cluster NAME (default ${DEFAULT_CLUSTER}) and removes its state, then checks the host is clean.`;

const { values } = parseArgs({
  options: {
    name: { type: 'string', default: process.env.CIAO_CLUSTER || DEFAULT_CLUSTER },
    'dry-run': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const name = values.name!;
if (!validClusterName(name)) {
  console.error(`cleanup: cluster name ${JSON.stringify(name)} is not valid\n\n${USAGE}`);
  process.exit(2);
}
const paths = clusterPaths(name);
const exists = (p: string) => access(p).then(() => true, () => false);

/** Everything of this cluster on the host: processes (by pid file and by name), state dir, demo.sh. */
async function inventory() {
  const byPidFile = (await pidFiles(paths.pids)).filter((p) => isAlive(p.pid));
  const byName = await clusterProcesses(name);
  const pids = new Map<number, string>();
  for (const p of byPidFile) pids.set(p.pid, p.name);
  for (const p of byName) if (!pids.has(p.pid)) pids.set(p.pid, p.cmdline.slice(0, 100));
  const demoSh = (await exists(paths.demoSh)) && (await readFile(paths.demoSh, 'utf8')).includes(`CIAO_CLUSTER='${name}'`);
  return { pids, stateDir: await exists(paths.stateDir), build: await exists(buildDir(name)), demoSh };
}

const found = await inventory();
if (values['dry-run']) {
  console.log(`cleanup of cluster ${name} would remove:`);
  for (const [pid, what] of found.pids) console.log(`  process ${pid} (${what})`);
  if (found.stateDir) console.log(`  state dir ${paths.stateDir}`);
  if (found.build) console.log(`  daemon bundles ${buildDir(name)}`);
  if (found.demoSh) console.log(`  ${paths.demoSh}`);
  if (!found.pids.size && !found.stateDir && !found.build && !found.demoSh) console.log('  nothing: the host is clean');
  process.exit(0);
}

const steps = new StepRunner(`cleanup of cluster ${name}`);
try {
  await steps.step(`stop ${found.pids.size} process(es)`, async () => {
    await Promise.all([...found.pids.keys()].map((pid) => stopProcess(pid)));
  });
  await steps.step('remove state', async () => {
    await rm(paths.stateDir, { recursive: true, force: true });
    await rm(buildDir(name), { recursive: true, force: true });
    if (found.demoSh) await rm(paths.demoSh, { force: true });
  });
  await steps.step('check the host is clean', async () => {
    const left = await inventory();
    const problems = [
      ...[...left.pids].map(([pid, what]) => `process ${pid} (${what})`),
      ...(left.stateDir ? [`state dir ${paths.stateDir}`] : []),
      ...(left.build ? [`daemon bundles ${buildDir(name)}`] : []),
      ...(left.demoSh ? [paths.demoSh] : []),
    ];
    if (problems.length) throw new Error(`still on the host: ${problems.join(', ')}`);
  });
  console.log(`cluster ${name} is gone; nothing of it is left on this host (${steps.totalSeconds.toFixed(2)} s)`);
} catch (err) {
  console.error(`cleanup failed: ${(err as Error).message}`);
  process.exit(1);
}
