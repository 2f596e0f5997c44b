// The cluster's daemons as processes: started detached with a pid file and a log each, and found
// again by pid file or by the `--cluster NAME` in their command line (after a crash).
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import pRetry from 'p-retry';
import { isAlive } from '../shared/is-alive.ts';
import { mentionsCluster } from '../network/namespaces.ts';

export { isAlive };
export { pidFiles } from './pid-files.ts';

export const REPO_ROOT = resolve(import.meta.dirname, '..');

export interface Daemon {
  name: string;
  /** The bundled entry file (singlevm/build-daemons.ts). */
  entry: string;
  args: string[];
}

export async function startDaemon(d: Daemon, cluster: string, dirs: { logs: string; pids: string }): Promise<number> {
  const out = openSync(join(dirs.logs, `${d.name}.out`), 'a');
  // CIAO_DAEMON_NODE_ARGS adds node flags to every daemon (e.g. --cpu-prof for profiling).
  const nodeArgs = (process.env.CIAO_DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, d.entry, ...d.args, '--cluster', cluster], {
    cwd: REPO_ROOT, detached: true, stdio: ['ignore', out, out], env: { ...process.env, CIAO_CLUSTER: cluster },
  });
  closeSync(out);
  child.unref();
  if (!child.pid) throw new Error(`could not start ${d.name}`);
  await writeFile(join(dirs.pids, `${d.name}.pid`), `${child.pid}\n`);
  return child.pid;
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

/** SIGTERM, wait up to `graceMs` for it to go, then SIGKILL. */
export async function stopProcess(pid: number, graceMs = 2000): Promise<void> {
  if (!isAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  try {
    await pRetry(() => {
      if (isAlive(pid)) throw new Error('still running');
    }, { retries: Math.ceil(graceMs / 50), minTimeout: 50, maxTimeout: 50, factor: 1 });
  } catch {
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
}
