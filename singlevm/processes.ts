// The cluster's daemons as processes: started detached (shared/detached.ts) with a pid file and a
// log each, and found again by pid file or by the `--cluster NAME` in their command line (after a crash).
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join, resolve } from 'node:path';
import { isAlive } from '../shared/is-alive.ts';
import { readPidFile, startDetached, stopProcess } from '../shared/detached.ts';
import { mentionsCluster } from '../network/namespaces.ts';
import { waitFor } from '../shared/wait-for.ts';
import { keeperPidFile } from './pid-files.ts';

export { isAlive, stopProcess };
export { keeperPidFile, pidFiles } from './pid-files.ts';

export const REPO_ROOT = resolve(import.meta.dirname, '..');

export interface Daemon {
  name: string;
  /** The bundled entry file (singlevm/build-daemons.ts). */
  entry: string;
  args: string[];
  /** How long it may take to say it is ready (default 30 s): a launcher of thousands of simulated nodes takes longer. */
  readyTimeoutMs?: number;
  /** Node flags and environment of this daemon (the control plane's memory settings, docs/scale.md). */
  nodeArgs?: string[];
  env?: Record<string, string>;
  /** Run under singlevm/keeper.sh, which holds its listening socket (bound here, at this address)
   *  and starts it again when it fails (the controller: docs/lifecycle.md, "The controller's
   *  keeper"). The daemon gets the socket as `--listen-fd 4`; the keeper's pid file is
   *  `<name>-keeper.pid`, and it writes the daemon's, `<name>.pid`, at each start. */
  keep?: { host: string; port: number };
}

const KEEPER = join(REPO_ROOT, 'singlevm', 'keeper.sh');

export async function startDaemon(d: Daemon, cluster: string, dirs: { logs: string; pids: string }): Promise<number> {
  // CIAO_DAEMON_NODE_ARGS adds node flags to every daemon (e.g. --cpu-prof for profiling).
  const nodeArgs = (process.env.CIAO_DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const pidFile = join(dirs.pids, `${d.name}.pid`);
  const common = {
    name: d.name, log: join(dirs.logs, `${d.name}.out`), cwd: REPO_ROOT, env: { ...d.env, ...process.env, CIAO_CLUSTER: cluster },
    // Each daemon says when it listens (a launcher: when its nodes joined): shared/ready-notify.ts.
    notifies: true, readyTimeoutMs: d.readyTimeoutMs ?? 30_000,
  };
  const daemon = [...(d.nodeArgs ?? []), ...nodeArgs, d.entry, ...d.args];
  if (!d.keep) return (await startDetached({ ...common, command: process.execPath, args: [...daemon, '--cluster', cluster], pidFile })).pid;
  const socket = await listeningSocket(d.name, d.keep);
  // Spawned before the first await: the socket is the keeper's before this process could accept on it.
  const started = startDetached({
    ...common, command: 'sh', args: [KEEPER, d.name, pidFile, '--', process.execPath, ...daemon, '--listen-fd', '4', '--cluster', cluster],
    pidFile: keeperPidFile(pidFile), sockets: [socket], killGroup: true,
  });
  socket.close();
  await started;
  const pid = await readPidFile(pidFile);
  if (!pid) throw new Error(`${d.name} said it was ready, but its pid file ${pidFile} names no process: see ${common.log}`);
  return pid;
}

/** A socket listening at `at`, for a kept daemon (a port in use is said plainly). */
function listeningSocket(name: string, at: { host: string; port: number }): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err) => reject(new Error(`cannot listen on ${at.host}:${at.port} for the ${name}: ${err.message}`)));
    server.listen({ host: at.host, port: at.port }, () => resolve(server));
  });
}

/** Processes of a cluster found by name, even without pid files (after a crash): command lines
 *  that say `--cluster NAME` (daemons), name a path in its state dir (QEMU, dnsmasq, dockerd) or one
 *  of its namespaces or containers (`ciao-NAME-…`). This process and its ancestors are skipped: the
 *  CLI that asks may say `--cluster NAME` too. */
export async function clusterProcesses(cluster: string, stateDir?: string): Promise<{ pid: number; cmdline: string }[]> {
  const ours = (args: string[]) => args.some((a, i) =>
    (a === '--cluster' && args[i + 1] === cluster) || a === `--cluster=${cluster}`
    || mentionsCluster(cluster, a) || (stateDir !== undefined && (a === stateDir || a.includes(`${stateDir}/`))));
  const skip = await selfAndAncestors();
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || skip.has(pid)) continue;
    // Gone since readdir, or a kernel thread: no command line.
    const args = await readFile(`/proc/${pid}/cmdline`, 'utf8').then((s) => s.split('\0').filter(Boolean), () => [] as string[]);
    if (ours(args)) found.push({ pid, cmdline: args.join(' ').trim() });
  }
  return found.sort((a, b) => a.pid - b.pid);
}

async function selfAndAncestors(): Promise<Set<number>> {
  const pids = new Set<number>();
  for (let pid = process.pid; pid > 1 && !pids.has(pid);) {
    pids.add(pid);
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    // The command name in parentheses may hold spaces: the parent pid is the 2nd field after it.
    pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  }
  return pids;
}

/** SIGKILL of the process `find` names (chaos: test/root/chaos.test.ts, scripts/chaos-bat.ts),
 *  found again until one is there to kill: one that ended between being found and the kill (a VM
 *  deleted meanwhile) is replaced by the next found. Returns the pid killed. */
export async function killFound(what: string, find: () => Promise<number | undefined>, timeoutMs = 60_000): Promise<number> {
  return waitFor(`a ${what} to kill`, async () => {
    const pid = await find();
    if (!pid) return undefined;
    try {
      process.kill(pid, 'SIGKILL');
      return pid;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return undefined;
      throw err;
    }
  }, { timeoutMs, intervalMs: 100 });
}
