// stop and cleanup as flows (singlevm/flow.ts) over what teardown.ts found of the cluster: stop
// keeps the state (containers stopped, not removed), cleanup removes it; both end with the host
// proof. Each step works from the inventory taken before the first, so a step run again (a second
// stop or cleanup) finds less to do and does only that.
import { rm } from 'node:fs/promises';
import type { Step } from './flow.ts';
import type { clusterPaths } from './cluster-files.ts';
import type { HostState } from './host-state.ts';
import { buildDir } from './build-daemons.ts';
import { docker, hostProblems, releaseDockerd, removeNamespaces, stopAll, type Inventory } from './teardown.ts';

export interface TeardownContext {
  name: string;
  paths: ReturnType<typeof clusterPaths>;
  /** Everything of the cluster on the host, taken before the first step. */
  found: Inventory;
  /** The host as the cluster's first setup found it (read before the state dir goes). */
  before?: HostState;
}

type TeardownStep = Step<TeardownContext>;
const statusOf = (err: unknown) => (err as { statusCode?: number }).statusCode ?? 0;

const removeContainers: TeardownStep = {
  name: ({ found }) => `remove ${found.containers.length} container(s)`,
  async execute({ found }) {
    await Promise.all(found.containers.map((c) => docker.getContainer(c.id).remove({ force: true }).catch((err) => {
      if (statusOf(err) !== 404) throw err;
    })));
  },
};

const stopContainers: TeardownStep = {
  name: ({ found }) => `stop ${found.containers.filter((c) => c.running).length} container(s), kept`,
  async execute({ found }) {
    await Promise.all(found.containers.filter((c) => c.running).map((c) => docker.getContainer(c.id).stop({ t: 5 }).catch((err) => {
      if (![304, 404].includes(statusOf(err))) throw err;
    })));
  },
};

const stopDaemons: TeardownStep = {
  name: ({ found }) => `stop ${found.daemons.size} daemon(s)`,
  async execute({ found }) {
    await stopAll(found.daemons.keys());
  },
};

const stopOthers: TeardownStep = {
  name: ({ found }) => `stop ${found.pids.size} VM and network process(es)`,
  async execute({ found }) {
    await stopAll(found.pids.keys());
  },
};

const stopEveryProcess: TeardownStep = {
  name: ({ found }) => `stop ${found.daemons.size + found.pids.size} process(es)`,
  async execute({ found }) {
    await stopAll([...found.daemons.keys(), ...found.pids.keys()]);
  },
};

const namespaces: TeardownStep = {
  name: ({ found }) => `remove ${found.namespaces.length} network namespace(s)`,
  execute: ({ found }) => removeNamespaces(found),
};

const dockerEngine: TeardownStep = {
  name: ({ found }) => (found.ourDockerd ? 'stop the Docker engine setup started' : 'keep the Docker engine setup started'),
  when: ({ found }) => !!(found.ourDockerd || found.keptDockerd),
  async execute({ found }) {
    await releaseDockerd(found);
    if (found.keptDockerd) return `cluster ${found.keptDockerd.join(', ')} still uses it`;
  },
};

const removeState: TeardownStep = {
  name: 'remove state',
  async execute({ name, paths, found }) {
    await rm(paths.stateDir, { recursive: true, force: true });
    await rm(buildDir(name), { recursive: true, force: true });
    if (found.demoSh) await rm(paths.demoSh, { force: true });
  },
};

const hostProof = (keepState: boolean): TeardownStep => ({
  name: ({ before }) => (before ? 'check the host is as before setup' : 'check nothing of the cluster is left'),
  async execute({ name, paths, before }) {
    const problems = await hostProblems(name, paths, before, { state: keepState });
    if (problems.length) throw new Error(`the host is not as before:\n  ${problems.join('\n  ')}`);
  },
});

/** Daemons first (so no launcher reports the VMs it loses), then QEMU, dnsmasq and the rest. */
export const STOP_FLOW = [stopDaemons, stopOthers, stopContainers, namespaces, dockerEngine, hostProof(true)];
/** Containers first, while the Docker engine (maybe the one setup started) still answers. */
export const CLEANUP_FLOW = [removeContainers, stopEveryProcess, namespaces, dockerEngine, removeState, hostProof(false)];
