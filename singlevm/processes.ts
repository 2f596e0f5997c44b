// The cluster's daemons as processes: started detached with a pid file and a log each, and found
// again by pid file or by the `--cluster NAME` in their command line (after a crash).
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import pRetry from 'p-retry';
import { isAlive } from '../shared/is-alive.ts';

export { isAlive };

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

/** Processes whose command line says `--cluster NAME`: what cleanup finds even without pid files. */
export async function clusterProcesses(cluster: string): Promise<{ pid: number; cmdline: string }[]> {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const args: string[] = await readFile(`/proc/${pid}/cmdline`, 'utf8').then((s) => s.split('\0'), () => []);
    const i = args.indexOf('--cluster');
    if (i >= 0 && args[i + 1] === cluster) found.push({ pid, cmdline: args.join(' ').trim() });
  }
  return found;
}

export async function pidFiles(pidsDir: string): Promise<{ name: string; pid: number }[]> {
  const files = await readdir(pidsDir).catch(() => [] as string[]);
  const out = [];
  for (const f of files.filter((x) => x.endsWith('.pid'))) {
    const pid = Number((await readFile(join(pidsDir, f), 'utf8')).trim());
    if (Number.isInteger(pid) && pid > 1) out.push({ name: f.replace(/\.pid$/, ''), pid });
  }
  return out;
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
