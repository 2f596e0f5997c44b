// What stop and cleanup share: finding everything of a cluster on the host (from its state dir and
// by name, so it works after a crash), stopping its processes, removing its namespaces, releasing
// the shared Docker engine, and the host proof at the end.
import { access, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import Docker from 'dockerode';
import { DOCKER_SOCKET, SHARED_DOCKERD_PIDFILE, stopDockerd } from '../shared/dockerd.ts';
import { clusterNamespaces, clusterOfNamespace, deleteNamespace, listNamespaces } from '../network/namespaces.ts';
import type { clusterPaths } from './cluster-files.ts';
import { readPidFile } from '../shared/pid-file.ts';
import { clusterProcesses, pidFiles, stopProcess } from './processes.ts';
import { buildDir, DAEMON_ENTRIES } from './build-daemons.ts';
import { clusterLeftovers, diffHostState, readHostState, snapshotHost, type HostState } from './host-state.ts';

type Paths = ReturnType<typeof clusterPaths>;
const exists = (p: string) => access(p).then(() => true, () => false);
export const docker = new Docker({ socketPath: DOCKER_SOCKET });

/** The other clusters on this host, by their namespaces and their containers' labels. */
async function clustersBesides(cluster: string, dockerAnswers: boolean): Promise<string[]> {
  const names = new Set((await listNamespaces()).map(clusterOfNamespace).filter((c): c is string => !!c));
  if (dockerAnswers) for (const c of await docker.listContainers({ all: true, filters: { label: ['ciao.cluster'] } })) names.add(c.Labels['ciao.cluster']);
  names.delete(cluster);
  return [...names].sort();
}

export type Inventory = Awaited<ReturnType<typeof inventory>>;

/** Everything of the cluster on the host: processes (the daemons apart), containers, namespaces, state dir, demo.sh. */
export async function inventory(name: string, paths: Paths) {
  const pids = new Map<number, string>();
  const daemons = new Map<number, string>();
  for (const p of await pidFiles(paths.pids)) {
    // Node i's launcher (launcher-<i>, a cluster of several real nodes), the simulated nodes'
    // beside them (launcher-sim) and the controller's keeper are stopped with the daemons: a keeper
    // told to stop at the same moment as its daemon does not start it again.
    if (p.name in DAEMON_ENTRIES || /^launcher-(\d+|sim)$|-keeper$/.test(p.name)) daemons.set(p.pid, p.name);
    else pids.set(p.pid, p.name);
  }
  for (const p of await clusterProcesses(name, paths.stateDir)) if (!pids.has(p.pid) && !daemons.has(p.pid)) pids.set(p.pid, p.cmdline.slice(0, 100));
  const dockerAnswers = await docker.ping().then(() => true, () => false);
  const containers = dockerAnswers
    ? (await docker.listContainers({ all: true, filters: { label: [`ciao.cluster=${name}`] } })).map((c) => ({ id: c.Id, name: c.Names[0]?.slice(1) ?? c.Id, running: c.State === 'running' }))
    : [];
  // The engine a setup started (older clusters kept its pid in their own state), stopped only when
  // no other cluster is left to use it.
  const startedDockerd = await readPidFile(SHARED_DOCKERD_PIDFILE) ?? (await pidFiles(paths.pids)).find((p) => p.name === 'dockerd')?.pid;
  const otherClusters = await clustersBesides(name, dockerAnswers);
  if (startedDockerd) pids.delete(startedDockerd);
  const demoSh = (await exists(paths.demoSh)) && (await readFile(paths.demoSh, 'utf8')).includes(`CIAO_CLUSTER='${name}'`);
  return {
    daemons, pids, containers, namespaces: await clusterNamespaces(name),
    ourDockerd: otherClusters.length ? undefined : startedDockerd,
    keptDockerd: otherClusters.length && startedDockerd ? otherClusters : undefined,
    stateDir: await exists(paths.stateDir), build: await exists(buildDir(name)), demoSh,
  };
}

/** Deleting a namespace takes its links (bridges, veths, taps, VXLANs) and iptables rules with it.
 *  All at once: each is a few `ip` runs, and a veth between two of them goes with whichever is first. */
export async function removeNamespaces(found: Inventory): Promise<void> {
  await Promise.all(found.namespaces.map((ns) => deleteNamespace(ns)));
}

/** Stops the Docker engine a setup started, when no other cluster uses it. */
export async function releaseDockerd(found: Inventory): Promise<void> {
  if (!found.ourDockerd) return;
  await stopDockerd(found.ourDockerd);
  await rm(dirname(SHARED_DOCKERD_PIDFILE), { recursive: true, force: true });
}

export const stopAll = async (pids: Iterable<number>) => {
  await Promise.all([...pids].map((pid) => stopProcess(pid)));
};

/** The host snapshot of the cluster's first setup, read before anything of the state dir goes. */
export const hostBefore = (paths: Paths): Promise<HostState | undefined> => readHostState(paths.hostBefore).catch(() => undefined);

/** What of the host is not as before setup, for this cluster; `keep` says what of it may stay. */
export async function hostProblems(name: string, paths: Paths, before: HostState | undefined, keep: { state: boolean }): Promise<string[]> {
  const left = await inventory(name, paths);
  const problems = [
    ...[...left.daemons, ...left.pids].map(([pid, what]) => `process ${pid} (${what})`),
    // A stopped cluster keeps its containers, stopped, as it keeps its state dir.
    ...left.containers.filter((c) => !keep.state || c.running).map((c) => `container ${c.name}${c.running ? ' (running)' : ''}`),
    ...left.namespaces.map((ns) => `network namespace ${ns}`),
    ...(!keep.state && left.stateDir ? [`state dir ${paths.stateDir}`] : []),
    ...(!keep.state && left.build ? [`daemon bundles ${buildDir(name)}`] : []),
    ...(!keep.state && left.demoSh ? [paths.demoSh] : []),
    ...(await clusterLeftovers(name)).filter((l) => !(keep.state && l.startsWith('container '))),
  ];
  if (before) {
    const kept = new Set(left.containers.map((c) => c.id.slice(0, 12)));
    const diff = diffHostState(before, await snapshotHost({ cluster: name, docker: true }), { cluster: name });
    problems.push(...diff.filter((d) => !(keep.state && /^container left: /.test(d) && kept.has(d.split(' ')[2]))));
  }
  return [...new Set(problems)];
}
