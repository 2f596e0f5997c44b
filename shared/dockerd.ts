// The Docker engine: used when one answers, else started here with everything that would touch the
// host's network switched off (no docker0 bridge, no iptables rules); stopped only if we started it.
// Clusters side by side share it: its pid file names no cluster (a cluster's cleanup stops it only
// when no other cluster is left to use it).
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import Docker from 'dockerode';
import { waitFor } from './wait-for.ts';

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
  const log = openSync(logFile, 'a');
  const child = spawn('dockerd', [...DOCKERD_FLAGS, ...(pidFile ? [`--pidfile=${pidFile}`] : [])], { stdio: ['ignore', log, log], detached: true });
  closeSync(log);
  child.unref();
  await waitFor(`dockerd to answer on ${DOCKER_SOCKET} (log: ${logFile})`, () => answers(docker), { timeoutMs: 30_000, intervalMs: 200 });
  return {
    docker,
    started: true,
    stop: async () => {
      child.kill('SIGTERM');
      await waitFor('dockerd to stop', () => child.exitCode !== null || child.signalCode !== null, { timeoutMs: 20_000 });
    },
  };
}
