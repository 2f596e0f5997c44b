// `cleanup`: tear down what a cluster left, found from its state dir and by name (so it works after
// a crash of any component or of setup itself), then prove the host is as setup found it.
// Idempotent; `--dry-run` only lists.
import { clusterName, scriptArgs } from './script-args.ts';
import { rm, access, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import Docker from 'dockerode';
import { DOCKER_SOCKET, SHARED_DOCKERD_PIDFILE } from '../shared/dockerd.ts';
import { clusterNamespaces, clusterOfNamespace, deleteNamespace, listNamespaces } from '../network/namespaces.ts';
import { clusterPaths, DEFAULT_CLUSTER } from './cluster-files.ts';
import { clusterProcesses, isAlive, pidFiles, stopProcess } from './processes.ts';
import { StepRunner } from './step-runner.ts';
import { buildDir } from './build-daemons.ts';
import { clusterLeftovers, diffHostState, readHostState, snapshotHost } from './host-state.ts';

const USAGE = `usage: cleanup.sh [--name NAME] [--dry-run]

Removes everything of cluster NAME (default ${DEFAULT_CLUSTER}) from this host — its processes, containers,
network namespaces and state — then checks the host is as setup found it.`;

const values = scriptArgs('cleanup', USAGE, { name: { type: 'string' }, 'dry-run': { type: 'boolean', default: false } });
const name = clusterName('cleanup', USAGE, values.name);
const paths = clusterPaths(name);
const exists = (p: string) => access(p).then(() => true, () => false);
const docker = new Docker({ socketPath: DOCKER_SOCKET });

/** Everything of this cluster on the host: processes, containers, namespaces, state dir, demo.sh. */
async function inventory() {
  const pids = new Map<number, string>();
  for (const p of await pidFiles(paths.pids)) if (isAlive(p.pid)) pids.set(p.pid, p.name);
  for (const p of await clusterProcesses(name, paths.stateDir)) if (!pids.has(p.pid)) pids.set(p.pid, p.cmdline.slice(0, 100));
  const dockerAnswers = await docker.ping().then(() => true, () => false);
  const containers = dockerAnswers
    ? (await docker.listContainers({ all: true, filters: { label: [`ciao.cluster=${name}`] } })).map((c) => ({ id: c.Id, name: c.Names[0]?.slice(1) ?? c.Id }))
    : [];
  // The engine a setup started (older clusters kept its pid in their own state), stopped only when
  // no other cluster is left to use it.
  const startedDockerd = [await pidIn(SHARED_DOCKERD_PIDFILE), (await pidFiles(paths.pids)).find((p) => p.name === 'dockerd')?.pid]
    .find((pid) => pid !== undefined && isAlive(pid));
  const otherClusters = await clustersBesides(name, dockerAnswers);
  const ourDockerd = otherClusters.length ? undefined : startedDockerd;
  const demoSh = (await exists(paths.demoSh)) && (await readFile(paths.demoSh, 'utf8')).includes(`CIAO_CLUSTER='${name}'`);
  return {
    pids, containers, ourDockerd, keptDockerd: otherClusters.length && startedDockerd ? otherClusters : undefined, namespaces: await clusterNamespaces(name),
    stateDir: await exists(paths.stateDir), build: await exists(buildDir(name)), demoSh,
  };
}

/** The pid a pid file names, if it names one. */
async function pidIn(file: string): Promise<number | undefined> {
  const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
  return Number.isInteger(pid) && pid > 1 ? pid : undefined;
}

/** The other clusters on this host, by their namespaces and their containers' labels. */
async function clustersBesides(cluster: string, dockerAnswers: boolean): Promise<string[]> {
  const names = new Set((await listNamespaces()).map(clusterOfNamespace).filter((c): c is string => !!c));
  if (dockerAnswers) for (const c of await docker.listContainers({ all: true, filters: { label: ['ciao.cluster'] } })) names.add(c.Labels['ciao.cluster']);
  names.delete(cluster);
  return [...names].sort();
}

const found = await inventory();
if (values['dry-run']) {
  console.log(`cleanup of cluster ${name} would remove:`);
  for (const c of found.containers) console.log(`  container ${c.name}`);
  for (const [pid, what] of found.pids) console.log(`  process ${pid} (${what})`);
  for (const ns of found.namespaces) console.log(`  network namespace ${ns}`);
  if (found.stateDir) console.log(`  state dir ${paths.stateDir}`);
  if (found.build) console.log(`  daemon bundles ${buildDir(name)}`);
  if (found.demoSh) console.log(`  ${paths.demoSh}`);
  if (!found.pids.size && !found.containers.length && !found.namespaces.length && !found.stateDir && !found.build && !found.demoSh) {
    console.log('  nothing: the host is clean');
  }
  process.exit(0);
}

const steps = new StepRunner(`cleanup of cluster ${name}`);
try {
  // Read before the state dir goes: the host as setup found it.
  const before = await readHostState(paths.hostBefore).catch(() => undefined);
  // Containers first, while the Docker engine (maybe the cluster's own) still answers.
  await steps.step(`remove ${found.containers.length} container(s)`, async () => {
    await Promise.all(found.containers.map((c) => docker.getContainer(c.id).remove({ force: true }).catch((err) => {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    })));
  });
  const others = [...found.pids.keys()].filter((pid) => pid !== found.ourDockerd);
  await steps.step(`stop ${others.length} process(es)`, async () => {
    await Promise.all(others.map((pid) => stopProcess(pid)));
  });
  await steps.step(`remove ${found.namespaces.length} network namespace(s)`, async () => {
    // Deleting a namespace takes its links (bridges, veths, taps, VXLANs) and iptables rules with it.
    for (const ns of found.namespaces) await deleteNamespace(ns);
  });
  if (found.ourDockerd) {
    await steps.step('stop the Docker engine setup started', async () => {
      await stopProcess(found.ourDockerd!, 20_000);
      await rm(dirname(SHARED_DOCKERD_PIDFILE), { recursive: true, force: true });
    });
  }
  else if (found.keptDockerd) console.log(`  the Docker engine setup started stays: cluster ${found.keptDockerd.join(', ')} still uses it`);
  await steps.step('remove state', async () => {
    await rm(paths.stateDir, { recursive: true, force: true });
    await rm(buildDir(name), { recursive: true, force: true });
    if (found.demoSh) await rm(paths.demoSh, { force: true });
  });
  await steps.step(before ? 'check the host is as before setup' : 'check nothing of the cluster is left', async () => {
    const left = await inventory();
    const problems = [
      ...[...left.pids].map(([pid, what]) => `process ${pid} (${what})`),
      ...left.containers.map((c) => `container ${c.name}`),
      ...left.namespaces.map((ns) => `network namespace ${ns}`),
      ...(left.stateDir ? [`state dir ${paths.stateDir}`] : []),
      ...(left.build ? [`daemon bundles ${buildDir(name)}`] : []),
      ...(left.demoSh ? [paths.demoSh] : []),
      ...await clusterLeftovers(name),
      ...(before ? diffHostState(before, await snapshotHost({ cluster: name, docker: true }), { cluster: name }) : []),
    ];
    if (problems.length) throw new Error(`the host is not as before:\n  ${[...new Set(problems)].join('\n  ')}`);
  });
  console.log(`cluster ${name} is gone; nothing of it is left on this host (${steps.totalSeconds.toFixed(2)} s)`);
} catch (err) {
  console.error(`cleanup failed: ${(err as Error).message}`);
  process.exit(1);
}
