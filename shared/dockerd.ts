// The Docker engine: used when one answers, else started here with everything that would touch the
// host's network switched off (no docker0 bridge, no iptables rules); stopped only if we started it.
// Clusters side by side share it: its pid file names no cluster (a cluster's cleanup stops it only
// when no other cluster is left to use it).
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import Docker from 'dockerode';
import { startDetached, stopProcess } from './detached.ts';

export const DOCKER_SOCKET = '/var/run/docker.sock';

/** Where the dockerd that a cluster's setup started keeps its pid: shared by every cluster, and in
 *  /run, so a reboot (which ends dockerd) ends it too. */
export const SHARED_DOCKERD_PIDFILE = '/run/ciao/dockerd.pid';

/** Flags that keep dockerd off the host's network and firewall. Containers run with --network none. */
export const DOCKERD_FLAGS = ['--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-masq=false', `--host=unix://${DOCKER_SOCKET}`];

export interface DockerEngine {
  docker: Docker;
  /** True when this process started dockerd. */
  started: boolean;
  stop(): Promise<void>;
}

const answers = async (docker: Docker) => docker.ping().then(() => true, () => false);

/** `pidFile`: where the dockerd this starts writes its pid (a cluster's cleanup stops it from there). */
export async function ensureDockerd(logFile: string, pidFile?: string): Promise<DockerEngine> {
  const docker = new Docker({ socketPath: DOCKER_SOCKET });
  if (await answers(docker)) return { docker, started: false, stop: async () => {} };
  if (pidFile) await mkdir(dirname(pidFile), { recursive: true });
  const { pid } = await startDetached({
    name: `dockerd (answering on ${DOCKER_SOCKET})`, command: 'dockerd', args: [...DOCKERD_FLAGS, ...(pidFile ? [`--pidfile=${pidFile}`] : [])],
    log: logFile, pidFile, pidFileBy: 'process', ready: () => answers(docker), readyTimeoutMs: 30_000, pollMs: 200,
  });
  return { docker, started: true, stop: () => stopProcess(pid, 20_000) };
}
