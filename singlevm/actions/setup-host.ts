// What the setup steps do to the host outside the cluster's state dir: read it (preflight), build,
// start and find the daemons and reach their APIs, and make the real node's parts (SSH key, Docker
// engine, images, accel, network). One small interface on the context, so unit tests swap in a fake
// (test/helpers/fake-setup-host.ts); realSetupHost() hands each operation to the module that does it.
import { mkdir } from 'node:fs/promises';
import Docker from 'dockerode';
import { request, type Agent } from 'undici';
import { run } from '../../shared/run.ts';
import { clusterAgent } from '../../shared/tls-files.ts';
import { ControllerClient, type ClientCredentials } from '../../shared/controller-client.ts';
import { DOCKER_SOCKET, ensureDockerd, SHARED_DOCKERD_PIDFILE } from '../../shared/dockerd.ts';
import { buildVmImage, type VmImage } from '../../images/vm-image.ts';
import { buildContainerImage } from '../../images/container-image.ts';
import { freeDiskMB, missingTools, probeAccel, routeCollisions, type Accel } from '../preflight.ts';
import { snapshotHost, writeHostState } from '../host-state.ts';
import { startDaemon, type Daemon } from '../processes.ts';
import { readPidFile } from '../../shared/pid-file.ts';
import { buildDaemons, type DaemonName } from '../build-daemons.ts';
import { ensureClusterNetwork, type ClusterNetwork, type NodeLeg } from '../cluster-network.ts';
import { ensureEgress, type EgressSettings } from '../../network/egress.ts';
import { VmSnapshots } from '../../launcher/vm-snapshot.ts';

/** What setup needs of the controller's API: its admin's calls, and the admin's project. */
export type AdminClient = Pick<ControllerClient, 'call' | 'tenantId'>;

export interface SetupHost {
  // What preflight reads of the host.
  isRoot(): boolean;
  /** Which of `tools` are not executables on PATH. */
  missingTools(tools: string[]): Promise<string[]>;
  /** A sentence for each of `cidrs` that overlaps a route or address of the host. */
  routeCollisions(cidrs: string[]): Promise<string[]>;
  freeDiskMB(dir: string): Promise<number>;
  /** Writes the host as it is now to `file`: cleanup proves the host is back to it. */
  snapshotHost(cluster: string, file: string): Promise<void>;

  // The daemons: bundled (kept by the hash of their sources), started detached with a pid file,
  // found running by it, reached over TLS.
  buildDaemons(): Promise<Record<DaemonName, string>>;
  /** The pid the pid file names, if that process runs. */
  runningPid(pidFile: string): Promise<number | undefined>;
  /** Writes `<dirs.pids>/<name>.pid`; the pid. */
  startDaemon(daemon: Daemon, cluster: string, dirs: { logs: string; pids: string }): Promise<number>;
  /** Whether `url` answers 200 to a client that trusts only the cluster's CA. */
  answers(url: string, caFile: string): Promise<boolean>;
  adminClient(urls: { identity: string; controller: string }, creds: ClientCredentials, caFile: string): AdminClient;

  // The real node.
  sshKeygen(file: string, comment: string): Promise<void>;
  /** The Docker engine answers: the one there is, or one started (and shared by every cluster). */
  ensureDockerd(logFile: string): Promise<void>;
  buildVmImage(cacheDir: string, progress: (note: string) => void): Promise<VmImage>;
  /** The container image's name. */
  buildContainerImage(cacheDir: string): Promise<string>;
  probeAccel(probe: { kernel: string; force: 'auto' | Accel; cacheFile: string }): Promise<{ accel: Accel; why: string }>;
  /** The cluster network with `nodes` node namespaces and legs. */
  ensureClusterNetwork(cluster: string, dir: string, nodes: number | NodeLeg[]): Promise<ClusterNetwork>;
  /** The cluster's way out (docs/egress.md): slirp4netns on the cluster namespace, and its rules. */
  ensureEgress(clusterNs: string, dir: string, egress: EgressSettings): Promise<void>;
  /** The VM snapshot templates of these shapes, made one at a time unless they are there
   *  (launcher/vm-snapshot.ts, kept in `dir`; their QEMU runs from `runDir`); why each one not made was not. */
  makeVmTemplates(t: VmTemplatesRequest): Promise<string[]>;
}

export interface VmTemplatesRequest {
  dir: string;
  runDir: string;
  kernel: string;
  initrd: string;
  accel: Accel;
  shapes: { vcpus: number; memMB: number; diskMB: number }[];
}

async function makeVmTemplates(t: VmTemplatesRequest): Promise<string[]> {
  await mkdir(t.runDir, { recursive: true });
  const failures: string[] = [];
  const snapshots = new VmSnapshots({ dir: t.dir, runDir: t.runDir, log: (_msg, fields) => { if (fields?.error) failures.push(String(fields.error)); } });
  // One at a time: better-sqlite3's compile has the other core.
  for (const shape of t.shapes) await snapshots.prepare({ kernel: t.kernel, initrd: t.initrd, accel: t.accel, ...shape });
  return failures;
}

/** This machine. */
export function realSetupHost(): SetupHost {
  // One client agent per CA: the waits for the APIs and the admin client share its connections.
  const agents = new Map<string, Agent>();
  const agent = (caFile: string) => agents.get(caFile) ?? agents.set(caFile, clusterAgent(caFile)).get(caFile)!;
  return {
    isRoot: () => process.getuid?.() === 0,
    missingTools,
    routeCollisions,
    freeDiskMB,
    snapshotHost: async (cluster, file) => writeHostState(file, await snapshotHost({ cluster, docker: true })),
    buildDaemons,
    runningPid: readPidFile,
    startDaemon,
    answers: async (url, caFile) => (await request(url, { dispatcher: agent(caFile) })).statusCode === 200,
    adminClient: (urls, creds, caFile) => new ControllerClient(urls.controller, urls.identity, creds, agent(caFile)),
    sshKeygen: async (file, comment) => {
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
    },
    ensureDockerd: async (logFile) => {
      await ensureDockerd(logFile, SHARED_DOCKERD_PIDFILE);
    },
    buildVmImage,
    buildContainerImage: (cacheDir) => buildContainerImage(new Docker({ socketPath: DOCKER_SOCKET }), cacheDir),
    probeAccel,
    ensureClusterNetwork,
    ensureEgress,
    makeVmTemplates,
  };
}
