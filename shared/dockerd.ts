// The Docker engine: used when one answers, else started here with everything that would touch the
// host's network switched off (no docker0 bridge, no iptables rules); stopped only if we started it.
// Clusters side by side share it: its pid file names no cluster (a cluster's cleanup stops it only
// when no other cluster is left to use it).
import { readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import Docker from 'dockerode';
import { startDetached, stopProcess } from './detached.ts';
import { isAlive } from './is-alive.ts';
import { readPidFile } from './pid-file.ts';
import { waitFor } from './wait-for.ts';

export const DOCKER_SOCKET = '/var/run/docker.sock';

/** Where the dockerd that a cluster's setup started keeps its pid: shared by every cluster, and in
 *  /run, so a reboot (which ends dockerd) ends it too. */
export const SHARED_DOCKERD_PIDFILE = '/run/ciao/dockerd.pid';

/** Flags that keep dockerd off the host's network and firewall. Containers run with --network none.
 *  --ip-forward=false: else dockerd turns on net.ipv4.ip_forward in the namespace it runs in — the
 *  host's, on a fresh machine where it is off (docs/cold-start.md) — even with no bridge. */
export const DOCKERD_FLAGS = ['--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-masq=false', '--ip-forward=false', `--host=unix://${DOCKER_SOCKET}`];

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
    log: logFile, pidFile, pidFileBy: 'process', ready: () => answers(docker), readyTimeoutMs: 30_000, pollMs: 10,
  });
  return { docker, started: true, stop: () => stopProcess(pid, 20_000) };
}

/** Where a dockerd started with its default paths keeps the pid of the containerd it runs. */
export const MANAGED_CONTAINERD_PIDFILE = '/var/run/docker/containerd/containerd.pid';

const parentOf = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
};

/** Stops a dockerd that setup started, with the containerd it runs. dockerd 20.10 (Debian 12's)
 *  ends its own shutdown within milliseconds, then sends its containerd SIGTERM, finds it alive the
 *  instant after, and sleeps a whole second before it looks again (moby's libcontainerd
 *  supervisor) — though containerd is gone 2–30 ms after the signal. All dockerd does after that
 *  sleep is remove its containerd's pid file and exit: so once that containerd is gone, dockerd is
 *  killed and the file removed here. A dockerd that ends by itself first is just waited for. */
export async function stopDockerd(pid: number, graceMs = 20_000, containerdPidFile = MANAGED_CONTAINERD_PIDFILE): Promise<void> {
  const containerd = await readPidFile(containerdPidFile);
  const ours = containerd !== undefined && parentOf(containerd) === pid;
  if (!isAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const seen = await waitFor('dockerd to end, or the containerd it runs', () => {
    if (!isAlive(pid)) return 'ended';
    return ours && !isAlive(containerd) && 'containerd gone';
  }, { timeoutMs: graceMs, intervalMs: 10 }).catch(() => 'late');
  if (seen === 'ended') return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // it ended meanwhile
  }
  await waitFor(`dockerd ${pid} to end after SIGKILL`, () => !isAlive(pid), { timeoutMs: 5000, intervalMs: 10 });
  if (seen === 'containerd gone') await rm(containerdPidFile, { force: true });
}
